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
```

A rule may use the columns of gold.customer_360 and of the day's serving.customer_scores
and serving.customer_segments (`audiences.audience_frame`, docs/campaigns.md). This
module checks the shape of each file; the rule is
checked against the columns and types when the stage starts (`audiences.check_rules`).
A bad definition stops the run with one message naming the file and the key.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from jobs.common.errors import C360Error

CHANNELS = ("email", "sms", "web")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_KEYS = {"id", "channel", "description", "rule", "offer", "holdout_share", "start", "end", "frequency_cap",
         "priority"}
_REQUIRED = ("id", "channel", "rule", "offer", "holdout_share", "start", "end")
_OFFER_KEYS = {"text", "recommendation_category"}


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

    def active_on(self, day: dt.date) -> bool:
        return self.start <= day <= self.end


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
    return Campaign(
        id=cid, channel=data["channel"], rule=data["rule"].strip(), holdout_share=float(share), start=start, end=end,
        source=source, offer_text=offer.get("text"), recommendation_category=offer.get("recommendation_category"),
        frequency_cap=cap, priority=priority, description=str(data.get("description") or ""),
    )


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
