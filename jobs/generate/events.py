"""Behaviour inside the window: web sessions and online orders, store baskets, email engagement.

What a person views and buys follows their latent tastes (category affinity, favourite
brand, price sensitivity); activity follows the weekly rhythm and the promotion; some
persons replenish one consumable on a cycle; churned persons go quiet. A web session
that converts places an order whose lines are the SKUs added to the cart, and its
purchase events carry that order_id.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jobs.common.rates import VariationRates
from jobs.generate.catalog import CATEGORIES, Catalog
from jobs.generate.identity import IdentityRecords, format_postcode, vary_emails
from jobs.generate.people import CHANGE_ADDRESS, Persons
from jobs.generate.timeline import DAY, Window

# Sessions per visitor-day and store visits per person-day at an average weekday.
_WEB_SESSION_RATE = 0.022
_STORE_VISIT_RATE = 0.0095
_WEB_HOURS = np.array([1, 0.6, 0.3, 0.2, 0.2, 0.4, 1, 2, 3, 3.5, 4, 4.5, 5.5, 5.5, 4.5, 4.2, 4.3, 5, 6, 7.5,
                       8, 7, 4.5, 2.5])
_STORE_HOURS = np.array([0, 0, 0, 0, 0, 0, 0, 0, 2, 4, 6, 7.5, 8.5, 8, 6.5, 6, 6.5, 7.5, 6, 4, 2.5, 1, 0, 0])
SHOP_URL = "https://www.example-retail.co.uk"


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    send_ts: int
    category: int
    share: float  # share of the subscribers the campaign goes to


def seq_ids(prefix: str, chunk_no: int, n: int) -> np.ndarray:
    """`prefix` + 5-digit chunk + 9-digit sequence: unique across chunks and reproducible."""
    base = chunk_no * 1_000_000_000
    return np.array([f"{prefix}{x:014d}" for x in range(base + 1, base + n + 1)], dtype=object)


def hex_ids(rng: np.random.Generator, n: int, width: int = 16) -> np.ndarray:
    raw = rng.bytes(n * width // 2).hex()
    return np.array([raw[i * width: (i + 1) * width] for i in range(n)], dtype=object)


def _affinity_draw(rng: np.random.Generator, affinity: np.ndarray, person: np.ndarray) -> np.ndarray:
    cum = np.cumsum(affinity[person], axis=1)
    u = rng.random(len(person))[:, None] * cum[:, -1:]
    return np.minimum((u > cum).sum(axis=1), affinity.shape[1] - 1)


def _times(rng: np.random.Generator, day: np.ndarray, hours: np.ndarray, window: Window) -> np.ndarray:
    cdf = np.cumsum(hours) / hours.sum()
    hour = np.searchsorted(cdf, rng.random(len(day)), side="right")
    return window.start_ts + day * DAY + hour * 3600 + rng.integers(0, 3600, size=len(day))


def _daily_counts(
    rng: np.random.Generator, persons: Persons, rate: np.ndarray, window: Window
) -> tuple[np.ndarray, np.ndarray]:
    """(person, day) of each visit: Poisson per active person-day, scaled by the day's weight.

    A churner's rate winds down before the churn date (Persons.fade).
    """
    weights = window.day_weights()
    until = persons.active_until(window)
    everyone = np.arange(persons.n)
    who, when = [], []
    for d in range(window.days):
        lo = window.start_ts + d * DAY
        active = (persons.signup_ts < lo + DAY) & (until > lo)
        k = rng.poisson(rate * weights[d] * active * persons.fade(everyone, lo))
        idx = np.repeat(np.arange(persons.n), k)
        who.append(idx)
        when.append(np.full(len(idx), d))
    return np.concatenate(who), np.concatenate(when)


def _replenishments(persons: Persons, window: Window, online: bool, rng: np.random.Generator):
    has = (persons.staple >= 0) & (persons.staple_online == online)
    people = np.flatnonzero(has)
    cycles = persons.staple_cycle[people]
    first = persons.staple_phase[people]
    n_occ = np.maximum(0, (window.days - 1 - first) // cycles + 1)
    person = np.repeat(people, n_occ)
    k = np.arange(int(n_occ.sum())) - np.repeat(np.cumsum(n_occ) - n_occ, n_occ)
    day = np.repeat(first, n_occ) + k * np.repeat(cycles, n_occ)
    keep = rng.random(len(day)) < 0.85
    return person[keep], day[keep]


def _in_life(persons: Persons, person: np.ndarray, ts: np.ndarray, window: Window) -> np.ndarray:
    return (ts >= persons.signup_ts[person]) & (ts < persons.active_until(window)[person])


def _line_money(rng, catalog: Catalog, pos: np.ndarray, day: np.ndarray, window: Window):
    """Quantity, unit price and discount (pence) of basket lines."""
    n = len(pos)
    repeatable = np.array([c.repeatable for c in CATEGORIES])[catalog.category[pos]]
    qty = 1 + np.where(repeatable, rng.poisson(0.5, size=n), (rng.random(n) < 0.05).astype(np.int64))
    unit = catalog.price_on(day, pos)
    promo = window.is_promo(day)
    pct = np.where(promo & (rng.random(n) < 0.6), rng.choice([0.15, 0.2, 0.25], size=n),
                   np.where(rng.random(n) < 0.08, 0.10, 0.0))
    discount = np.round(unit * qty * pct).astype(np.int64)
    return qty, unit, discount


def _accounts_by_person(persons: Persons, accounts: IdentityRecords):
    """Each person's primary account (first created) and second account, as record indexes."""
    primary = np.full(persons.n, -1)
    second = np.full(persons.n, -1)
    rev = np.arange(len(accounts.person))[::-1]
    primary[accounts.person[rev]] = rev
    dup = np.flatnonzero(accounts.is_dup)
    second[accounts.person[dup]] = dup
    both = second >= 0
    # The later-created of the two is the second account.
    swap = both & (second < primary)
    primary[swap], second[swap] = second[swap], primary[swap].copy()
    return primary, second


def web_and_orders(
    rng: np.random.Generator,
    persons: Persons,
    accounts: IdentityRecords,
    catalog: Catalog,
    window: Window,
    rates: VariationRates,
    chunk_no: int,
    cookie_ids: np.ndarray,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """web_events, orders and order_lines rows of a chunk, and each order's person."""
    rate = _WEB_SESSION_RATE * persons.web_rate * (0.4 + 1.2 * persons.online_pref) * persons.visitor
    s_person, s_day, start, replenish = _occasions(rng, persons, window, rate, True, _WEB_HOURS, persons.visitor)
    n_s = len(s_person)

    cookie = persons.cookie_start[s_person] + (rng.random(n_s) * persons.n_cookies[s_person]).astype(np.int64)
    focus = _affinity_draw(rng, persons.affinity, s_person)
    staple = persons.staple[s_person]
    focus = np.where(replenish, catalog.category[np.maximum(staple, 0)], focus)
    converts = replenish | (rng.random(n_s) < persons.buy_rate[s_person])
    n_search = rng.binomial(2, 0.3, size=n_s)
    n_cart = np.where(converts, 1 + rng.poisson(1.3, size=n_s),
                      np.where(rng.random(n_s) < 0.25, 1 + rng.poisson(0.4, size=n_s), 0))
    n_view = np.maximum(n_cart, 1) + rng.poisson(np.where(converts, 0.8, 1.4))
    n_buy = np.where(converts, n_cart, 0)
    n_ev = n_search + n_view + n_cart + n_buy

    # Login: remembered on the device, logs in part-way (anonymous events first) or stays anonymous.
    primary, second = _accounts_by_person(persons, accounts)
    acc = primary[s_person]
    use_second = (second[s_person] >= 0) & (rng.random(n_s) < 0.3)
    acc = np.where(use_second & (accounts.created_ts[np.maximum(second[s_person], 0)] <= start),
                   second[s_person], acc)
    can_login = persons.logs_in[s_person] & (acc >= 0)
    can_login &= np.where(acc >= 0, accounts.created_ts[np.maximum(acc, 0)] <= start, False)
    mode = rng.choice(3, size=n_s, p=[0.6, 0.25, 0.15])
    # A shopper who means to buy usually logs in to check out.
    mode = np.where(converts & (mode == 2) & (rng.random(n_s) < 0.5), 1, mode)
    pre_buy = n_search + n_view + n_cart
    login_at = np.where(mode == 0, 0, np.where(mode == 1, 1 + (rng.random(n_s) * np.maximum(pre_buy - 1, 1))
                                                .astype(np.int64), 1 << 30))
    login_at = np.where(can_login, login_at, 1 << 30)

    # Events of all sessions, laid out session after session.
    ev_session = np.repeat(np.arange(n_s), n_ev)
    first_ev = np.cumsum(n_ev) - n_ev
    k = np.arange(len(ev_session)) - first_ev[ev_session]
    ns, nv, nc = n_search[ev_session], n_view[ev_session], n_cart[ev_session]
    kind = np.select([k < ns, k < ns + nv, k < ns + nv + nc], [0, 1, 2], 3)  # search, view, cart, purchase
    gaps = rng.exponential(40.0, size=len(ev_session)).astype(np.int64) + 3
    gaps[k == 0] = 0
    gaps[kind == 3] = np.where(k[kind == 3] == (ns + nv + nc)[kind == 3], 60 + rng.integers(0, 240, size=int(
        (kind == 3).sum())), 0)
    csum = np.cumsum(gaps)
    ts = start[ev_session] + csum - csum[first_ev][ev_session]

    # What is viewed: mostly the session's focus category, sometimes another favourite.
    n_e = len(ev_session)
    p = s_person[ev_session]
    ev_day = s_day[ev_session]
    view = kind == 1
    v_idx = np.flatnonzero(view)
    v_cat = np.where(rng.random(len(v_idx)) < 0.8, focus[ev_session[v_idx]],
                     _affinity_draw(rng, persons.affinity, p[v_idx]))
    v_pos = catalog.choose(rng, v_cat, persons.fav_brand[p[v_idx]], persons.brand_loyalty[p[v_idx]],
                           persons.price_sensitivity[p[v_idx]], ev_day[v_idx])
    # The first view of a replenishment session is the staple.
    first_view = v_idx[(k[v_idx] == ns[v_idx]) & replenish[ev_session[v_idx]]]
    sku_pos = np.full(n_e, -1)
    sku_pos[v_idx] = v_pos
    sku_pos[first_view] = catalog.replacement[ev_day[first_view], staple[ev_session[first_view]]]
    # Cart j and purchase j are the SKU of view j.
    cart = kind == 2
    buy = kind == 3
    view_of_cart = np.flatnonzero(cart) - nv[cart]
    view_of_buy = np.flatnonzero(buy) - nv[buy] - nc[buy]
    sku_pos[cart] = sku_pos[view_of_cart]
    sku_pos[buy] = sku_pos[view_of_buy]
    search_q = np.full(n_e, None, dtype=object)
    s_idx = np.flatnonzero(kind == 0)
    s_cat = focus[ev_session[s_idx]]
    for c in range(len(CATEGORIES)):
        sel = s_idx[s_cat == c]
        q = catalog.queries[c]
        search_q[sel] = q[rng.integers(0, len(q), size=len(sel))]

    logged = k >= login_at[ev_session]
    ev_account = np.full(n_e, None, dtype=object)
    ev_account[logged] = accounts.record_id[acc[ev_session[logged]]]

    # Orders: one per converting session, placed at its first purchase event.
    conv = np.flatnonzero(converts)
    order_ids = seq_ids("O", chunk_no, len(conv))
    order_of_session = np.full(n_s, -1)
    order_of_session[conv] = np.arange(len(conv))
    ev_order = np.full(n_e, None, dtype=object)
    ev_order[buy] = order_ids[order_of_session[ev_session[buy]]]
    buy_idx = np.flatnonzero(buy)
    first_buy = buy_idx[k[buy_idx] == (ns + nv + nc)[buy_idx]]
    o_ts = ts[first_buy]
    o_session = ev_session[first_buy]
    o_person = s_person[o_session]
    o_logged = logged[first_buy]
    o_account = np.where(o_logged, ev_account[first_buy], None)
    # Checkout email: the account's email when logged in, else what the guest types.
    guest_email = vary_emails(rng, persons.email[o_person], rates)
    acc_email = accounts.email[np.maximum(acc[o_session], 0)]
    o_email = np.where(o_logged & (acc_email != None), acc_email, guest_email)  # noqa: E711
    moved = (persons.change_kind[o_person] == CHANGE_ADDRESS) & (o_ts >= persons.change_ts[o_person])
    collect = rng.random(len(conv)) < 0.06
    ship_street = np.where(moved, persons.new_street[o_person], persons.street[o_person])
    ship_city = np.where(moved, persons.new_city[o_person], persons.city[o_person])
    ship_pc = np.where(moved, persons.new_postcode[o_person], persons.postcode[o_person])
    ship_pc = format_postcode(ship_pc, rng.choice(4, size=len(conv), p=[0.85, 0.07, 0.06, 0.02]))
    for col in (ship_street, ship_city, ship_pc):
        col[collect] = None
    o_device = persons.cookie_device[cookie[o_session]]

    l_pos = sku_pos[buy_idx]
    l_day = ev_day[buy_idx]
    qty, unit, disc = _line_money(rng, catalog, l_pos, l_day, window)
    l_order = order_of_session[ev_session[buy_idx]]
    line_no = k[buy_idx] - (ns + nv + nc)[buy_idx] + 1
    totals = np.bincount(l_order, weights=qty * unit - disc, minlength=len(conv)).astype(np.int64)

    session_ids = hex_ids(rng, n_s, 20)
    event_ids = seq_ids("WE", chunk_no, n_e)
    ev_cookie = cookie_ids[cookie[ev_session]]
    web = {
        "event_id": event_ids,
        "event_ts": ts,
        "event_type": np.array(["search", "view", "add_to_cart", "purchase"], dtype=object)[kind],
        "cookie_id": ev_cookie,
        "account_id": ev_account,
        "session_id": session_ids[ev_session],
        "device": persons.cookie_device[cookie[ev_session]],
        "sku": np.where(sku_pos >= 0, catalog.sku[np.maximum(sku_pos, 0)], None),
        "search_query": search_q,
        "order_id": ev_order,
        "_day": window.file_day(ts),
        "_sort": ts,
    }
    orders = {
        "order_id": order_ids,
        "account_id": o_account,
        "email": o_email,
        "order_ts": o_ts,
        "channel": np.where(o_device == "app", "app", "web").astype(object),
        "currency": np.full(len(conv), "GBP", dtype=object),
        "order_total": totals,
        "ship_street": ship_street,
        "ship_city": ship_city,
        "ship_postcode": ship_pc,
        "cookie_id": cookie_ids[cookie[o_session]],
        "_day": window.file_day(o_ts),
        "_sort": o_ts,
    }
    lines = {
        "order_id": order_ids[l_order],
        "line_no": line_no,
        "sku": catalog.sku[l_pos],
        "quantity": qty,
        "unit_price": unit,
        "discount": disc,
        "_day": window.file_day(ts[buy_idx]),
        "_sort": o_ts[l_order] * 64 + line_no,
    }
    # Drop events after the window end (a session started late on the last day).
    keep_ev = ts < window.end_ts
    web = {k_: v[keep_ev] for k_, v in web.items()}
    keep_o = o_ts < window.end_ts
    orders = {k_: v[keep_o] for k_, v in orders.items()}
    keep_l = keep_o[l_order]
    lines = {k_: v[keep_l] for k_, v in lines.items()}
    return web, orders, lines, o_person[keep_o]


def store_baskets(
    rng: np.random.Generator,
    persons: Persons,
    loyalty: IdentityRecords,
    catalog: Catalog,
    window: Window,
    rates: VariationRates,
    chunk_no: int,
    n_stores: int,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """pos_transactions rows (one per line) of a chunk, each transaction's id and person."""
    member = persons.in_source[:, 2]
    rate = _STORE_VISIT_RATE * persons.store_rate * (1.6 - 1.2 * persons.online_pref) * np.where(member, 1.6, 1.0)
    t_person, t_day, ts, replenish = _occasions(rng, persons, window, rate, False, _STORE_HOURS)
    n_t = len(t_person)

    n_lines = 1 + rng.poisson(1.5, size=n_t)
    t_ids = seq_ids("T", chunk_no, n_t)
    store = np.where(rng.random(n_t) < 0.85, persons.home_store[t_person], rng.integers(0, n_stores, size=n_t))
    store_ids = np.array([f"ST{s:04d}" for s in range(n_stores)], dtype=object)

    # Loyalty card scanned for about 60% of members' baskets (once the card exists).
    first_card = np.full(persons.n, -1)
    rev = np.arange(len(loyalty.person))[::-1]
    first_card[loyalty.person[rev]] = rev
    second_card = np.full(persons.n, -1)
    dup = np.flatnonzero(loyalty.is_dup)
    second_card[loyalty.person[dup]] = dup
    card = first_card[t_person]
    alt = second_card[t_person]
    use_alt = (alt >= 0) & (rng.random(n_t) < 0.4)
    card = np.where(use_alt & (loyalty.created_ts[np.maximum(alt, 0)] <= ts), alt, card)
    scanned = (card >= 0) & (rng.random(n_t) < 0.6)
    scanned &= np.where(card >= 0, loyalty.created_ts[np.maximum(card, 0)] <= ts, False)
    t_loyalty = np.where(scanned, loyalty.record_id[np.maximum(card, 0)], None)
    wants_receipt = rng.random(n_t) < 0.12
    t_email = np.where(wants_receipt, vary_emails(rng, persons.email[t_person], rates), None)

    li = np.repeat(np.arange(n_t), n_lines)
    k = np.arange(len(li)) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines)
    lp = t_person[li]
    l_day = t_day[li]
    cat = _affinity_draw(rng, persons.affinity, lp)
    pos = catalog.choose(rng, cat, persons.fav_brand[lp], persons.brand_loyalty[lp],
                         persons.price_sensitivity[lp], l_day)
    staple_line = (k == 0) & replenish[li]
    pos[staple_line] = catalog.replacement[l_day[staple_line], persons.staple[lp[staple_line]]]
    qty, unit, disc = _line_money(rng, catalog, pos, l_day, window)
    rows = {
        "transaction_id": t_ids[li],
        "line_no": k + 1,
        "store_id": store_ids[store[li]],
        "transaction_ts": ts[li],
        "loyalty_id": t_loyalty[li],
        "receipt_email": t_email[li],
        "sku": catalog.sku[pos],
        "quantity": qty,
        "unit_price": unit,
        "discount": disc,
        "_day": window.file_day(ts[li]),
        "_sort": ts[li] * 64 + k,
    }
    return rows, t_ids, t_person


def build_campaigns(rng: np.random.Generator, window: Window) -> list[Campaign]:
    """About two campaigns a week (Tuesday and Friday mornings) plus one for the promotion."""
    out = []
    weekday = (window.start.weekday() + np.arange(window.days)) % 7
    promo_first = int(window.promo_days[0])
    for d in range(window.days):
        if weekday[d] in (1, 4) or d == promo_first:
            cat = int(rng.integers(0, len(CATEGORIES)))
            ts = window.start_ts + d * DAY + 7 * 3600 + int(rng.integers(0, 3 * 3600))
            label = window.label(d).replace("-", "")
            suffix = "P" if d == promo_first else "R"
            out.append(Campaign(f"CMP-{label}-{suffix}{cat:02d}", ts, cat, float(rng.uniform(0.18, 0.38))))
    return out


def email_engagement(
    rng: np.random.Generator,
    persons: Persons,
    subscribers: dict[str, np.ndarray],
    campaigns: list[Campaign],
    window: Window,
    chunk_no: int,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """email_events rows (send, open, click) of a chunk and the subscriber index of each row."""
    s = len(subscribers["email"])
    person = subscribers["person"]
    until = persons.active_until(window)[person]
    parts = []
    for camp in campaigns:
        aff = persons.affinity[person, camp.category]
        eligible = (subscribers["optin_ts"] < camp.send_ts) & (camp.send_ts < subscribers["optout_ts"])
        targeted = eligible & (rng.random(s) < np.minimum(1.0, camp.share * (0.6 + 3.0 * aff)))
        idx = np.flatnonzero(targeted)
        send = camp.send_ts + rng.integers(0, 5400, size=len(idx))
        # Opens depend on the person's engagement; they fall before churn and stop after it (or erasure).
        opens = rng.random(len(idx)) < persons.engagement[person[idx]] * 1.6 * persons.fade(person[idx], send)
        opens &= until[idx] > send
        open_ts = send + (rng.exponential(8 * 3600, size=len(idx))).astype(np.int64) + 30
        opens &= open_ts < np.minimum(until[idx], window.end_ts)
        clicks = opens & (rng.random(len(idx)) < 0.12 + 1.2 * aff[idx])
        click_ts = open_ts + rng.integers(5, 600, size=len(idx))
        clicks &= click_ts < window.end_ts
        url = f"{SHOP_URL}/c/{CATEGORIES[camp.category].slug}?utm_source=email&utm_campaign={camp.campaign_id}"
        for mask, kind, when in ((np.ones(len(idx), dtype=bool), "send", send), (opens, "open", open_ts),
                                 (clicks, "click", click_ts)):
            sel = idx[mask]
            parts.append({
                "event_ts": when[mask],
                "event_type": np.full(len(sel), kind, dtype=object),
                "email": subscribers["email"][sel],
                "campaign_id": np.full(len(sel), camp.campaign_id, dtype=object),
                "link_url": np.full(len(sel), url if kind == "click" else None, dtype=object),
                "_sub": sel,
            })
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        parts.append({"event_ts": empty, "event_type": np.zeros(0, dtype=object),
                      "email": np.zeros(0, dtype=object), "campaign_id": np.zeros(0, dtype=object),
                      "link_url": np.zeros(0, dtype=object), "_sub": empty})
    rows = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    keep = rows["event_ts"] < window.end_ts
    rows = {k: v[keep] for k, v in rows.items()}
    order = np.argsort(rows["event_ts"], kind="stable")
    rows = {k: v[order] for k, v in rows.items()}
    sub = rows.pop("_sub")
    rows = {"event_id": seq_ids("EE", chunk_no, len(sub)), **rows}
    rows["_day"] = window.file_day(rows["event_ts"])
    rows["_sort"] = rows["event_ts"]
    return rows, sub


def _occasions(
    rng: np.random.Generator,
    persons,
    window,
    rate: np.ndarray,
    online: bool,
    hours,
    replenishers: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shopping occasions (visits or sessions): daily draws plus replenishment trips.

    Keeps those inside each person's life and returns (person, day, time, is_replenishment)
    in time order per person. `replenishers` masks who may make replenishment trips.
    """
    o_person, o_day = _daily_counts(rng, persons, rate, window)
    r_person, r_day = _replenishments(persons, window, online, rng)
    if replenishers is not None:
        keep = replenishers[r_person]
        r_person, r_day = r_person[keep], r_day[keep]
    replenish = np.concatenate([np.zeros(len(o_person), dtype=bool), np.ones(len(r_person), dtype=bool)])
    person = np.concatenate([o_person, r_person])
    day = np.concatenate([o_day, r_day])
    ts = _times(rng, day, hours, window)
    ok = _in_life(persons, person, ts, window)
    # Replenishment trips wind down before churn like the daily draws.
    ok &= ~replenish | (rng.random(len(ts)) < persons.fade(person, ts))
    person, day, ts, replenish = person[ok], day[ok], ts[ok], replenish[ok]
    order = np.lexsort((person, ts))
    return person[order], day[order], ts[order], replenish[order]
