"""The generator's campaign response: extra orders and emails for the treated only, at the configured uplift."""
from __future__ import annotations

import datetime as dt
import hashlib
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.json as pj
import pytest

from jobs.common.landing_contract import SOURCES_BY_NAME
from jobs.generate.campaigns import CampaignResponseError, Effect, respond
from jobs.generate.main import generate, world
from jobs.generate.timeline import Window

START, DAYS, SEED = dt.date(2026, 9, 1), 30, 3
ASSIGNED = START + dt.timedelta(days=10)
WINDOW = 7
TYPES = {"string": pa.string(), "int": pa.int32(), "timestamp": pa.timestamp("s", tz="UTC"),
         "decimal(12,2)": pa.decimal128(12, 2), "date": pa.date32(), "boolean": pa.bool_()}


def _landing_bytes(landing: Path, source: str) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted((landing / source).rglob("*")) if p.is_file()}


def _appended(before: dict[Path, bytes], landing: Path, name: str) -> pd.DataFrame:
    """The rows written after `before`, parsed with the contract's types (raises on a malformed value)."""
    source = SOURCES_BY_NAME[name]
    schema = pa.schema([(c.name, TYPES[c.type]) for c in source.columns])
    parts = []
    for path, data in _landing_bytes(landing, name).items():
        new = data[len(before.get(path, b"")):]
        if not new:
            continue
        if source.format == "csv":
            header = ",".join(source.column_names).encode() + b"\n"
            parts.append(pcsv.read_csv(io.BytesIO(header + new), convert_options=pcsv.ConvertOptions(
                column_types=dict(zip(schema.names, schema.types, strict=True)))).to_pandas())
        else:
            parts.append(pj.read_json(io.BytesIO(new), parse_options=pj.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="error")).to_pandas())
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=schema.names)


def test_the_treated_respond_at_the_true_uplift_and_the_holdout_not_at_all(tmp_path):
    out = tmp_path / "gen"
    generate(out, 3000, DAYS, SEED, START, log=lambda *_: None)
    records = pd.read_parquet(out / "truth" / "records")
    listed = sorted(set(records[records.source == "email_events"].person_id))
    assert len(listed) >= 1200
    chosen = listed[:1200]
    variant = ["holdout" if hashlib.sha256(p.encode()).digest()[0] < 128 else "treatment" for p in chosen]
    assigned = pd.DataFrame({"campaign_id": ["c30"] * 600 + ["c0"] * 600, "channel": ["email"] * 600 + ["web"] * 600,
                             "customer_key": [f"K{p}" for p in chosen], "person_id": chosen, "variant": variant,
                             "assigned_at": ASSIGNED})
    landing = out / "landing"
    before = {name: _landing_bytes(landing, name) for name in ("orders", "order_lines", "email_events")}
    window = Window(START, DAYS)
    _, catalog = world(SEED, 2000, window)

    truths = respond(out, assigned, {"c30": Effect(0.3, WINDOW), "c0": Effect(0.0, WINDOW)}, catalog, window, seed=1)

    orders = _appended(before["orders"], landing, "orders")
    lines = _appended(before["order_lines"], landing, "order_lines")
    emails = _appended(before["email_events"], landing, "email_events")
    by_campaign = pd.read_parquet(out / "truth" / "campaigns" / "assignments.parquet")
    responders = by_campaign[by_campaign.extra_order]
    # extra orders: the treated of the campaign with an effect only, in their window, one line each
    assert set(responders.campaign_id) == {"c30"} and set(responders.variant) == {"treatment"}
    assert len(orders) == len(lines) == len(responders) == truths["c30"].extra_orders > 0
    assert truths["c0"].extra_orders == 0
    days = orders.order_ts.dt.date
    assert days.min() > ASSIGNED and days.max() <= ASSIGNED + dt.timedelta(days=WINDOW)
    # each order names a responder: by their web account, or (guest checkout) by one of their addresses
    persons = pd.read_parquet(out / "truth" / "persons").set_index("person_id")
    theirs = set(records[records.person_id.isin(responders.person_id)
                         & records.source.isin(["web_accounts", "email_events"])].record_id)
    theirs |= set(persons.loc[list(responders.person_id)].email.dropna())
    assert all((a or e) in theirs for a, e in zip(orders.account_id, orders.email, strict=True))  # CSV: "" is empty
    assert (orders.order_total == lines.unit_price).all() and set(lines.order_id) == set(orders.order_id)
    # emails: the treated of the email campaign only, one send each, opens and clicks after it
    sends = emails[emails.event_type == "send"]
    assert set(emails.campaign_id) == {"c30"} and len(sends) == truths["c30"].emails_sent == truths["c30"].treated
    treated = set(by_campaign[(by_campaign.campaign_id == "c30") & (by_campaign.variant == "treatment")].person_id)
    addresses = records[records.source == "email_events"].groupby("record_id").person_id.agg(set)
    assert all(addresses[e] & treated for e in sends.email)
    assert {"open", "click"} <= set(emails.event_type) and sends.event_ts.min() > pd.Timestamp(ASSIGNED, tz="UTC")
    # the uplift: treated conversion with the campaign minus without it, near 0.3 (binomial noise), 0 without one
    t = truths["c30"]
    assert t.realised_uplift == pytest.approx(0.3, abs=4 * (0.3 * 0.7 / t.treated) ** 0.5)
    assert truths["c0"].realised_uplift == 0
    purchases = pd.read_parquet(out / "truth" / "purchases")
    window_days = purchases[(purchases.purchase_date > ASSIGNED)
                            & (purchases.purchase_date <= ASSIGNED + dt.timedelta(days=WINDOW))]
    organic = np.mean([p in set(window_days.person_id) for p in chosen[:600]])
    assert t.organic_conversion == pytest.approx(organic, abs=1e-6)


def test_a_window_past_the_generated_days_is_refused(tmp_path):
    out = tmp_path / "gen"
    generate(out, 200, 10, SEED, START, log=lambda *_: None)
    person = pd.read_parquet(out / "truth" / "persons").person_id.iloc[0]
    assigned = pd.DataFrame({"campaign_id": ["c"], "channel": ["web"], "customer_key": ["K"], "person_id": [person],
                             "variant": ["treatment"], "assigned_at": [START + dt.timedelta(days=5)]})
    window = Window(START, 10)
    with pytest.raises(CampaignResponseError, match="campaign c: its attribution window ends 2026-09-20, after the "
                                                    "generated days"):
        respond(out, assigned, {"c": Effect(0.1, 14)}, world(SEED, 2000, window)[1], window, seed=1)
