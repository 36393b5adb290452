"""Segment assignment arithmetic on the driver: nearest centroid without an n x k x d array."""
from __future__ import annotations

import numpy as np

from jobs.customers import segments
from jobs.customers.segments import SegmentModel


def test_the_nearest_centre_is_the_brute_force_nearest():
    rng = np.random.default_rng(3)
    x, centres = rng.normal(size=(2000, 12)), rng.normal(size=(7, 12))
    brute = ((x[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    assert (segments.nearest_centre(x, centres) == brute).all()
    # A point on a centre is assigned to it.
    assert list(segments.nearest_centre(centres[[4, 0]], centres)) == [4, 0]


def test_centroids_carried_into_another_space_keep_their_raw_values():
    """Another mean and spread, columns reordered, one added (at its mean) and one dropped, one without spread."""
    old = SegmentModel(["a", "b", "c"], mean=[1.0, 10.0, 5.0], std=[2.0, 5.0, 1.0],
                       centroids=np.array([[0.5, -1.0, 2.0], [-1.0, 1.0, 0.0]]), ids=[0, 1], names=["x", "y"],
                       categories=[])
    new = SegmentModel(["c", "a", "d", "e"], mean=[4.0, 0.0, 7.0, 3.0], std=[2.0, 4.0, 3.0, 0.0],
                       centroids=np.zeros((0, 4)), ids=[], names=[], categories=[])
    carried = segments._in_space(old.centroids, old.mean, old.std, new, old.columns)
    raw = old.profile()  # the centroids in the features' own units
    assert np.allclose(carried[:, 0], (raw["c"] - 4.0) / 2.0)
    assert np.allclose(carried[:, 1], (raw["a"] - 0.0) / 4.0)
    assert np.allclose(carried[:, 2], 0.0)  # d: the old model never saw it
    assert np.allclose(carried[:, 3], 0.0)  # e: no spread today
