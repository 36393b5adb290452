"""Returns of online order lines and store till lines: what comes back, when, and for how much.

Input: one chunk's `order_lines` and `orders` rows (with each order's person) and its
`pos_transactions` rows (with each transaction's person). Output: the chunk's `returns`
rows (one per returned line) and their ground truth (one row per returned line written).

- **What.** A bought line is returned with a probability that depends on its category
  (`RETURN_RATES`: fashion and shoes often, groceries almost never) and on the channel:
  what was bought unseen online comes back more often than what was tried in a store
  (`STORE_FACTOR`). A multi-unit line is sometimes returned in part.
- **When.** Lines of one purchase that come back return together (one `return_id`, one
  `returned_at`): online two days to a few weeks after the order (delivery, then the
  parcel's way back), in store from the next day on. A return lands in the `ds=` folder
  of its day; one that would come back after the window end, or after its buyer asked
  to be erased, is not written.
- **How much.** The refund is the units returned at the line's unit price after
  discount, rounded down to the penny, so it never exceeds the line's value.
- **Why.** A reason per category group and channel (`wrong_size` mostly for fashion,
  `damaged` and `not_as_described` for electronics, `late_delivery` only online).

Some returns are written wrong on purpose, at the `dirty_rows` rate (each kind at least
once in the first chunk): a refund above the line's value (`refund_over_line`) or an
order / till transaction id that does not exist (`unknown_original`). Both are well typed
and within the column rules, so they pass ingest; silver, which knows the lines, sends
them to quarantine. The writer lists them in `truth/dirty_rows` like every dirty row.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jobs.generate.catalog import CATEGORIES, Catalog
from jobs.generate.events import seq_ids
from jobs.generate.people import Persons
from jobs.generate.timeline import DAY, Window

# Share of bought online lines returned, per category (retail norms: apparel 20-30%,
# electronics and sports around a tenth, consumables a few percent or less).
RETURN_RATES: dict[str, float] = {
    "Beauty": 0.04,
    "Grocery": 0.005,
    "Pet": 0.02,
    "Baby": 0.05,
    "Health": 0.02,
    "Electronics": 0.09,
    "Home": 0.07,
    "Women's Fashion": 0.30,
    "Men's Fashion": 0.24,
    "Sports & Outdoors": 0.10,
    "Toys & Games": 0.05,
    "Books & Media": 0.03,
}
# Shoes are returned more than the rest of their category (fit).
SHOES_FACTOR = 1.25
# Store purchases come back less often: the shopper saw, tried and carried them home.
STORE_FACTOR = 0.45
# A multi-unit line is returned in part this often.
PARTIAL_SHARE = 0.35
REASONS = ("damaged", "wrong_size", "not_as_described", "changed_mind", "late_delivery")
# Reason probabilities (order of REASONS) per category group.
_REASON_P = {
    "fashion": (0.05, 0.55, 0.15, 0.20, 0.05),
    "electronics": (0.35, 0.0, 0.30, 0.25, 0.10),
    "other": (0.30, 0.0, 0.25, 0.35, 0.10),
}
_FASHION = ("Women's Fashion", "Men's Fashion")
# When a return is booked: store opening hours, the online returns desk's working day.
_STORE_HOURS = np.array([0, 0, 0, 0, 0, 0, 0, 0, 2, 4, 6, 7, 8, 8, 7, 6, 6, 6, 5, 3, 2, 1, 0, 0])
_DESK_HOURS = np.array([0, 0, 0, 0, 0, 0, 0, 1, 4, 6, 6, 6, 5, 6, 6, 6, 5, 4, 2, 0, 0, 0, 0, 0])

REFUND_OVER_LINE, UNKNOWN_ORIGINAL = "refund_over_line", "unknown_original"
CROSS_TABLE_KINDS = (REFUND_OVER_LINE, UNKNOWN_ORIGINAL)
# Ids of purchases that never happened: sequence numbers far above any chunk's.
_UNKNOWN_ID_BASE = 99_000_000_000_000


@dataclass(frozen=True)
class ReturnsTruth:
    """Ground truth of the returned lines of a chunk (arrays of one length, one per written row)."""

    person: np.ndarray  # local person index
    channel: np.ndarray  # "online" or "store"
    original_id: np.ndarray  # the order or till transaction really returned to
    category: np.ndarray
    bought_quantity: np.ndarray
    line_amount_pence: np.ndarray  # the line's value: quantity x unit price - discount
    purchased_at: np.ndarray  # epoch seconds
    dirty_kind: np.ndarray  # None, or the cross-table kind planted in the row


def _category_rates() -> np.ndarray:
    missing = {c.name for c in CATEGORIES} - set(RETURN_RATES)
    if missing:
        raise ValueError(f"no return rate for categories {sorted(missing)}")
    return np.array([RETURN_RATES[c.name] for c in CATEGORIES])


def _catalog_positions(catalog: Catalog, skus: np.ndarray) -> np.ndarray:
    order = np.argsort(catalog.sku)
    return order[np.searchsorted(catalog.sku[order], skus)]


def _hours(rng: np.random.Generator, profile: np.ndarray, n: int) -> np.ndarray:
    """Seconds into the day, the hour drawn from `profile`."""
    cdf = np.cumsum(profile) / profile.sum()
    return np.searchsorted(cdf, rng.random(n), side="right") * 3600 + rng.integers(0, 3600, size=n)


def _reasons(rng: np.random.Generator, category: np.ndarray, store: np.ndarray) -> np.ndarray:
    names = np.array([c.name for c in CATEGORIES], dtype=object)[category]
    group = np.where(np.isin(names, _FASHION), "fashion", np.where(names == "Electronics", "electronics", "other"))
    p = np.array([_REASON_P[g] for g in group.tolist()]).reshape(len(group), len(REASONS))
    # A parcel can be late; a bag carried out of a store cannot.
    p[store, REASONS.index("late_delivery")] = 0.0
    cdf = np.cumsum(p, axis=1)
    pick = (rng.random(len(group))[:, None] * cdf[:, -1:] > cdf).sum(axis=1)
    return np.array(REASONS, dtype=object)[np.minimum(pick, len(REASONS) - 1)]


def build_returns(
    rng: np.random.Generator,
    lines: dict[str, np.ndarray],
    orders: dict[str, np.ndarray],
    order_person: np.ndarray,
    pos: dict[str, np.ndarray],
    txn_ids: np.ndarray,
    txn_person: np.ndarray,
    persons: Persons,
    catalog: Catalog,
    window: Window,
    chunk_no: int,
    dirty_rate: float,
    force_each_kind: bool,
) -> tuple[dict[str, np.ndarray], ReturnsTruth]:
    """`returns` rows of a chunk (money in pence, times in epoch seconds) and their truth.

    Args:
        rng: the chunk's returns generator (its own stream, so other sources do not change).
        lines, orders: the chunk's `order_lines` and `orders` rows; `order_person` is each order's person.
        pos: the chunk's `pos_transactions` rows; `txn_ids` / `txn_person` each transaction's id and person.
        persons, catalog, window: the chunk's persons, the catalog, the generation window.
        chunk_no: the chunk number (return ids are unique across chunks).
        dirty_rate: share of rows written wrong with a cross-table kind.
        force_each_kind: plant each cross-table kind at least once (the first chunk).
    """
    # Every bought line, online lines first; a purchase's lines are contiguous in both sources.
    order_at = np.searchsorted(orders["order_id"], lines["order_id"])
    txn_at = np.searchsorted(txn_ids, pos["transaction_id"])
    n_online = len(order_at)
    store = np.r_[np.zeros(n_online, dtype=bool), np.ones(len(txn_at), dtype=bool)]
    original = np.concatenate([lines["order_id"], pos["transaction_id"]]).astype(object)
    line_no = np.concatenate([lines["line_no"], pos["line_no"]]).astype(np.int64)
    sku = np.concatenate([lines["sku"], pos["sku"]]).astype(object)
    qty = np.concatenate([lines["quantity"], pos["quantity"]]).astype(np.int64)
    net = np.concatenate([lines["quantity"] * lines["unit_price"] - lines["discount"],
                          pos["quantity"] * pos["unit_price"] - pos["discount"]]).astype(np.int64)
    bought_ts = np.concatenate([orders["order_ts"][order_at], pos["transaction_ts"]]).astype(np.int64)
    person = np.concatenate([order_person[order_at], txn_person[txn_at]]).astype(np.int64)

    at = _catalog_positions(catalog, sku)
    category = catalog.category[at]
    p = _category_rates()[category] * np.where(catalog.subcategory[at] == "Shoes", SHOES_FACTOR, 1.0)
    p = p * np.where(store, STORE_FACTOR, 1.0)
    r = np.flatnonzero(rng.random(len(p)) < p)

    # One return per purchase: its returned lines share an id, a day and a time.
    first = np.r_[True, original[r][1:] != original[r][:-1]] if len(r) else np.zeros(0, dtype=bool)
    group = np.cumsum(first) - 1
    g_line = r[first]
    n_g = len(g_line)
    g_store = store[g_line]
    bought_day = (bought_ts[g_line] - window.start_ts) // DAY
    delay = np.where(g_store, 1 + np.floor(rng.exponential(5.0, size=n_g)),
                     2 + np.round(rng.gamma(2.0, 3.5, size=n_g))).astype(np.int64)
    g_day = bought_day + np.minimum(delay, 30)
    g_ts = (window.start_ts + g_day * DAY
            + np.where(g_store, _hours(rng, _STORE_HOURS, n_g), _hours(rng, _DESK_HOURS, n_g)))
    erased = persons.erasure_ts[person[g_line]]
    g_keep = (g_day < window.days) & (g_ts < erased)

    keep = g_keep[group]
    r, group = r[keep], group[keep]
    g_old = np.flatnonzero(g_keep)
    g_ts = g_ts[g_keep]
    # Return ids in the order the returns come back.
    g_rank = np.empty(len(g_old), dtype=np.int64)
    g_rank[np.argsort(g_ts, kind="stable")] = np.arange(len(g_old))
    g_new = np.full(n_g, -1)
    g_new[g_old] = np.arange(len(g_old))
    group = g_new[group]
    return_ids = seq_ids("R", chunk_no, len(g_old))[g_rank]
    n = len(r)

    partial = (qty[r] > 1) & (rng.random(n) < PARTIAL_SHARE)
    returned = np.where(partial, 1 + (rng.random(n) * (qty[r] - 1)).astype(np.int64), qty[r])
    refund = returned * net[r] // qty[r]
    ts = g_ts[group]
    rows = {
        "return_id": return_ids[group],
        "order_id": np.where(store[r], None, original[r]),
        "transaction_id": np.where(store[r], original[r], None),
        "line_no": line_no[r],
        "sku": sku[r],
        "quantity": returned,
        "refund_amount": refund,
        "reason": _reasons(rng, category[r], store[r]),
        "returned_at": ts,
        "_day": window.file_day(ts),
        "_sort": ts * 64 + line_no[r],
    }
    dirty = _plant_cross_table_errors(rng, rows, store[r], net[r], qty[r], dirty_rate, force_each_kind)
    truth = ReturnsTruth(
        person=person[r],
        channel=np.where(store[r], "store", "online").astype(object),
        original_id=original[r],
        category=np.array([c.name for c in CATEGORIES], dtype=object)[category[r]],
        bought_quantity=qty[r],
        line_amount_pence=net[r],
        purchased_at=bought_ts[r],
        dirty_kind=dirty,
    )
    return rows, truth


def _plant_cross_table_errors(
    rng: np.random.Generator,
    rows: dict[str, np.ndarray],
    store: np.ndarray,
    net: np.ndarray,
    qty: np.ndarray,
    rate: float,
    force_each_kind: bool,
) -> np.ndarray:
    """Write some returns wrong in ways only the bought line can tell; marks them for the writer.

    Sets `rows["_planted"]` (the kind, or None) and `rows["_planted_column"]`; returns the kinds.
    """
    n = len(store)
    kinds = np.full(n, None, dtype=object)
    hit = np.flatnonzero(rng.random(n) < rate)
    kinds[hit] = np.array(CROSS_TABLE_KINDS, dtype=object)[rng.integers(0, len(CROSS_TABLE_KINDS), size=len(hit))]
    if force_each_kind:
        for kind in CROSS_TABLE_KINDS:
            free = np.flatnonzero(kinds == None)  # noqa: E711 - elementwise on an object array
            if not (kinds == kind).any() and len(free):
                kinds[free[int(rng.integers(0, len(free)))]] = kind
    columns = np.full(n, None, dtype=object)

    over = np.flatnonzero(kinds == REFUND_OVER_LINE)
    # Above what the returned units can be worth: a refund keyed in twice, or the order total.
    share = rows["quantity"][over] * net[over] // qty[over]
    rows["refund_amount"][over] = share + 100 + rng.integers(0, 2000, size=len(over))
    columns[over] = "refund_amount"

    unknown = np.flatnonzero(kinds == UNKNOWN_ORIGINAL)
    fake = _UNKNOWN_ID_BASE + rng.integers(0, 10**9, size=len(unknown))
    for i, number in zip(unknown.tolist(), fake.tolist(), strict=True):
        column = "transaction_id" if store[i] else "order_id"
        rows[column][i] = f"{'T' if store[i] else 'O'}{number:014d}"
        columns[i] = column

    rows["_planted"] = kinds
    rows["_planted_column"] = columns
    return kinds
