"""`generate`: synthetic retail landing files for a number of persons and days, with ground truth.

Output below `out`:

- `landing/<source>/ds=YYYY-MM-DD/<source>_YYYYMMDD.<csv|jsonl>`: exactly the landing
  contract (jobs/common/landing_contract.py), one file per source and day.
- `truth/` (never read by the pipeline), Parquet folders of parts:
  `persons/` (one row per person), `records/` (one row per source record id, order,
  transaction, cookie and email-tool address -> person), `returns/` (one row per
  returned line written: its person, channel, original purchase, category, units
  bought and returned, line value, refund and any planted break), `purchases/` (one
  row per order and store transaction as made: person, channel, time, value paid in
  pence; purchases and spend of any future window follow from it), `dirty_rows/`
  (one row per broken line: source, file, line_no, kind) and `summary.json`.

Persons are generated in chunks of `chunk_size`; each chunk's rows are appended to
the day files and its truth parts written before the next chunk starts, so memory
stays bounded whatever the number of persons. Same arguments, same bytes.
"""
from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from jobs.common.errors import C360Error
from jobs.common.landing_contract import SOURCES, SOURCES_BY_NAME
from jobs.common.rates import DEFAULT_RATES, VariationRates
from jobs.generate.catalog import CATEGORIES, Catalog, build_catalog
from jobs.generate.events import build_campaigns, email_engagement, hex_ids, seq_ids, store_baskets, web_and_orders
from jobs.generate.identity import build_consents, build_identity, format_phone
from jobs.generate.people import IDENTITY_SOURCES, NEVER, Persons, Registry, make_persons, persons_holding
from jobs.generate.pools import TOWNS, Pools, build_pools
from jobs.generate.returns import RETURN_RATES, SHOES_FACTOR, STORE_FACTOR, ReturnsTruth, build_returns
from jobs.generate.timeline import DAY, Window
from jobs.generate.writer import DUPLICATE_FILE, DirtyRow, LandingWriter

DEFAULT_START = dt.date(2026, 10, 1)
N_STORES = 150
DUPLICATE_RATE_FIELDS = {
    "crm_customers": "duplicate_crm",
    "web_accounts": "duplicate_web_accounts",
    "loyalty_members": "duplicate_loyalty",
}


class OutputExistsError(C360Error, ValueError):
    """The output folder already holds generated data."""


@dataclass(frozen=True)
class GenerationReport:
    """What one `generate` call wrote."""

    out: Path
    persons: int
    days: int
    seed: int
    rows_per_source: dict[str, int]
    files: int
    duplicate_rate_measured: dict[str, float]
    duplicate_rate_configured: dict[str, float]
    dirty_rows: dict[str, int] = field(default_factory=dict)  # per kind
    seconds: float = 0.0


def generate(
    out: Path,
    customers: int,
    days: int,
    seed: int,
    start: dt.date = DEFAULT_START,
    rates: VariationRates = DEFAULT_RATES,
    chunk_size: int = 50_000,
    log: Callable[[str], None] = print,
    overwrite: bool = False,
    skus: int = 2000,
) -> GenerationReport:
    """Write landing files and ground truth for `customers` persons over `days` days from `start`.

    Args:
        out: folder receiving `landing/` and `truth/`.
        customers: number of persons.
        days: days of activity; the first day's files also carry the backlog.
        seed: random seed; the same arguments give byte-identical files.
        start: first day of the window (UTC).
        rates: how much variation and mess the data carries.
        chunk_size: persons generated and written at a time (bounds memory).
        log: receives progress lines and the final row counts.
        overwrite: delete an existing `landing/` and `truth/` under `out` first.
        skus: catalog size at the window start.

    Raises:
        OutputExistsError: `out` already has `landing/` or `truth/` and `overwrite` is False.
        ValueError: on a non-positive number of persons, days or chunk size.
    """
    began = time.perf_counter()
    for name, value in (("customers", customers), ("days", days), ("chunk_size", chunk_size), ("skus", skus)):
        if value <= 0:
            raise ValueError(f"generate: {name} must be greater than 0, got {value}")
    out = Path(out)
    landing, truth = out / "landing", out / "truth"
    for folder in (landing, truth):
        if folder.exists():
            if not overwrite:
                raise OutputExistsError(
                    f"{folder} already exists; choose another output folder or pass overwrite "
                    f"(--overwrite) to replace it"
                )
            shutil.rmtree(folder)
    for part in ("persons", "records", "returns", "purchases", "dirty_rows"):
        (truth / part).mkdir(parents=True, exist_ok=True)

    window = Window(start, days)
    pools, catalog = world(seed, skus, window)
    campaigns = build_campaigns(np.random.default_rng([seed, 2]), window)
    n_stores = int(store_layout()[0].sum())

    writer = LandingWriter(landing, window)
    files = writer.create_files()
    rows_per_source = {s.name: 0 for s in SOURCES}
    dirty: list[DirtyRow] = []

    products = SOURCES_BY_NAME["products"]
    product_rng = np.random.default_rng([seed, 3])
    for d in range(days):
        snap = catalog.snapshot(d, window)
        snap["_day"] = np.full(len(snap["sku"]), d)
        dirty += writer.append(products, snap, product_rng, rates.dirty_rows, force_each_kind=d == 0 and rates.dirty_rows > 0)
        rows_per_source["products"] += len(snap["sku"])

    registry = Registry()
    dup_records = {s: 0 for s in IDENTITY_SOURCES}
    dup_persons = {s: 0 for s in IDENTITY_SOURCES}
    n_chunks = (customers + chunk_size - 1) // chunk_size
    for chunk_no in range(n_chunks):
        first = chunk_no * chunk_size
        n = min(chunk_size, customers - first)
        dirty_rng = np.random.default_rng([seed, 200, chunk_no])
        rng, (persons, records, consents, cookie_ids) = chunk_people(
            seed, chunk_no, chunk_size, n, pools, catalog, rates, window, registry)
        web, orders, lines, order_person = web_and_orders(rng, persons, records[1], catalog, window, rates,
                                                          chunk_no, cookie_ids)
        pos, txn_ids, txn_person = store_baskets(rng, persons, records[2], catalog, window, rates, chunk_no,
                                                 n_stores)
        email_rows, _ = email_engagement(rng, persons, consents.subscribers, campaigns, window, chunk_no)
        # Its own stream: adding returns left every other source's rows as they were.
        returns, returns_truth = build_returns(
            np.random.default_rng([seed, 300, chunk_no]), lines, orders, order_person, pos, txn_ids, txn_person,
            persons, catalog, window, chunk_no, rates.dirty_rows, force_each_kind=chunk_no == 0 and rates.dirty_rows > 0,
        )
        consent_rows = _with_event_ids(consents.rows, "CE", chunk_no)

        chunk_rows = {
            "crm_customers": records[0].rows,
            "web_accounts": records[1].rows,
            "loyalty_members": records[2].rows,
            "orders": orders,
            "order_lines": lines,
            "pos_transactions": pos,
            "web_events": web,
            "email_events": email_rows,
            "consent_events": consent_rows,
            "returns": returns,
        }
        for name, rows in chunk_rows.items():
            dirty += writer.append(SOURCES_BY_NAME[name], rows, dirty_rng, rates.dirty_rows,
                                   force_each_kind=chunk_no == 0 and rates.dirty_rows > 0)
            rows_per_source[name] += len(rows["_day"])

        for rec in records:
            dup_records[rec.source] += len(rec.person)
            dup_persons[rec.source] += len(np.unique(rec.person))
        _write_truth_parts(truth, chunk_no, persons, records, order_person, orders["order_id"], txn_ids,
                           txn_person, cookie_ids, consents.subscribers, window, pools, catalog)
        _write_returns_truth(truth, chunk_no, persons, returns, returns_truth)
        _write_purchases_truth(truth, chunk_no, persons, orders, order_person, pos, txn_ids, txn_person)
        log(f"chunk {chunk_no + 1}/{n_chunks}: persons {first + n:,} of {customers:,} "
            f"({time.perf_counter() - began:.1f} s)")
        del persons, records, consents, web, orders, lines, pos, email_rows, consent_rows, returns, chunk_rows

    copied = _duplicate_a_file(writer, np.random.default_rng([seed, 4])) if rates.dirty_rows > 0 else []
    dirty += copied
    files += 1 if copied else 0
    files -= writer.remove_empty_files()
    dirty_table = pa.table({
        "source": pa.array([d.source for d in dirty], pa.string()),
        "file": pa.array([d.file for d in dirty], pa.string()),
        "line_no": pa.array([d.line_no for d in dirty], pa.int64()),
        "kind": pa.array([d.kind for d in dirty], pa.string()),
        "column": pa.array([d.column for d in dirty], pa.string()),
    })
    pq.write_table(dirty_table, truth / "dirty_rows" / "part-00000.parquet")
    dirty_counts: dict[str, int] = {}
    for d in dirty:
        dirty_counts[d.kind] = dirty_counts.get(d.kind, 0) + 1

    configured = {s: getattr(rates, f) for s, f in DUPLICATE_RATE_FIELDS.items()}
    measured = {
        s: round((dup_records[s] - dup_persons[s]) / dup_records[s], 5) if dup_records[s] else 0.0
        for s in IDENTITY_SOURCES
    }
    summary = {
        "arguments": {"customers": customers, "days": days, "seed": seed, "start": start.isoformat(),
                      "chunk_size": chunk_size, "skus": skus},
        "rates": rates.to_dict(),
        "rows_per_source": rows_per_source,
        "files": files,
        "duplicate_rate_configured": configured,
        "duplicate_rate_measured": measured,
        "dirty_rows": dict(sorted(dirty_counts.items())),
        "categories": [c.name for c in CATEGORIES],
        "return_rates": {"online": RETURN_RATES, "shoes_factor": SHOES_FACTOR, "store_factor": STORE_FACTOR},
        "campaigns": [c.campaign_id for c in campaigns],
    }
    (truth / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")

    seconds = time.perf_counter() - began
    for name, count in rows_per_source.items():
        log(f"{name:<18} {count:>12,} rows")
    log(f"{files} files, {sum(dirty_counts.values()):,} dirty rows, {seconds:.1f} s")
    return GenerationReport(
        out=out, persons=customers, days=days, seed=seed, rows_per_source=rows_per_source, files=files,
        duplicate_rate_measured=measured, duplicate_rate_configured=configured, dirty_rows=dirty_counts,
        seconds=seconds,
    )


def world(seed: int, skus: int, window: Window) -> tuple[Pools, Catalog]:
    """The name pools and the catalog of a run (their own random streams)."""
    return build_pools(np.random.default_rng([seed, 0])), build_catalog(np.random.default_rng([seed, 1]), skus, window)


def store_layout() -> tuple[np.ndarray, np.ndarray]:
    """Stores per town (by the town's weight, at least one) and the index of each town's first store."""
    town_w = np.array([t[2] for t in TOWNS])
    stores_per_town = np.maximum(1, np.round(town_w / town_w.sum() * N_STORES)).astype(np.int64)
    return stores_per_town, np.concatenate([[0], np.cumsum(stores_per_town)[:-1]])


def chunk_people(seed: int, chunk_no: int, chunk_size: int, n: int, pools: Pools, catalog: Catalog,
                 rates: VariationRates, window: Window, registry: Registry):
    """The chunk's random stream and its `n` persons, identity records, consents and cookie ids.

    The stream goes on to draw the chunk's behaviour (orders, baskets, email engagement).
    """
    rng = np.random.default_rng([seed, 100, chunk_no])
    stores_per_town, store_offset = store_layout()
    persons = make_persons(rng, n, chunk_no * chunk_size, pools, catalog, rates, window, registry, stores_per_town,
                           store_offset)
    _plan_erasures(rng, persons, window, force=chunk_no == 0 and n >= 1000)
    # A person has at most two records per source, so 2 * chunk_size ids per chunk never overlap.
    records = [build_identity(rng, persons, i, rates, window, pools, chunk_no * 2 * chunk_size)
               for i in range(len(IDENTITY_SOURCES))]
    consents = build_consents(rng, persons, records, window)
    cookie_ids = hex_ids(rng, int(persons.n_cookies.sum()), 24)
    return rng, (persons, records, consents, cookie_ids)


def _plan_erasures(rng: np.random.Generator, persons: Persons, window: Window, force: bool) -> None:
    """A few persons ask to be erased inside the window; they stop all activity then."""
    lo = np.maximum(persons.signup_ts + DAY, window.start_ts)
    hi = np.minimum(persons.last_ts, window.end_ts) - 3600
    ok = np.flatnonzero(hi > lo)
    if len(ok) == 0:
        return
    pick = ok[rng.random(len(ok)) < 0.0005 * window.days / 30]
    if force and len(pick) == 0:
        pick = ok[[int(rng.integers(0, len(ok)))]]
    persons.erasure_ts[pick] = lo[pick] + (rng.random(len(pick)) * (hi - lo)[pick]).astype(np.int64)


def _with_event_ids(rows: dict[str, np.ndarray], prefix: str, chunk_no: int) -> dict[str, np.ndarray]:
    order = np.argsort(rows["_sort"], kind="stable")
    rows = {k: v[order] for k, v in rows.items()}
    return {"event_id": seq_ids(prefix, chunk_no, len(order)), **rows}


def _duplicate_a_file(writer: LandingWriter, rng: np.random.Generator) -> list[DirtyRow]:
    """Copy one whole day file under the same day folder with the suffix `copy`."""
    candidates = ["orders", "pos_transactions", "web_accounts", "email_events"]
    days = writer.window.days
    day = days // 2 if days > 1 else 0
    for name in [candidates[int(rng.integers(0, len(candidates)))], *candidates]:
        source = SOURCES_BY_NAME[name]
        n_lines = writer.lines[(name, day)]
        if n_lines:
            shutil.copyfile(writer.path(source, day), writer.path(source, day, "copy"))
            rel = writer.relative(source, day, "copy")
            return [DirtyRow(name, rel, i, DUPLICATE_FILE, None) for i in range(1, n_lines + 1)]
    return []


def _person_ids(gid: np.ndarray) -> np.ndarray:
    return np.array([f"P{g + 1:09d}" for g in gid.tolist()], dtype=object)


def _write_returns_truth(truth: Path, chunk_no: int, persons: Persons, rows: dict[str, np.ndarray],
                        t: ReturnsTruth) -> None:
    """Truth of one chunk's returned lines: who returned what from which purchase, and any planted break."""
    def ts(values: np.ndarray) -> pa.Array:
        return pa.array(np.asarray(values, dtype=np.int64)).cast(pa.timestamp("s", tz="UTC"))

    pq.write_table(
        pa.table({
            "return_id": pa.array(rows["return_id"], pa.string()),
            "line_no": pa.array(np.asarray(rows["line_no"], dtype=np.int64)),
            "channel": pa.array(t.channel, pa.string()),
            "original_id": pa.array(t.original_id, pa.string()),
            "person_id": pa.array(_person_ids(persons.gid)[t.person], pa.string()),
            "sku": pa.array(rows["sku"], pa.string()),
            "category": pa.array(t.category, pa.string()),
            "bought_quantity": pa.array(t.bought_quantity),
            "quantity": pa.array(np.asarray(rows["quantity"], dtype=np.int64)),
            "line_amount_pence": pa.array(t.line_amount_pence),
            "refund_pence": pa.array(np.asarray(rows["refund_amount"], dtype=np.int64)),
            "reason": pa.array(rows["reason"], pa.string()),
            "purchased_at": ts(t.purchased_at),
            "returned_at": ts(rows["returned_at"]),
            "dirty_kind": pa.array(t.dirty_kind, pa.string()),
        }),
        truth / "returns" / f"part-{chunk_no:05d}.parquet",
    )


def _write_purchases_truth(truth: Path, chunk_no: int, persons: Persons, orders: dict[str, np.ndarray],
                           order_person: np.ndarray, pos: dict[str, np.ndarray], txn_ids: np.ndarray,
                           txn_person: np.ndarray) -> None:
    """Every purchase of a chunk as made (before any row is broken or returned): who, when, how much.

    One row per web/app order and per store transaction; `value` is what was paid in pence
    (lines net of discount). Purchases and spend of any window follow from it.
    """
    line_txn = np.searchsorted(txn_ids, pos["transaction_id"])
    paid = pos["quantity"] * pos["unit_price"] - pos["discount"]
    txn_value = np.bincount(line_txn, weights=paid, minlength=len(txn_ids)).astype(np.int64)
    txn_ts = np.zeros(len(txn_ids), dtype=np.int64)
    txn_ts[line_txn] = pos["transaction_ts"]
    has_lines = np.bincount(line_txn, minlength=len(txn_ids)) > 0
    pid = _person_ids(persons.gid)
    ts = np.concatenate([orders["order_ts"], txn_ts[has_lines]])
    pq.write_table(
        pa.table({
            "person_id": pa.array(np.concatenate([pid[order_person], pid[txn_person[has_lines]]]), pa.string()),
            "purchase_id": pa.array(np.concatenate([orders["order_id"], txn_ids[has_lines]]), pa.string()),
            "channel": pa.array(np.concatenate([orders["channel"], np.full(int(has_lines.sum()), "store", object)]),
                                pa.string()),
            "purchase_ts": pa.array(ts * 1_000_000, pa.timestamp("us", tz="UTC")),
            "purchase_date": pa.array((ts // DAY).astype(np.int32)).cast(pa.date32()),
            "value": pa.array(np.concatenate([orders["order_total"], txn_value[has_lines]]).astype(np.int64)),
        }),
        truth / "purchases" / f"part-{chunk_no:05d}.parquet",
    )


def _write_truth_parts(
    truth: Path,
    chunk_no: int,
    persons: Persons,
    records,
    order_person: np.ndarray,
    order_ids: np.ndarray,
    txn_ids: np.ndarray,
    txn_person: np.ndarray,
    cookie_ids: np.ndarray,
    subscribers: dict[str, np.ndarray],
    window: Window,
    pools: Pools,
    catalog: Catalog,
) -> None:
    """Truth parts of one chunk: records -> person, and the persons themselves."""
    pid = _person_ids(persons.gid)
    sources, ids, people = [], [], []
    for rec in records:
        sources.append(np.full(len(rec.record_id), rec.source, dtype=object))
        ids.append(rec.record_id)
        people.append(pid[rec.person])
    sources.append(np.full(len(order_ids), "orders", dtype=object))
    ids.append(order_ids)
    people.append(pid[order_person])
    sources.append(np.full(len(txn_ids), "pos_transactions", dtype=object))
    ids.append(txn_ids)
    people.append(pid[txn_person])
    cookie_person = np.repeat(np.arange(persons.n), persons.n_cookies)
    sources.append(np.full(len(cookie_ids), "web_events", dtype=object))
    ids.append(cookie_ids)
    people.append(pid[cookie_person])
    # Every address on the email tool's list (sent to, or only opted out), with all its holders.
    key_idx, holder = persons_holding(persons, subscribers["key"])
    sources.append(np.full(len(key_idx), "email_events", dtype=object))
    ids.append(subscribers["email"][key_idx])
    people.append(pid[holder])
    pq.write_table(
        pa.table({
            "source": pa.array(np.concatenate(sources), pa.string()),
            "record_id": pa.array(np.concatenate(ids), pa.string()),
            "person_id": pa.array(np.concatenate(people), pa.string()),
        }),
        truth / "records" / f"part-{chunk_no:05d}.parquet",
    )

    cats = np.array([c.name for c in CATEGORIES], dtype=object)
    top3 = np.argsort(-persons.affinity, axis=1, kind="stable")[:, :3]
    k = persons.affinity.shape[1]

    def day_or_null(ts: np.ndarray) -> pa.Array:
        never = ts >= NEVER
        return pa.array(np.where(never, 0, ts // DAY).astype(np.int32), mask=never).cast(pa.date32())

    phone = format_phone(persons.phone, np.zeros(persons.n, dtype=np.int64))
    stale = persons.moved & persons.in_source[np.arange(persons.n), persons.stale_source]
    changed = (persons.change_kind > 0) & (persons.change_ts < persons.active_until(window))
    change_kind = np.array(["none", "address", "phone", "email"], dtype=object)[np.where(changed, persons.change_kind, 0)]
    table = pa.table({
        "person_id": pa.array(pid, pa.string()),
        "household_id": pa.array([f"H{g + 1:09d}" for g in persons.gid[persons.household].tolist()], pa.string()),
        "first_name": pa.array(pools.first_names[persons.first], pa.string()),
        "last_name": pa.array(pools.last_names[persons.last], pa.string()),
        "gender": pa.array(persons.gender, pa.string()),
        "date_of_birth": pa.array(persons.dob.astype(np.int32)).cast(pa.date32()),
        "email": pa.array(persons.email, pa.string()),
        "alt_email": pa.array(persons.alt_email, pa.string()),
        "shares_household_email": pa.array(persons.email_owner != np.arange(persons.n)),
        "phone": pa.array(phone, pa.string()),
        "street": pa.array(persons.street, pa.string()),
        "city": pa.array(persons.city, pa.string()),
        "postcode": pa.array(persons.postcode, pa.string()),
        "moved_before_window": pa.array(persons.moved),
        "stale_source": pa.array(np.where(stale, np.array(IDENTITY_SOURCES, dtype=object)[persons.stale_source], None),
                                 pa.string()),
        "change_in_window": pa.array(change_kind, pa.string()),
        "change_date": day_or_null(np.where(changed, persons.change_ts, NEVER)),
        "signup_date": day_or_null(persons.signup_ts),
        "churn_date": day_or_null(persons.churn_ts),
        "erasure_date": day_or_null(persons.erasure_ts),
        "in_crm": pa.array(persons.in_source[:, 0]),
        "in_web_accounts": pa.array(persons.in_source[:, 1]),
        "in_loyalty": pa.array(persons.in_source[:, 2]),
        "web_visitor": pa.array(persons.visitor),
        "logs_in": pa.array(persons.logs_in),
        "top_category": pa.array(cats[persons.top_category], pa.string()),
        "top_categories": pa.array([list(r) for r in cats[top3]], pa.list_(pa.string())),
        "category_affinity": pa.FixedSizeListArray.from_arrays(
            pa.array(persons.affinity.reshape(-1), pa.float32()), k),
        "favourite_brand": pa.array(catalog.brand_names[persons.fav_brand], pa.string()),
        "price_sensitivity": pa.array(persons.price_sensitivity.astype(np.float32)),
        "engagement": pa.array(persons.engagement.astype(np.float32)),
        "online_preference": pa.array(persons.online_pref.astype(np.float32)),
        "staple_sku": pa.array(np.where(persons.staple >= 0, catalog.sku[np.maximum(persons.staple, 0)], None),
                               pa.string()),
    })
    pq.write_table(table, truth / "persons" / f"part-{chunk_no:05d}.parquet")
