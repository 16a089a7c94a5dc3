"""The solvers' own random state: the draws equal those of numba's ``np.random`` for the same
seed (its per-thread MT19937, the slow-but-trusted twin), and two solvers in one thread each
keep their stream, so interleaving their searches changes neither plan."""

from __future__ import annotations

from pathlib import Path

import numba as nb
import numpy as np
import pytest

from routing import _kernels_rng as rng_k
from routing.io import read_vrptw
from routing.solver import DispatchSolver, MaxIterations

SOLOMON = Path(__file__).parents[1] / "data" / "solomon"
# (low, high) of the integer draws: one value, small ranges, and more than 32 bits
RANGES = np.array([[0, 1], [0, 2], [3, 10], [-5, 5], [0, 1000], [7, 7 + 2**33], [0, 2**40]])


@nb.njit
def _numba_draws(seed, n, ranges, deck):
    np.random.seed(seed)
    out = np.empty(4 * n)
    for i in range(n):
        out[4 * i] = np.random.random()
        out[4 * i + 1] = np.random.uniform(1.0, 7.5)
        lo, hi = ranges[i % ranges.shape[0], 0], ranges[i % ranges.shape[0], 1]
        out[4 * i + 2] = np.random.randint(lo, hi)
        out[4 * i + 3] = np.random.randint(hi - lo)
        if i % 50 == 0:
            np.random.shuffle(deck)
    return out


@nb.njit
def _own_draws(state, n, ranges, deck):
    out = np.empty(4 * n)
    for i in range(n):
        out[4 * i] = rng_k.random(state)
        out[4 * i + 1] = rng_k.uniform(state, 1.0, 7.5)
        lo, hi = ranges[i % ranges.shape[0], 0], ranges[i % ranges.shape[0], 1]
        out[4 * i + 2] = rng_k.randint(state, lo, hi)
        out[4 * i + 3] = rng_k.randint(state, 0, hi - lo)
        if i % 50 == 0:
            rng_k.shuffle(state, deck)
    return out


@pytest.mark.parametrize("seed", [0, 1, 12345, 2**32 + 7])
def test_the_draws_are_numbas_for_the_same_seed(seed: int) -> None:
    n = 2000  # several twists of the 624-word state
    deck_a, deck_b = np.arange(40), np.arange(40)
    ours = _own_draws(rng_k.rng_state(seed), n, RANGES, deck_a)
    theirs = _numba_draws(np.int64(seed), n, RANGES, deck_b)
    assert np.array_equal(ours, theirs)
    assert np.array_equal(deck_a, deck_b)


def _searched(solvers: list[DispatchSolver], rounds: int) -> list[dict[str, list[str]]]:
    """Run ``rounds`` short searches on each solver, taking turns; their plans."""
    for _ in range(rounds):
        for s in solvers:
            s.search(MaxIterations(250))
    return [s.plan().routes for s in solvers]


@pytest.mark.parametrize("seeds", [(3, 3), (3, 4)])
def test_two_solvers_in_one_thread_find_the_plans_each_finds_alone(seeds: tuple[int, int]) -> None:
    p = read_vrptw(SOLOMON / "RC201.txt", "solomon")
    alone = [_searched([DispatchSolver(p, seed=seed)], 2)[0] for seed in seeds]
    together = _searched([DispatchSolver(p, seed=seed) for seed in seeds], 2)
    assert together == alone
