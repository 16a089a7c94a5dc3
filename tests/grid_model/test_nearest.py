"""The bucket index finds the k-d tree's nearest point, and nothing beyond the reach."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from grid_model.nearest import NearestWithin

REACH = 150.0


def _kd_nearest(px: npt.NDArray[np.float64], py: npt.NDArray[np.float64], qx: npt.NDArray[np.float64],
                qy: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """What the resolver did before: the k-d tree's nearest, dropped beyond the reach."""
    dist, k = cKDTree(np.column_stack([px, py])).query(np.column_stack([qx, qy]))
    return np.where(dist > REACH, -1, k)


def _ours(index: NearestWithin, qx: npt.NDArray[np.float64],
          qy: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    return np.asarray([index.nearest(x, y) for x, y in zip(qx.tolist(), qy.tolist(), strict=True)])


def test_random_points_match_the_kd_tree_near_far_and_outside() -> None:
    rng = np.random.default_rng(5)
    # clusters (many points to a bucket) and scattered points, at UTM-sized coordinates
    centres = rng.uniform([700_000, 3_200_000], [720_000, 3_220_000], (20, 2))
    clustered = centres[rng.integers(0, 20, 3000)] + rng.normal(0, 80, (3000, 2))
    scattered = rng.uniform([700_000, 3_200_000], [720_000, 3_220_000], (1000, 2))
    pts = np.concatenate([clustered, scattered])
    index = NearestWithin(pts[:, 0], pts[:, 1], REACH)
    near = pts[rng.integers(0, len(pts), 3000)] + rng.normal(0, 60, (3000, 2))
    far = rng.uniform([695_000, 3_195_000], [725_000, 3_225_000], (5000, 2))  # beyond the points too
    q = np.concatenate([near, far])
    expected = _kd_nearest(pts[:, 0], pts[:, 1], q[:, 0], q[:, 1])
    assert (expected >= 0).sum() > 3000 and (expected < 0).sum() > 1000  # both outcomes are tested
    assert (_ours(index, q[:, 0], q[:, 1]) == expected).all()


def test_points_and_queries_on_bucket_borders() -> None:
    """On a lattice many points lie at exactly equal distances, where either answer is right:
    the point found must be as near as the k-d tree's."""
    rng = np.random.default_rng(6)
    # coordinates on multiples of the reach (bucket borders) and a hair either side of them
    grid = np.arange(-3, 4) * REACH
    offsets = np.array([0.0, 1e-9, -1e-9, 0.5, -0.5, REACH / 2])
    xs = (grid[:, None] + offsets[None, :]).ravel()
    pts = np.column_stack([rng.choice(xs, 400), rng.choice(xs, 400)]) + 650_000.0
    pts = np.unique(pts, axis=0)
    index = NearestWithin(pts[:, 0], pts[:, 1], REACH)
    q = np.column_stack([rng.choice(xs, 4000), rng.choice(xs, 4000)]) + 650_000.0
    q = np.concatenate([q, q + rng.normal(0, 40, q.shape)])
    ours, theirs = _ours(index, q[:, 0], q[:, 1]), _kd_nearest(pts[:, 0], pts[:, 1], q[:, 0], q[:, 1])
    assert ((ours >= 0) == (theirs >= 0)).all()
    found = ours >= 0
    dist = [np.hypot(*(pts[k] - q[found]).T) for k in (ours[found], theirs[found])]
    assert (dist[0] == dist[1]).all()


def test_the_reach_is_inclusive_as_the_resolver_had_it() -> None:
    index = NearestWithin(np.array([1000.0, 5000.0]), np.array([2000.0, 2000.0]), REACH)
    assert index.nearest(1000.0 + REACH, 2000.0) == 0  # exactly at the reach
    assert index.nearest(1000.0 + REACH + 1e-9, 2000.0) == -1
    assert index.nearest(1000.0, 2000.0 - REACH) == 0
    assert index.nearest(3000.0, 2000.0) == -1  # between the two, out of reach of both
    assert index.nearest(4990.0, 1995.0) == 1
    assert index.nearest(float("nan"), 2000.0) == -1 and index.nearest(float("inf"), 0.0) == -1


def test_no_points_finds_nothing() -> None:
    index = NearestWithin(np.empty(0), np.empty(0), REACH)
    assert index.nearest(0.0, 0.0) == -1
