"""Campaign definitions: one YAML file per campaign under `campaigns.dir` (default `conf/campaigns/`).

```yaml
id: winback_high_risk            # letters, digits, _ and -; unique across the folder
channel: email                   # email | sms | web
description: Win back customers likely to churn
rule: "churn_risk_band = 'high' and clv_12m > 200"   # Spark SQL over the audience columns
offer:
  text: 15% off your next order  # the offer, or the fallback when no recommendation fits
  recommendation_category: Grocery   # optional: the customer's best recommended product of it
holdout_share: 0.1               # share kept out as the control group (0 < share < 1)
start: 2026-10-01                # the campaign's first and last day (inclusive)
end: 2026-10-31
frequency_cap: 2                 # optional: reaches a customer only if fewer than this many
                                 # campaigns of higher priority on the channel select them
priority: 10                     # optional (default 100): lower goes first; ties by id
readout:                         # optional: how gold.campaign_results reads the campaign
  attribution_days: 14           # a purchase this many days after assignment is a conversion (default 14)
  baseline_conversion: 0.05      # with minimum_uplift: the effect the campaign is sized for
  minimum_uplift: 0.02           # (absolute); the read-out says when its minimum sample is reached
  alpha: 0.05                    # the test's level (default 0.05)
  power: 0.8                     # (default 0.8)
```

A rule may use the columns of gold.customer_360 and of the day's serving.customer_scores
and serving.customer_segments (`jobs/campaigns/audiences.py`, docs/campaigns.md). This
module checks the shape of each file; the rule is checked against the columns and types
when the audiences stage starts. A bad definition stops the run with one message naming
the file and the key. The audiences stage (jobs/campaigns) and the read-out in the dbt
build (jobs/features) both read the definitions, so they live here.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from jobs.common.errors import C360Error
from jobs.common.stats import SampleSize, sample_size

CHANNELS = ("email", "sms", "web")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_KEYS = {"id", "channel", "description", "rule", "offer", "holdout_share", "start", "end", "frequency_cap",
         "priority", "readout"}
_REQUIRED = ("id", "channel", "rule", "offer", "holdout_share", "start", "end")
_OFFER_KEYS = {"text", "recommendation_category"}
_READOUT_KEYS = {"attribution_days", "baseline_conversion", "minimum_uplift", "alpha", "power"}
ATTRIBUTION_DAYS = 14


class CampaignError(C360Error):
    """A campaign definition that cannot be used: the message names the file and the key."""


@dataclass(frozen=True)
class Campaign:
    id: str
    channel: str
    rule: str
    holdout_share: float
    start: dt.date
    end: dt.date
    source: str  # the file it was declared in
    offer_text: str | None = None
    recommendation_category: str | None = None
    frequency_cap: int | None = None
    priority: int = 100
    description: str = ""
    attribution_days: int = ATTRIBUTION_DAYS
    baseline_conversion: float | None = None
    minimum_uplift: float | None = None
    alpha: float = 0.05
    power: float = 0.8

    def active_on(self, day: dt.date) -> bool:
        return self.start <= day <= self.end

    def minimum_sample(self) -> SampleSize | None:
        """Customers the read-out needs per group for the configured effect; None when none is configured."""
        if self.baseline_conversion is None or self.minimum_uplift is None:
            return None
        return sample_size(self.baseline_conversion, self.minimum_uplift, self.holdout_share, self.alpha, self.power)

    def readout_settings(self) -> dict:
        """What the read-out (dbt model campaign_results, var `campaigns`) needs to know of the campaign."""
        needed = self.minimum_sample()
        return {"id": self.id, "channel": self.channel, "start": self.start.isoformat(), "end": self.end.isoformat(),
                "attribution_days": self.attribution_days, "alpha": self.alpha,
                "min_holdout": needed.holdout if needed else None, "min_treated": needed.treated if needed else None}


def _date(value, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise CampaignError(f"{where}: must be a date (YYYY-MM-DD), got {value!r}") from None


def parse(data, source: str) -> Campaign:
    """One campaign from the mapping `data` read from the file `source`."""
    if not isinstance(data, dict):
        raise CampaignError(f"{source}: a campaign is a mapping of keys (id, channel, rule, ...), "
                            f"got {type(data).__name__}")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise CampaignError(f"{source}: unknown key '{unknown[0]}'; known keys: {', '.join(sorted(_KEYS))}")
    for key in _REQUIRED:
        if data.get(key) in (None, ""):
            raise CampaignError(f"{source}: missing key '{key}'")
    cid = str(data["id"])
    if not _ID.match(cid):
        raise CampaignError(f"{source}: key 'id': {cid!r} is not an id (letters, digits, _ and -, at most 64)")
    if data["channel"] not in CHANNELS:
        raise CampaignError(f"{source}: key 'channel': {data['channel']!r} is not one of {', '.join(CHANNELS)}")
    if not isinstance(data["rule"], str):
        raise CampaignError(f"{source}: key 'rule': a Spark SQL condition (text), got {data['rule']!r}")
    offer = data["offer"]
    if isinstance(offer, str):
        offer = {"text": offer}
    if not isinstance(offer, dict) or set(offer) - _OFFER_KEYS or not any(offer.get(k) for k in _OFFER_KEYS):
        raise CampaignError(f"{source}: key 'offer': give 'text' and/or 'recommendation_category', got {offer!r}")
    share = data["holdout_share"]
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share < 1:
        raise CampaignError(f"{source}: key 'holdout_share': a share between 0 and 1 (e.g. 0.1), got {share!r}")
    start, end = _date(data["start"], f"{source}: key 'start'"), _date(data["end"], f"{source}: key 'end'")
    if end < start:
        raise CampaignError(f"{source}: key 'end': {end} is before start {start}")
    cap = data.get("frequency_cap")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise CampaignError(f"{source}: key 'frequency_cap': a whole number of campaigns, at least 1, got {cap!r}")
    priority = data.get("priority", 100)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise CampaignError(f"{source}: key 'priority': a whole number, got {priority!r}")
    readout = _readout(data.get("readout") or {}, source, float(share))
    return Campaign(
        id=cid, channel=data["channel"], rule=data["rule"].strip(), holdout_share=float(share), start=start, end=end,
        source=source, offer_text=offer.get("text"), recommendation_category=offer.get("recommendation_category"),
        frequency_cap=cap, priority=priority, description=str(data.get("description") or ""), **readout,
    )


def _readout(data, source: str, holdout_share: float) -> dict:
    """The `readout` block's settings, checked; the sample size they imply must be computable."""
    where = f"{source}: key 'readout"
    if not isinstance(data, dict):
        raise CampaignError(f"{where}': a mapping of {', '.join(sorted(_READOUT_KEYS))}, got {data!r}")
    unknown = sorted(set(data) - _READOUT_KEYS)
    if unknown:
        raise CampaignError(f"{where}.{unknown[0]}': unknown; known: {', '.join(sorted(_READOUT_KEYS))}")
    days = data.get("attribution_days", ATTRIBUTION_DAYS)
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise CampaignError(f"{where}.attribution_days': a whole number of days, at least 1, got {days!r}")
    out = {"attribution_days": days}
    for key in ("baseline_conversion", "minimum_uplift", "alpha", "power"):
        value = data.get(key)
        if value is None:
            continue
        low = -1 if key == "minimum_uplift" else 0  # an offer may be meant to lower a rate
        if isinstance(value, bool) or not isinstance(value, int | float) or not low < value < 1 or value == 0:
            raise CampaignError(f"{where}.{key}': a rate between {low} and 1 (e.g. 0.05), got {value!r}")
        out[key] = float(value)
    if ("baseline_conversion" in out) != ("minimum_uplift" in out):
        raise CampaignError(f"{where}': give both baseline_conversion and minimum_uplift (the effect to size the "
                            f"campaign for), or neither")
    if "baseline_conversion" in out:
        try:
            sample_size(out["baseline_conversion"], out["minimum_uplift"], holdout_share, out.get("alpha", 0.05),
                        out.get("power", 0.8))
        except ValueError as exc:
            raise CampaignError(f"{where}': {exc}") from None
    return out


def load(folder: str | Path) -> tuple[Campaign, ...]:
    """Every campaign declared under `folder` (`*.yaml`, `*.yml`), in priority order; none when it is absent."""
    root = Path(folder)
    if not root.exists():
        return ()
    campaigns: dict[str, Campaign] = {}
    for path in sorted([*root.glob("*.yaml"), *root.glob("*.yml")]):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise CampaignError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
        campaign = parse(data, str(path))
        if campaign.id in campaigns:
            raise CampaignError(f"{path}: key 'id': {campaign.id!r} is already the id of the campaign in "
                                f"{campaigns[campaign.id].source}")
        campaigns[campaign.id] = campaign
    return tuple(sorted(campaigns.values(), key=lambda c: (c.priority, c.id)))
