"""The CI latency record's yardstick: a fixed compiled loop of sorts, the same work each run."""

from __future__ import annotations

from benchmarks.run_routing import _sorting_loop


def test_the_compiled_loop_does_the_interpreters_work() -> None:
    assert _sorting_loop(3, 50) == _sorting_loop.py_func(3, 50)


def test_each_sort_leaves_its_array_in_order() -> None:
    one = _sorting_loop.py_func(1, 101)
    x, values = 7, []
    for _ in range(101):
        x = (x * 1103515245 + 12345) % 2147483648
        values.append(x >> 8)
    assert one == sorted(values)[50]
