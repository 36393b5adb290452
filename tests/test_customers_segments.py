"""Segment assignment arithmetic on the driver: nearest centroid without an n x k x d array."""
from __future__ import annotations

import numpy as np

from jobs.customers import segments


def test_the_nearest_centre_is_the_brute_force_nearest():
    rng = np.random.default_rng(3)
    x, centres = rng.normal(size=(2000, 12)), rng.normal(size=(7, 12))
    brute = ((x[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    assert (segments.nearest_centre(x, centres) == brute).all()
    # A point on a centre is assigned to it.
    assert list(segments.nearest_centre(centres[[4, 0]], centres)) == [4, 0]
