"""Travel times and crew routing on plain arrays; knows nothing of grids or HTTP."""
