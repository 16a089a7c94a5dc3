"""The CI latency record's yardstick: a fixed compiled scalar loop, the same work each run."""

from __future__ import annotations

from benchmarks.run_routing import _scalar_loop


def test_the_compiled_loop_does_the_interpreters_work() -> None:
    assert _scalar_loop(1000) == _scalar_loop.py_func(1000) == 16447
