"""The generation window: days, epoch seconds, weekly and yearly rhythm, the mid-window promotion.

All times are integer seconds since 1970-01-01 UTC; nothing reads the clock.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

DAY = 86_400
YEAR_DAYS = 365
# Monday .. Sunday: more shopping at the weekend.
_WEEKDAY_FACTOR = np.array([0.88, 0.90, 0.93, 0.97, 1.08, 1.25, 1.20])
PROMO_FACTOR = 1.6
PROMO_MAX_DAYS = 14
# Yearly rhythm: activity peaks in mid December and is lowest in mid June (+/- this share).
SEASON_AMPLITUDE = 0.25
_SEASON_PEAK_DOY = 350


@dataclass(frozen=True)
class Window:
    """`days` days of activity from `start` (a date, midnight UTC)."""

    start: dt.date
    days: int

    @property
    def start_day(self) -> int:
        return (self.start - dt.date(1970, 1, 1)).days

    @property
    def start_ts(self) -> int:
        return self.start_day * DAY

    @property
    def end_ts(self) -> int:
        return self.start_ts + self.days * DAY

    def label(self, day: int) -> str:
        """`YYYY-MM-DD` of window day `day`."""
        return (self.start + dt.timedelta(days=day)).isoformat()

    def file_day(self, ts: np.ndarray) -> np.ndarray:
        """Window day whose file carries a row written at `ts`; the backlog goes to day 0."""
        return np.clip((np.asarray(ts) - self.start_ts) // DAY, 0, self.days - 1).astype(np.int64)

    @property
    def promo_days(self) -> np.ndarray:
        """The mid-window promotion: about a tenth of the window around its middle, at most two weeks."""
        first = int(self.days * 0.45)
        last = min(max(first + 1, int(np.ceil(self.days * 0.55))), first + PROMO_MAX_DAYS)
        return np.arange(first, min(last, self.days))

    def is_promo(self, day: np.ndarray) -> np.ndarray:
        promo = self.promo_days
        return (np.asarray(day) >= promo[0]) & (np.asarray(day) <= promo[-1])

    def day_weights(self) -> np.ndarray:
        """Relative shopping activity per window day: weekly rhythm, yearly season, promotion."""
        weekday = (self.start.weekday() + np.arange(self.days)) % 7
        doy = (self.start.timetuple().tm_yday + np.arange(self.days)) % 365.25
        season = 1.0 + SEASON_AMPLITUDE * np.cos(2 * np.pi * (doy - _SEASON_PEAK_DOY) / 365.25)
        w = _WEEKDAY_FACTOR[weekday] * season
        w[self.promo_days] *= PROMO_FACTOR
        return w
