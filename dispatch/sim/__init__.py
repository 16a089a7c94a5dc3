"""The simulated field of demo and replay: the storm's ground truth (``world``), the crews'
work and everyone outside the engine (``field``), and the batch run (``run``)."""
