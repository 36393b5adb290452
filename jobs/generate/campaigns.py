"""Campaigns with a known effect: the generated shoppers respond to what c360 sends them.

c360 chooses each campaign's audience and splits it into treatment and holdout
(serving.campaign_audiences). `respond` then plays the world after the send:

- the email tool sends each treated customer of an email campaign the campaign's email
  the morning after assignment, and reports opens and clicks (`email_events`, with the
  campaign's id);
- on top of the purchases every person makes anyway (already in the landing files),
  a treated customer places one more online order inside the attribution window with
  probability q = uplift / (1 - p0), p0 being the audience's own conversion rate in the
  window without the campaign. The treated then convert at p0 + q (1 - p0) = p0 + uplift:
  the campaign's true absolute uplift. Holdout customers get nothing.

The rows are appended to the landing files of the days they fall on (the days after
assignment, not yet ingested), exactly as the landing contract declares them, so the
read-out is checked through the whole pipeline. `truth/campaigns/` receives one row per
assigned customer (variant, the conversion they would make anyway, the extra order and
its value) and `truth/campaigns/summary.json` per campaign: the configured uplift, q, the
realised effect on the treated (their conversion with the campaign minus without it) and
the extra revenue per treated customer.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from jobs.common.errors import C360Error
from jobs.common.landing_contract import SOURCES_BY_NAME
from jobs.generate.catalog import Catalog
from jobs.generate.events import SHOP_URL
from jobs.generate.timeline import DAY, Window
from jobs.generate.writer import LandingWriter

SEND_HOUR = 8
# Of the treated who are sent the email: opens and clicks among those who do not respond
# with an order, and among those who do (a responder mostly came through the email).
OPEN_RATE, CLICK_RATE = 0.30, 0.25
RESPONDER_OPEN, RESPONDER_CLICK = 0.9, 0.8


class CampaignResponseError(C360Error):
    """A campaign cannot be played: its effect is impossible or its window leaves the generated days."""


@dataclass(frozen=True)
class Effect:
    """What a campaign does to the treated: its true absolute uplift in conversion in the window."""

    uplift: float
    attribution_days: int


@dataclass(frozen=True)
class CampaignTruth:
    campaign_id: str
    channel: str
    true_uplift: float  # configured: the conversion rate's rise in expectation
    organic_conversion: float  # p0: the audience's conversion in the window without the campaign
    response_probability: float  # q
    holdout: int
    treated: int
    realised_uplift: float  # mean over the treated of (converted with the campaign - without it)
    extra_orders: int
    extra_revenue_per_treated: float  # in the sales currency
    emails_sent: int


def _landed_days(window: Window, days: np.ndarray) -> np.ndarray:
    return (days - window.start_day).astype(np.int64)


def respond(out: Path, assigned: pd.DataFrame, effects: dict[str, Effect], catalog: Catalog, window: Window,
            seed: int) -> dict[str, CampaignTruth]:
    """Append the campaigns' emails and extra orders to `out/landing` and write their truth to `out/truth`.

    Args:
        out: a generated folder (`landing/`, `truth/`), whose days after the assignments are not ingested yet.
        assigned: one row per campaign and assigned customer: campaign_id, channel, customer_key, person_id
            (who the customer is), variant (`treatment` or `holdout`), assigned_at (a date).
        effects: each campaign's true effect; a campaign without one has none (uplift 0, 14-day window).
        catalog: the generated catalog (`jobs.generate.main.world`), for what the extra orders buy.
        window: the generated days.
        seed: the response's random seed.

    Raises:
        CampaignResponseError: an uplift the audience cannot reach, or a window past the generated days.
    """
    truth_dir = out / "truth"
    persons = pd.read_parquet(truth_dir / "persons", columns=["person_id", "email"]).set_index("person_id")
    records = pd.read_parquet(truth_dir / "records")
    accounts = records[records.source == "web_accounts"].drop_duplicates("person_id").set_index("person_id").record_id
    mailboxes = records[records.source == "email_events"].drop_duplicates("person_id").set_index("person_id").record_id
    purchases = pd.read_parquet(truth_dir / "purchases", columns=["person_id", "purchase_date"])
    purchase_days = purchases.assign(day=(pd.to_datetime(purchases.purchase_date) - pd.Timestamp("1970-01-01")).dt.days)

    writer = LandingWriter.reopen(out / "landing", window)
    rng = np.random.default_rng([seed, 900])
    truths, rows = {}, []
    orders, lines, emails = [], [], []
    for n, (campaign_id, audience) in enumerate(sorted(assigned.groupby("campaign_id"), key=lambda g: g[0])):
        effect = effects.get(campaign_id, Effect(0.0, 14))
        audience = audience.sort_values("customer_key").reset_index(drop=True)
        start = (pd.to_datetime(audience.assigned_at) - pd.Timestamp("1970-01-01")).dt.days.to_numpy()
        end = start + effect.attribution_days
        if int(end.max()) >= window.start_day + window.days:
            raise CampaignResponseError(
                f"campaign {campaign_id}: its attribution window ends {dt.date(1970, 1, 1) + dt.timedelta(int(end.max()))}"
                f", after the generated days (to {window.label(window.days - 1)}); generate more days")
        organic = _converts(audience.person_id.to_numpy(), start, end, purchase_days)
        p0 = float(organic.mean()) if len(organic) else 0.0
        q = effect.uplift / (1 - p0) if p0 < 1 else 0.0
        if not 0 <= q <= 1:
            raise CampaignResponseError(f"campaign {campaign_id}: an uplift of {effect.uplift} cannot be reached "
                                        f"from an organic conversion of {p0:.3f} (q = {q:.3f})")
        treated = (audience.variant == "treatment").to_numpy()
        extra = treated & (rng.random(len(audience)) < q)
        extra_day = start + 1 + rng.integers(0, effect.attribution_days, size=len(audience))
        sku_pick = rng.random(len(audience))
        idx = np.flatnonzero(extra)
        order_rows, line_rows, value = _orders(n, audience.iloc[idx], extra_day[idx], sku_pick[idx], accounts,
                                               mailboxes, persons, catalog, window, rng)
        orders.append(order_rows)
        lines.append(line_rows)
        sent = 0
        if (audience.channel == "email").all():
            mail = _emails(campaign_id, audience, treated, extra, start, extra_day, mailboxes, window, rng)
            emails.append(mail)
            sent = int((mail["event_type"] == "send").sum())
        converted = organic | extra
        rows.append(pd.DataFrame({
            "campaign_id": campaign_id, "customer_key": audience.customer_key, "person_id": audience.person_id,
            "variant": audience.variant, "assigned_at": audience.assigned_at, "organic_conversion": organic,
            "extra_order": extra, "extra_day": np.where(extra, extra_day, -1), "converted": converted,
        }))
        values = np.zeros(len(audience))
        values[idx] = value
        n_treated = int(treated.sum())
        truths[campaign_id] = CampaignTruth(
            campaign_id=campaign_id, channel=str(audience.channel.iloc[0]), true_uplift=effect.uplift,
            organic_conversion=round(p0, 6), response_probability=round(q, 6), holdout=int((~treated).sum()),
            treated=n_treated,
            realised_uplift=round(float((converted[treated].astype(int) - organic[treated]).mean()), 6)
            if n_treated else 0.0,
            extra_orders=int(extra.sum()), extra_revenue_per_treated=round(float(values[treated].sum()) / 100
                                                                           / max(1, n_treated), 4),
            emails_sent=sent,
        )
    for name, parts in (("orders", orders), ("order_lines", lines), ("email_events", emails)):
        merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else None
        if merged is not None and len(merged["_day"]):
            writer.append(SOURCES_BY_NAME[name], merged, rng, 0.0, force_each_kind=False)
    folder = truth_dir / "campaigns"
    folder.mkdir(parents=True, exist_ok=True)
    if rows:
        pq.write_table(pa.Table.from_pandas(pd.concat(rows, ignore_index=True), preserve_index=False),
                       folder / "assignments.parquet")
    (folder / "summary.json").write_text(json.dumps({k: asdict(v) for k, v in truths.items()}, indent=2) + "\n",
                                         encoding="utf-8")
    return truths


def _converts(person: np.ndarray, start: np.ndarray, end: np.ndarray, purchases: pd.DataFrame) -> np.ndarray:
    """Per row: did the person make a purchase of their own in the days (start, end]."""
    frame = pd.DataFrame({"row": np.arange(len(person)), "person_id": person, "start": start, "end": end})
    joined = frame.merge(purchases[["person_id", "day"]], on="person_id")
    hit = joined[(joined.day > joined.start) & (joined.day <= joined.end)].row.unique()
    out = np.zeros(len(person), dtype=bool)
    out[hit] = True
    return out


def _orders(n: int, who: pd.DataFrame, day: np.ndarray, pick: np.ndarray, accounts: pd.Series, mailboxes: pd.Series,
            persons: pd.DataFrame, catalog: Catalog, window: Window, rng: np.random.Generator):
    """One web order of one line per responder, placed with their web account when they have one and their
    email: a product listed and in stock that day, at its price."""
    k = len(who)
    mailbox = [mailboxes.get(p) for p in who.person_id]
    order_id = np.array([f"CMP{n:03d}{i:07d}" for i in range(k)], dtype=object)
    sku = np.empty(k, dtype=object)
    price = np.zeros(k, dtype=np.int64)
    for d in np.unique(day).tolist():
        snap = catalog.snapshot(int(d - window.start_day), window)
        sellable = np.flatnonzero(snap["active"] & snap["in_stock"])
        rows = np.flatnonzero(day == d)
        chosen = sellable[np.minimum((pick[rows] * len(sellable)).astype(int), len(sellable) - 1)]
        sku[rows], price[rows] = snap["sku"][chosen], snap["price"][chosen]
    ts = day * DAY + 9 * 3600 + rng.integers(0, 12 * 3600, size=k)
    person = who.person_id.to_numpy()
    file_day = _landed_days(window, day)
    order_rows = {
        "order_id": order_id,
        "account_id": np.array([accounts.get(p) for p in person], dtype=object),
        "email": persons.email.reindex(person).fillna(pd.Series(mailbox, index=person)).to_numpy(dtype=object),
        "order_ts": ts,
        "channel": np.full(k, "web", dtype=object),
        "currency": np.full(k, "GBP", dtype=object),
        "order_total": price,
        "_day": file_day,
        "_sort": ts,
    }
    line_rows = {
        "order_id": order_id, "line_no": np.ones(k, dtype=np.int64), "sku": sku, "quantity": np.ones(k, dtype=np.int64),
        "unit_price": price, "discount": np.zeros(k, dtype=np.int64), "_day": file_day, "_sort": ts,
    }
    return order_rows, line_rows, price


def _emails(campaign_id: str, audience: pd.DataFrame, treated: np.ndarray, responder: np.ndarray, start: np.ndarray,
            order_day: np.ndarray, mailboxes: pd.Series, window: Window, rng: np.random.Generator):
    """Send, open and click rows for the treated who have an address on the email tool's list."""
    address = np.array([mailboxes.get(p) for p in audience.person_id], dtype=object)
    who = np.flatnonzero(treated & (address != None))  # noqa: E711 - elementwise on an object array
    k = len(who)
    send = (start[who] + 1) * DAY + SEND_HOUR * 3600 + rng.integers(0, 3600, size=k)
    responds = responder[who]
    opens = rng.random(k) < np.where(responds, RESPONDER_OPEN, OPEN_RATE)
    clicks = opens & (rng.random(k) < np.where(responds, RESPONDER_CLICK, CLICK_RATE))
    # A responder opens before ordering: on the send's day, or the order's day at the latest.
    latest = np.where(responds, order_day[who] * DAY + 8 * 3600, send + 2 * DAY)
    open_ts = np.minimum(send + 60 + rng.integers(0, 6 * 3600, size=k), np.maximum(latest, send + 60))
    click_ts = open_ts + rng.integers(5, 300, size=k)
    url = f"{SHOP_URL}/?utm_source=email&utm_campaign={campaign_id}"
    parts = []
    for mask, kind, when in ((np.ones(k, dtype=bool), "send", send), (opens, "open", open_ts),
                             (clicks, "click", click_ts)):
        sel = who[mask]
        parts.append({"event_ts": when[mask], "event_type": np.full(len(sel), kind, dtype=object),
                      "email": address[sel], "campaign_id": np.full(len(sel), campaign_id, dtype=object),
                      "link_url": np.full(len(sel), url if kind == "click" else None, dtype=object)})
    rows = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    rows["event_id"] = np.array([f"EC-{campaign_id}-{i:07d}" for i in range(len(rows["event_ts"]))], dtype=object)
    rows["_day"] = _landed_days(window, rows["event_ts"] // DAY)
    rows["_sort"] = rows["event_ts"]
    return rows
