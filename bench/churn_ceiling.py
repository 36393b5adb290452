"""The best churn ROC AUC any model can reach on the generator: an oracle that knows each person.

Churn is "no purchase in the next 90 days". Even a model that knew every person's
latent shopping rates, tastes and churn date could not predict it perfectly: a person
who shops four times a year, alive and loyal, makes no purchase in a given quarter
about one time in three. This module measures that ceiling by Monte Carlo. It builds
the persons of the generator exactly as `generate` does (same seed, same window: the
very persons of a `generate` call, up to its first chunk), then draws their web orders
and store baskets `reps + 1` times with independent random streams. Draw 0 plays the
part of what happened; the other draws estimate each person's probability of making no
attributable purchase (an order, or a till receipt with a loyalty card or an email) in
the last 90 days of the window, knowing the person. The ROC AUC of that probability on
draw 0, over the persons active at the cutoff (a purchase in the year before it), is
the ceiling.

The ceiling is a property of the generator's rates, not of the pipeline: compare a
model's AUC with it, not with 1.0.
"""
from __future__ import annotations

import datetime as dt
import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np

from jobs.common.rates import VariationRates
from jobs.generate.timeline import DAY

ACTIVE_DAYS = 365


def _purchase_days(orders: dict, order_person: np.ndarray, pos: dict, txn_person_of_line: np.ndarray,
                   start_day: int) -> tuple[np.ndarray, np.ndarray]:
    """(person, window day) of every attributable purchase: all orders, receipts with a card or an email."""
    order_day = orders["order_ts"] // DAY - start_day
    linked = (pos["loyalty_id"] != None) | (pos["receipt_email"] != None)  # noqa: E711 (element-wise on objects)
    pos_day = pos["transaction_ts"][linked] // DAY - start_day
    return (np.concatenate([order_person, txn_person_of_line[linked]]).astype(np.int64),
            np.concatenate([order_day, pos_day]).astype(np.int64))


@dataclass(frozen=True)
class Generated:
    """The persons of a `generate` call and what their shopping draws need."""

    people: Any  # jobs.generate.people.Persons
    records: list  # crm, web accounts, loyalty (IdentityRecords)
    catalog: Any
    window: Any
    n_stores: int
    cookie_ids: np.ndarray


def generated_persons(rates: VariationRates, persons: int, days: int, start: dt.date, seed: int) -> Generated:
    """The very persons `generate(out, persons, days, seed=seed, start=start)` makes (its first chunk)."""
    from jobs.generate.main import chunk_people, generate, store_layout, world
    from jobs.generate.people import Registry
    from jobs.generate.timeline import Window

    defaults = {k: v.default for k, v in inspect.signature(generate).parameters.items()}
    window = Window(start, days)
    pools, catalog = world(seed, defaults["skus"], window)
    _, (people, records, _, cookie_ids) = chunk_people(
        seed, 0, defaults["chunk_size"], min(persons, defaults["chunk_size"]), pools, catalog, rates, window,
        Registry())
    return Generated(people, records, catalog, window, int(store_layout()[0].sum()), cookie_ids)


def ceiling(rates: VariationRates, persons: int, history_days: int, future_days: int, start: dt.date,
            seed: int = 11, reps: int = 20) -> dict[str, float]:
    """Oracle ROC AUC of "no attributable purchase in the last `future_days`" for `persons` persons.

    Returns the AUC, the active persons it was measured on, their churn rate, and the
    oracle's own recency baseline on the same draw (days since the last purchase).
    """
    from sklearn.metrics import roc_auc_score

    from jobs.generate.events import store_baskets, web_and_orders

    g = generated_persons(rates, persons, history_days + future_days, start, seed)
    people, records, catalog, window = g.people, g.records, g.catalog, g.window
    persons = people.n
    cutoff = history_days  # window days >= cutoff are the future
    none_future = np.zeros(persons)
    actual = active = last_day = None
    for rep in range(reps + 1):
        draw = np.random.default_rng([seed, 900, rep])
        _, orders, _, order_person = web_and_orders(draw, people, records[1], catalog, window, rates, 0, g.cookie_ids)
        pos, txn_ids, txn_person = store_baskets(draw, people, records[2], catalog, window, rates, 0, g.n_stores)
        line_person = txn_person[np.searchsorted(txn_ids, pos["transaction_id"])]
        who, day = _purchase_days(orders, order_person, pos, line_person, window.start_day)
        future = np.zeros(persons, dtype=bool)
        future[who[day >= cutoff]] = True
        if rep == 0:
            past = (day < cutoff) & (day >= cutoff - ACTIVE_DAYS)
            active = np.zeros(persons, dtype=bool)
            active[who[past]] = True
            last_day = np.full(persons, -1)
            np.maximum.at(last_day, who[day < cutoff], day[day < cutoff])
            actual = ~future
        else:
            none_future += ~future
    p_none = none_future / reps
    y = actual[active].astype(int)
    return {
        "oracle_roc_auc": float(roc_auc_score(y, p_none[active])),
        "recency_roc_auc": float(roc_auc_score(y, (cutoff - last_day)[active])),
        "active_persons": int(active.sum()),
        "churn_rate": float(y.mean()),
        "reps": reps,
    }
