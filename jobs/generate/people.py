"""Persons of one chunk: who they are, where they live, what they like, when they come and go.

A person is the ground truth behind the records: every source row the generator
writes is drawn from one person (or a household sharing an email). Persons are
grouped into households of 1-4 inside a chunk, so duplicates and shared emails
never cross a chunk.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from jobs.common.rates import VariationRates
from jobs.generate.catalog import CATEGORIES, Catalog
from jobs.generate.pools import GMAIL_DOMAINS, Pools
from jobs.generate.timeline import DAY, YEAR_DAYS, Window

NEVER = np.int64(2**62)  # a timestamp after everything: "no churn", "no change"
IDENTITY_SOURCES = ("crm_customers", "web_accounts", "loyalty_members")
DEVICES = np.array(["desktop", "mobile", "tablet", "app"], dtype=object)
# Valid UK mobile ranges (07400-07599, 07701-07999 except 07911): `phonenumbers` accepts them all.
_MOBILE_PREFIXES = np.array(
    [p for p in list(range(7400, 7600)) + list(range(7701, 8000)) if p != 7911], dtype=np.int64
)
# Shopping, browsing and email opens wind down over the last FADE_DAYS before a churn date.
FADE_DAYS = 60
FADE_FLOOR = 0.2
CHANGE_NONE, CHANGE_ADDRESS, CHANGE_PHONE, CHANGE_EMAIL = 0, 1, 2, 3


class Registry:
    """Emails and phone numbers handed out so far in the run, kept as sorted 64-bit hashes.

    Unrelated persons must never share an email or a phone number by accident (only
    households share on purpose), across chunks too; this costs 8 bytes per value.
    Emails are compared as the mailbox they deliver to: john.smith@gmail.com and
    johnsmith@googlemail.com are one address, which nobody else can sign up for.
    """

    def __init__(self) -> None:
        self._emails = np.zeros(0, dtype=np.uint64)
        self._phones = np.zeros(0, dtype=np.int64)

    @staticmethod
    def _clash(keys: np.ndarray, taken: np.ndarray) -> np.ndarray:
        """True where a key is already taken or repeats an earlier key of the same batch."""
        clash = np.zeros(len(keys), dtype=bool)
        if len(taken):
            at = np.minimum(np.searchsorted(taken, keys), len(taken) - 1)
            clash = taken[at] == keys
        order = np.argsort(keys, kind="stable")
        repeat = np.zeros(len(keys), dtype=bool)
        repeat[order[1:]] = keys[order[1:]] == keys[order[:-1]]
        return clash | repeat

    @staticmethod
    def _mailbox_hashes(emails: np.ndarray) -> np.ndarray:
        parts = pd.Series(emails, dtype=object).str.rpartition("@")
        gmail = parts[2].isin(GMAIL_DOMAINS).to_numpy()
        mailbox = np.where(gmail, parts[0].str.replace(".", "", regex=False) + "@gmail.com", emails)
        return pd.util.hash_array(mailbox.astype(object))

    def email_clash(self, emails: np.ndarray) -> np.ndarray:
        return self._clash(self._mailbox_hashes(emails), self._emails)

    def phone_clash(self, phones: np.ndarray) -> np.ndarray:
        return self._clash(phones, self._phones)

    def claim(self, emails: np.ndarray, phones: np.ndarray) -> None:
        # Both arrays stay sorted; a stable sort of two sorted runs is a linear merge.
        new_emails = np.sort(self._mailbox_hashes(emails))
        self._emails = np.sort(np.concatenate([self._emails, new_emails]), kind="stable")
        self._phones = np.sort(np.concatenate([self._phones, np.sort(phones[phones > 0])]), kind="stable")


@dataclass
class Persons:
    """One chunk of persons; arrays of length `n` unless noted."""

    n: int
    gid: np.ndarray  # global person number, 0-based; person_id is P + gid + 1
    household: np.ndarray  # local index of the household head
    gender: np.ndarray  # "F", "M", "X"
    first: np.ndarray  # index into pools.first_names
    last: np.ndarray  # index into pools.last_names
    dob: np.ndarray  # days since epoch
    street: np.ndarray
    city: np.ndarray
    postcode: np.ndarray
    town: np.ndarray  # town index
    moved: np.ndarray  # moved house before the window; one source still has the old address
    old_street: np.ndarray
    old_city: np.ndarray
    old_postcode: np.ndarray
    stale_source: np.ndarray  # index into IDENTITY_SOURCES that kept the old address
    email: np.ndarray  # canonical primary email (lower case)
    email_owner: np.ndarray  # local index whose email this is (the household head when shared)
    alt_email: np.ndarray  # a second address of the person (used for second accounts, changes)
    phone: np.ndarray  # national number without the leading 0 (7400123456), 0 for none
    signup_ts: np.ndarray
    churn_ts: np.ndarray  # NEVER when the person does not churn
    erasure_ts: np.ndarray  # NEVER unless the person asks to be erased
    in_source: np.ndarray  # [n, 3] bool: has a record in crm / web / loyalty
    affinity: np.ndarray  # [n, K] category affinity (Dirichlet)
    fav_brand: np.ndarray
    brand_loyalty: np.ndarray
    price_sensitivity: np.ndarray
    engagement: np.ndarray  # chance to open a marketing email
    online_pref: np.ndarray
    web_rate: np.ndarray
    store_rate: np.ndarray
    buy_rate: np.ndarray  # chance a browsing session ends in an order
    consent_p: np.ndarray
    visitor: np.ndarray  # browses the web shop
    logs_in: np.ndarray  # logs in when browsing (has an account and uses it)
    cookie_start: np.ndarray  # offset into the chunk's cookie arrays
    n_cookies: np.ndarray
    cookie_device: np.ndarray  # per cookie (length = total cookies): device name
    home_store: np.ndarray
    staple: np.ndarray  # catalog position bought on a rhythm, or -1
    staple_cycle: np.ndarray  # days between replenishments
    staple_phase: np.ndarray
    staple_online: np.ndarray
    change_kind: np.ndarray  # CHANGE_* inside the window
    change_ts: np.ndarray
    new_street: np.ndarray
    new_city: np.ndarray
    new_postcode: np.ndarray
    new_phone: np.ndarray

    @property
    def last_ts(self) -> np.ndarray:
        """Last second of activity: before churn, erasure or the window end."""
        return np.minimum(self.churn_ts, self.erasure_ts)

    def active_until(self, window: Window) -> np.ndarray:
        return np.minimum(self.last_ts, window.end_ts)

    def fade(self, person: np.ndarray, ts: np.ndarray | int) -> np.ndarray:
        """How much of their usual activity `person` keeps at `ts`: a churner winds down.

        1 until `FADE_DAYS` before the churn date, then falling linearly to `FADE_FLOOR`.
        """
        left = (self.churn_ts[person] - np.asarray(ts)).astype(np.float64)
        return np.clip(left / (FADE_DAYS * DAY), FADE_FLOOR, 1.0)

    @property
    def top_category(self) -> np.ndarray:
        return self.affinity.argmax(axis=1)


def _pick(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    return np.searchsorted(np.cumsum(weights), rng.random(size) * weights.sum(), side="right").clip(
        0, len(weights) - 1
    )


def _addresses(rng: np.random.Generator, pools: Pools, n: int, town: np.ndarray | None = None):
    """Random UK addresses: (street line, town name, postcode, town index)."""
    if town is None:
        town = _pick(rng, pools.town_weights, n)
    district = 1 + (rng.random(n) * pools.town_districts[town]).astype(np.int64)
    sector = rng.integers(0, 10, size=n)
    unit = rng.integers(0, len(pools.inward_units), size=n)
    street = rng.integers(0, len(pools.streets), size=n)
    number = 1 + np.minimum(rng.geometric(0.03, size=n), 240)
    flat = np.where(rng.random(n) < 0.12, rng.integers(1, 25, size=n), 0)
    names = pools.streets[street]
    lines = np.array(
        [f"Flat {f}, {h} {s}" if f else f"{h} {s}"
         for f, h, s in zip(flat.tolist(), number.tolist(), names, strict=True)],
        dtype=object,
    )
    areas = pools.town_areas[town]
    units = pools.inward_units[unit]
    postcodes = np.array(
        [f"{a}{d} {s}{u}" for a, d, s, u in zip(areas, district.tolist(), sector.tolist(), units, strict=True)],
        dtype=object,
    )
    return lines, pools.towns[town], postcodes, town


_EMAIL_PATTERNS = np.array([0.22, 0.12, 0.08, 0.05, 0.10, 0.04, 0.14, 0.10, 0.08, 0.07])


def _email_locals(rng: np.random.Generator, ft: np.ndarray, lt: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """Local parts people choose: john.smith, jsmith84, smithj, john_smith123 ..."""
    n = len(ft)
    pattern = _pick(rng, _EMAIL_PATTERNS, n)
    num = rng.integers(1, 1000, size=n)
    out = np.empty(n, dtype=object)
    parts = zip(pattern.tolist(), ft, lt, yy.tolist(), num.tolist(), strict=True)
    for i, (p, f, la, y, k) in enumerate(parts):
        if p == 0:
            out[i] = f"{f}.{la}"
        elif p == 1:
            out[i] = f"{f}{la}"
        elif p == 2:
            out[i] = f"{f[0]}{la}"
        elif p == 3:
            out[i] = f"{f}_{la}"
        elif p == 4:
            out[i] = f"{f}.{la}{y:02d}"
        elif p == 5:
            out[i] = f"{la}.{f}"
        elif p == 6:
            out[i] = f"{f}{k}"
        elif p == 7:
            out[i] = f"{f}{la}{y:02d}"
        elif p == 8:
            out[i] = f"{f[0]}{la}{k}"
        else:
            out[i] = f"{la}{f[0]}{k}"
    return out


def _unique_emails(
    rng: np.random.Generator, pools: Pools, locals_: np.ndarray, registry: Registry, taken: np.ndarray | None
) -> np.ndarray:
    """Attach domains and re-draw any address someone else already has."""
    n = len(locals_)
    domains = pools.domains[_pick(rng, pools.domain_weights, n)]
    emails = locals_ + "@" + domains
    for _ in range(20):
        clash = registry.email_clash(emails if taken is None else np.concatenate([taken, emails]))
        clash = clash[len(taken):] if taken is not None else clash
        if not clash.any():
            return emails
        idx = np.flatnonzero(clash)
        # Someone has it already: like a real sign-up form, people add digits.
        suffix = rng.integers(1, 10_000, size=len(idx)).astype(str).astype(object)
        emails[idx] = locals_[idx] + suffix + "@" + pools.domains[_pick(rng, pools.domain_weights, len(idx))]
    raise RuntimeError("could not draw unique email addresses")  # pragma: no cover


def _unique_phones(rng: np.random.Generator, n: int, registry: Registry, taken: np.ndarray | None) -> np.ndarray:
    phones = _MOBILE_PREFIXES[rng.integers(0, len(_MOBILE_PREFIXES), size=n)] * 1_000_000 + rng.integers(
        0, 1_000_000, size=n
    )
    for _ in range(20):
        all_ = phones if taken is None else np.concatenate([taken, phones])
        clash = registry.phone_clash(all_)[0 if taken is None else len(taken):]
        if not clash.any():
            return phones
        idx = np.flatnonzero(clash)
        phones[idx] = _MOBILE_PREFIXES[rng.integers(0, len(_MOBILE_PREFIXES), size=len(idx))] * 1_000_000 + \
            rng.integers(0, 1_000_000, size=len(idx))
    raise RuntimeError("could not draw unique phone numbers")  # pragma: no cover


def make_persons(
    rng: np.random.Generator,
    n: int,
    first_gid: int,
    pools: Pools,
    catalog: Catalog,
    rates: VariationRates,
    window: Window,
    registry: Registry,
    n_stores_per_town: np.ndarray,
    store_offset: np.ndarray,
) -> Persons:
    """Draw `n` persons (global numbers `first_gid`..) with their households and latent tastes."""
    idx = np.arange(n)
    # Households of 1-4 persons, members next to each other.
    sizes = rng.choice([1, 2, 3, 4], size=n, p=[0.42, 0.33, 0.15, 0.10])
    ends = np.cumsum(sizes)
    sizes = sizes[: int(np.searchsorted(ends, n)) + 1]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    household = np.repeat(starts, sizes)[:n]
    is_head = household == idx
    hh_size = np.bincount(household, minlength=n)[household]

    gender = np.where(rng.random(n) < 0.505, "F", "M").astype(object)
    gender[rng.random(n) < 0.01] = "X"
    female = gender == "F"
    female |= (gender == "X") & (rng.random(n) < 0.5)
    first = np.where(
        female,
        _pick(rng, pools.first_weights_female, n),
        pools.n_female + _pick(rng, pools.first_weights_male, n),
    )
    own_last = _pick(rng, pools.last_weights, n)
    keeps_name = rng.random(n) < 0.85
    last = np.where(is_head | ~keeps_name, own_last, own_last[household])
    age = np.where(is_head, 24 + rng.beta(2.0, 2.2, size=n) * 58, 18 + rng.beta(1.6, 2.2, size=n) * 67)
    dob = (window.start_day - age * 365.25).astype(np.int64)

    street, city, postcode, town = _addresses(rng, pools, n)
    street, city, postcode, town = street[household], city[household], postcode[household], town[household]
    moved = (rng.random(n) < rates.moved_address)[household]
    same_town = rng.random(n) < 0.5
    o_street, o_city, o_postcode, _ = _addresses(rng, pools, n, np.where(same_town, town, _pick(
        rng, pools.town_weights, n)))
    o_street, o_city, o_postcode = o_street[household], o_city[household], o_postcode[household]

    # Emails: own address for everyone, then a share of persons switch to their household's one.
    ft = pools.first_token[first]
    lt = pools.last_token[last]
    yy = (1970 + dob // 365.25).astype(np.int64) % 100
    email = _unique_emails(rng, pools, _email_locals(rng, ft, lt, yy), registry, None)
    alt = _unique_emails(rng, pools, _email_locals(rng, ft, lt, yy), registry, email)
    multi = hh_size > 1
    n_multi_members = int((multi & ~is_head).sum())
    share = 0.0 if n_multi_members == 0 else min(1.0, rates.shared_household_email * n / n_multi_members)
    shares_email = (rng.random(n) < share)[household] & multi & ~is_head
    email_owner = np.where(shares_email, household, idx)
    phone = _unique_phones(rng, n, registry, None)
    phone[rng.random(n) < 0.06] = 0

    # Sign-ups over about three years before the window (more recent ones more often) and inside it.
    span = 3 * YEAR_DAYS + window.days
    growth = 0.5 / YEAR_DAYS
    u = rng.random(n)
    offset_days = np.log1p(u * np.expm1(growth * span)) / growth  # density grows with exp(growth * t)
    signup_ts = window.start_ts - 3 * YEAR_DAYS * DAY + (offset_days * DAY).astype(np.int64)
    signup_ts = np.minimum(signup_ts, window.end_ts - 3600)
    churns = rng.random(n) < rates.churn
    inside = rng.random(n) < 0.35
    lo_in = np.maximum(signup_ts + 3 * DAY, window.start_ts)
    lo_before = signup_ts + 7 * DAY
    before_ok = lo_before < window.start_ts - DAY
    churn_ts = np.where(
        inside | ~before_ok,
        lo_in + (rng.random(n) * np.maximum(window.end_ts - lo_in, 0)).astype(np.int64),
        lo_before + (rng.random(n) * np.maximum(window.start_ts - lo_before, 0)).astype(np.int64),
    )
    churn_ts = np.where(churns & (churn_ts < window.end_ts), churn_ts, NEVER)

    in_source = np.column_stack([
        rng.random(n) < rates.crm_share,
        rng.random(n) < rates.web_account_share,
        rng.random(n) < rates.loyalty_share,
    ])

    # Tastes: a concentrated Dirichlet over categories, a favourite brand in the top category.
    k = len(CATEGORIES)
    base = np.array([c.share for c in CATEGORIES])
    affinity = rng.dirichlet(0.25 * k * base / base.sum(), size=n).astype(np.float32)
    top = affinity.argmax(axis=1)
    b_local = (rng.random(n)[:, None] > catalog.brand_cdf[top]).sum(axis=1)
    fav_brand = catalog.category_brands[top, np.minimum(b_local, catalog.category_brands.shape[1] - 1)]
    brand_loyalty = rng.uniform(0.25, 0.8, size=n)
    price_sensitivity = rng.beta(2.0, 2.0, size=n)
    engagement = rng.beta(1.3, 3.2, size=n)
    online_pref = rng.beta(2.0, 2.0, size=n)
    web_rate = rng.lognormal(0.0, 0.7, size=n)
    store_rate = rng.lognormal(0.0, 0.6, size=n)
    buy_rate = np.clip(rng.beta(2.0, 3.0, size=n) * 0.85, 0.02, 0.9)
    consent_p = rng.beta(1.2, 2.0, size=n)

    # Web visitors: every account holder, plus enough anonymous browsers that `never_login` of
    # all visitors never log in (account holders make up the rest when that is not enough).
    has_account = in_source[:, 1]
    n_acc, n_non = int(has_account.sum()), int((~has_account).sum())
    r = rates.never_login
    want_anon = r / (1 - r) * n_acc if r < 1 else float(n)
    if want_anon <= n_non:
        p_anon, q = want_anon / max(1, n_non), 0.0
    else:
        # Not enough persons without an account: some account holders never log in either,
        # x of them with (n_non + x) / (n_non + n_acc) = r.
        p_anon = 1.0
        q = min(1.0, (r * (n_non + n_acc) - n_non) / max(1, n_acc))
    visitor = has_account | (rng.random(n) < p_anon)
    logs_in = has_account & (rng.random(n) >= q)

    n_cookies = rng.choice([1, 2, 3], size=n, p=[0.5, 0.35, 0.15])
    cookie_start = np.concatenate([[0], np.cumsum(n_cookies)[:-1]])
    cookie_device = DEVICES[_pick(rng, np.array([0.4, 0.35, 0.08, 0.17]), int(n_cookies.sum()))]

    store_u = rng.random(n)
    home_store = store_offset[town] + (store_u * n_stores_per_town[town]).astype(np.int64)

    # Replenishment rhythm: some persons buy one consumable again and again.
    repeat_cats = np.array([c.repeatable for c in CATEGORIES])
    rep_aff = np.where(repeat_cats[None, :], affinity, -1.0)
    rep_cat = rep_aff.argmax(axis=1)
    has_staple = (rep_aff.max(axis=1) > 0.12) & (rng.random(n) < 0.45)
    staple = catalog.choose(rng, rep_cat, fav_brand, brand_loyalty, price_sensitivity, np.zeros(n, dtype=np.int64))
    staple = np.where(has_staple, staple, -1)
    staple_cycle = rng.integers(12, 36, size=n)
    staple_phase = rng.integers(0, 36, size=n) % staple_cycle
    staple_online = rng.random(n) < online_pref

    # Changes inside the window: a move, a new phone or a new email address.
    change_kind = np.where(
        rng.random(n) < 0.03 * window.days / 30,
        rng.choice([CHANGE_ADDRESS, CHANGE_PHONE, CHANGE_EMAIL], size=n, p=[0.5, 0.25, 0.25]),
        CHANGE_NONE,
    )
    change_ts = window.start_ts + (rng.random(n) * window.days * DAY).astype(np.int64)
    change_ts = np.where(change_kind > 0, change_ts, NEVER)
    n_street, n_city, n_postcode, _ = _addresses(rng, pools, n)
    new_phone = _unique_phones(rng, n, registry, phone)
    registry.claim(np.concatenate([email, alt]), np.concatenate([phone, new_phone]))

    stale_source = rng.integers(0, 3, size=n)
    return Persons(
        n=n, gid=first_gid + idx, household=household, gender=gender, first=first, last=last, dob=dob,
        street=street, city=city, postcode=postcode, town=town, moved=moved, old_street=o_street,
        old_city=o_city, old_postcode=o_postcode, stale_source=stale_source, email=email[email_owner],
        email_owner=email_owner, alt_email=alt, phone=phone, signup_ts=signup_ts, churn_ts=churn_ts,
        erasure_ts=np.full(n, NEVER), in_source=in_source, affinity=affinity, fav_brand=fav_brand,
        brand_loyalty=brand_loyalty, price_sensitivity=price_sensitivity, engagement=engagement,
        online_pref=online_pref, web_rate=web_rate, store_rate=store_rate, buy_rate=buy_rate,
        consent_p=consent_p, visitor=visitor, logs_in=logs_in, cookie_start=cookie_start,
        n_cookies=n_cookies, cookie_device=cookie_device, home_store=home_store, staple=staple,
        staple_cycle=staple_cycle, staple_phase=staple_phase, staple_online=staple_online,
        change_kind=change_kind, change_ts=change_ts, new_street=n_street, new_city=n_city,
        new_postcode=n_postcode, new_phone=new_phone,
    )


def email_key(persons: Persons, local: np.ndarray, alt: np.ndarray) -> np.ndarray:
    """A number naming a canonical mailbox: 2 * owner's gid (+1 for the person's second address)."""
    owner = np.where(alt, persons.gid[local], persons.gid[persons.email_owner[local]])
    return owner * 2 + alt.astype(np.int64)


def persons_holding(persons: Persons, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(key index, local person) pairs: every person who uses the mailbox `keys[i]`."""
    primary = persons.gid[persons.email_owner] * 2
    secondary = persons.gid * 2 + 1
    all_keys = np.concatenate([primary, secondary])
    all_people = np.concatenate([np.arange(persons.n), np.arange(persons.n)])
    order = np.argsort(all_keys, kind="stable")
    all_keys, all_people = all_keys[order], all_people[order]
    lo = np.searchsorted(all_keys, keys, side="left")
    hi = np.searchsorted(all_keys, keys, side="right")
    counts = hi - lo
    key_idx = np.repeat(np.arange(len(keys)), counts)
    within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return key_idx, all_people[np.repeat(lo, counts) + within]


def gmail_like(emails: np.ndarray) -> np.ndarray:
    return np.array([e.rsplit("@", 1)[-1] in GMAIL_DOMAINS for e in emails], dtype=bool)
