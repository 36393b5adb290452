"""The statistics of a campaign with a holdout: how many customers it needs before launch.

`sample_size` is the classic two-proportion calculation with unequal groups: the
holdout converts at the baseline rate p1, the treated at p2 = p1 + uplift; a
two-sided test at level alpha detects the difference with the given power when

    n_holdout = (z(1 - alpha/2) * sqrt(pbar * (1 - pbar) * (1 + 1/k))
                 + z(power) * sqrt(p1 * (1 - p1) + p2 * (1 - p2) / k))^2 / uplift^2

with k = treated per holdout customer = (1 - holdout_share) / holdout_share and pbar
the pooled rate (p1 + k p2) / (1 + k); n_treated = k n_holdout.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist


@dataclass(frozen=True)
class SampleSize:
    holdout: int
    treated: int

    @property
    def total(self) -> int:
        return self.holdout + self.treated


def sample_size(baseline: float, uplift: float, holdout_share: float, alpha: float = 0.05,
                power: float = 0.8) -> SampleSize:
    """Customers needed in the holdout and the treated group to detect `uplift` (absolute) over `baseline`.

    Raises:
        ValueError: a rate outside (0, 1), a zero uplift or one that leaves (0, 1).
    """
    for name, value in (("baseline", baseline), ("holdout_share", holdout_share), ("alpha", alpha), ("power", power)):
        if not 0 < value < 1:
            raise ValueError(f"{name} must be between 0 and 1, got {value}")
    treated_rate = baseline + uplift
    if uplift == 0 or not 0 < treated_rate < 1:
        raise ValueError(f"uplift must be non-zero and keep baseline + uplift between 0 and 1, got {uplift}")
    k = (1 - holdout_share) / holdout_share
    pooled = (baseline + k * treated_rate) / (1 + k)
    z_alpha, z_power = NormalDist().inv_cdf(1 - alpha / 2), NormalDist().inv_cdf(power)
    spread = (z_alpha * math.sqrt(pooled * (1 - pooled) * (1 + 1 / k))
              + z_power * math.sqrt(baseline * (1 - baseline) + treated_rate * (1 - treated_rate) / k))
    holdout = math.ceil(spread ** 2 / uplift ** 2)
    return SampleSize(holdout=holdout, treated=math.ceil(k * holdout))
