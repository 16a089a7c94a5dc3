"""The CI latency record's yardstick: a fixed compiled loop of sorts, the same work each run."""

from __future__ import annotations

import numpy as np

from benchmarks.run_routing import _sorting_loop


def test_the_compiled_loop_does_the_interpreters_work() -> None:
    a, b = np.empty(50, dtype=np.int64), np.empty(50, dtype=np.int64)
    assert _sorting_loop(a, 3) == _sorting_loop.py_func(b, 3) == 11073371
    assert a.tolist() == b.tolist()


def test_each_sort_leaves_the_whole_array_in_order() -> None:
    a = np.empty(101, dtype=np.int64)
    _sorting_loop(a, 1)
    x, values = 7, []
    for _ in range(101):
        x = (x * 1103515245 + 12345) % 2147483648
        values.append(x >> 8)
    assert a.tolist() == sorted(values)
