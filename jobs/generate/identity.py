"""Identity records: `crm_customers`, `web_accounts`, `loyalty_members`, and their consents.

One record per person in a source (a share get a second, duplicate record). Each
record is the person as that system captured them: nicknames, typos, swapped names,
empty fields, email case and gmail dots or +tags, any phone format, old addresses.
Rows: the first day's file holds the backlog (records created before the window, in
their state at the window start); later files hold records created that day and
updates (same id, newer updated_at) after a move, a new phone or a new email.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jobs.common.rates import VariationRates
from jobs.generate.people import (
    CHANGE_ADDRESS,
    CHANGE_EMAIL,
    CHANGE_PHONE,
    IDENTITY_SOURCES,
    NEVER,
    Persons,
    email_key,
)
from jobs.generate.pools import GMAIL_DOMAINS, PLUS_TAG_DOMAINS, PLUS_TAGS, Pools, typo
from jobs.generate.timeline import DAY, Window

# Days between a person's first contact with the retailer and a record in each source.
_CREATION_LAG_DAYS = (60.0, 30.0, 120.0)
# A duplicate record often carries another email address of the person.
_DUP_ALT_EMAIL = (0.4, 0.8, 0.3)
# Phone formats per source: the CRM normalises a little, the web shop takes anything typed.
_PHONE_FORMAT_P = (
    (0.45, 0.2, 0.1, 0.05, 0.05, 0.03, 0.03, 0.02, 0.04, 0.03),
    (0.15, 0.2, 0.12, 0.12, 0.08, 0.06, 0.07, 0.07, 0.06, 0.07),
    (0.1, 0.25, 0.05, 0.45, 0.02, 0.02, 0.03, 0.05, 0.01, 0.02),
)
_SUBJECT_TYPE = ("crm_id", "account_id", "loyalty_id")
_OTHER_PURPOSES = ("sms_marketing", "personalization", "analytics")


@dataclass
class IdentityRecords:
    """The records of one source in one chunk, sorted by creation."""

    source: str
    person: np.ndarray  # local person index
    record_id: np.ndarray  # object
    created_ts: np.ndarray
    is_dup: np.ndarray
    email: np.ndarray  # email as first captured (object, None when left empty)
    email_key: np.ndarray  # canonical mailbox of `email`
    rows: dict[str, np.ndarray]


def format_phone(numbers: np.ndarray, fmt: np.ndarray) -> np.ndarray:
    """UK mobile `7400123456` written in one of ten everyday formats; None for 0."""
    out = np.empty(len(numbers), dtype=object)
    for i, (num, f) in enumerate(zip(numbers.tolist(), fmt.tolist(), strict=True)):
        if num == 0:
            out[i] = None
            continue
        d = str(num)  # 10 digits, starting with 7
        a, b = d[:4], d[4:]
        if f == 0:
            out[i] = f"0{a} {b}"
        elif f == 1:
            out[i] = f"0{d}"
        elif f == 2:
            out[i] = f"+44 {a} {b}"
        elif f == 3:
            out[i] = f"+44{d}"
        elif f == 4:
            out[i] = f"0{a}-{b[:3]}-{b[3:]}"
        elif f == 5:
            out[i] = f"(0{a}) {b}"
        elif f == 6:
            out[i] = f"0044{d}"
        elif f == 7:
            out[i] = f"44{d}"
        elif f == 8:
            out[i] = f"+44 (0){a} {b}"
        else:
            out[i] = f"0{a} {b[:3]} {b[3:]}"
    return out


def format_postcode(postcodes: np.ndarray, style: np.ndarray) -> np.ndarray:
    """Canonical `LS6 2AB` mostly; sometimes without the space or in lower case."""
    out = postcodes.copy()
    for i in np.flatnonzero(style > 0):
        p = out[i]
        if p is None:
            continue
        s = style[i]
        out[i] = p.replace(" ", "") if s == 1 else p.lower() if s == 2 else p.lower().replace(" ", "")
    return out


def vary_emails(rng: np.random.Generator, emails: np.ndarray, rates: VariationRates) -> np.ndarray:
    """Gmail dots, googlemail, +tags and upper or mixed case, at the configured rates."""
    n = len(emails)
    out = emails.copy()
    dots = rng.random(n) < rates.email_dots_tags
    case = rng.random(n) < rates.email_case
    u1, u2, u3 = rng.random(n), rng.random(n), rng.random(n)
    for i in np.flatnonzero(dots):
        e = out[i]
        if e is None:
            continue
        local, domain = e.rsplit("@", 1)
        tag = PLUS_TAGS[int(u3[i] * len(PLUS_TAGS))]
        if domain in GMAIL_DOMAINS:
            if u1[i] < 0.45 and len(local) > 2:
                pos = 1 + int(u2[i] * (len(local) - 1))
                if local[pos - 1] != "." and (pos == len(local) or local[pos] != "."):
                    local = local[:pos] + "." + local[pos:]
                else:
                    local = local.replace(".", "")
            elif u1[i] < 0.7:
                domain = "googlemail.com" if domain == "gmail.com" else "gmail.com"
            else:
                local = f"{local}+{tag}"
        elif domain in PLUS_TAG_DOMAINS:
            local = f"{local}+{tag}"
        out[i] = f"{local}@{domain}"
    for i in np.flatnonzero(case):
        e = out[i]
        if e is None:
            continue
        style = int(u2[i] * 3) if not dots[i] else int(u1[i] * 3)
        if style == 0:
            local, domain = e.rsplit("@", 1)
            out[i] = ".".join(part.capitalize() for part in local.split(".")) + "@" + domain.capitalize()
        elif style == 1:
            out[i] = e.upper()
        else:
            out[i] = e[:1].upper() + e[1:]
    return out


def _typos(rng: np.random.Generator, values: np.ndarray, rate: float, skip_number: bool = False) -> np.ndarray:
    out = values.copy()
    hit = np.flatnonzero(rng.random(len(values)) < rate)
    ops = rng.integers(0, 4, size=len(hit))
    pos, pick = rng.random(len(hit)), rng.random(len(hit))
    for j, i in enumerate(hit):
        v = out[i]
        if v is None:
            continue
        if skip_number and " " in v:
            # Keep the house number; slip on the street name.
            head, _, tail = v.rpartition(" ")
            out[i] = f"{head} {typo(tail, int(ops[j]), float(pos[j]), float(pick[j]))}"
        else:
            out[i] = typo(v, int(ops[j]), float(pos[j]), float(pick[j]))
    return out


def _blank(rng: np.random.Generator, values: np.ndarray, rate: float) -> np.ndarray:
    out = values.copy()
    out[rng.random(len(values)) < rate] = None
    return out


def _format_ids(source_idx: int, numbers: np.ndarray) -> np.ndarray:
    if source_idx == 0:
        return np.array([f"C{x:09d}" for x in numbers.tolist()], dtype=object)
    if source_idx == 1:
        return np.array([f"A{x:09d}" for x in numbers.tolist()], dtype=object)
    return np.array([f"L6349{x:08d}" for x in numbers.tolist()], dtype=object)


def build_identity(
    rng: np.random.Generator,
    persons: Persons,
    source_idx: int,
    rates: VariationRates,
    window: Window,
    pools: Pools,
    id_base: int,
) -> IdentityRecords:
    """Records and landing rows of one identity source for one chunk of persons."""
    name = IDENTITY_SOURCES[source_idx]
    members = np.flatnonzero(persons.in_source[:, source_idx])
    dup_rate = (rates.duplicate_crm, rates.duplicate_web_accounts, rates.duplicate_loyalty)[source_idx]
    n_dup = min(len(members), int(round(len(members) * dup_rate / (1 - dup_rate))))
    dups = np.sort(rng.choice(members, size=n_dup, replace=False)) if n_dup else np.zeros(0, dtype=np.int64)
    person = np.concatenate([members, dups])
    is_dup = np.concatenate([np.zeros(len(members), dtype=bool), np.ones(len(dups), dtype=bool)])
    m = len(person)

    last = persons.active_until(window)[person] - 1
    signup = persons.signup_ts[person]
    lag = (rng.exponential(_CREATION_LAG_DAYS[source_idx], size=m) * DAY).astype(np.int64)
    created = signup + lag
    late = created > last
    created[late] = signup[late] + (rng.random(int(late.sum())) * (last[late] - signup[late])).astype(np.int64)
    first_created = np.zeros(persons.n, dtype=np.int64)
    first_created[members] = created[: len(members)]
    base = first_created[dups]
    dup_last = last[len(members):]
    created[len(members):] = base + 1 + (
        (0.05 + 0.95 * rng.random(len(dups))) * np.maximum(dup_last - base - 1, 0)
    ).astype(np.int64)

    # Ids grow with creation time, like a database sequence.
    order = np.lexsort((np.arange(m), created))
    person, is_dup, created, last = person[order], is_dup[order], created[order], last[order]
    record_id = _format_ids(source_idx, id_base + np.arange(1, m + 1))

    # What the person gave this system: nicknames, typos, swapped and missing names.
    first_name = pools.first_names[persons.first[person]].copy()
    nick = (rng.random(m) < rates.nickname) & (pools.nick_count[persons.first[person]] > 0)
    f_idx = persons.first[person[nick]]
    pick = pools.nick_start[f_idx] + (rng.random(int(nick.sum())) * pools.nick_count[f_idx]).astype(np.int64)
    first_name[nick] = pools.nicknames[pick]
    last_name = pools.last_names[persons.last[person]].copy()
    first_name = _typos(rng, first_name, rates.typo)
    last_name = _typos(rng, last_name, rates.typo)
    swap = rng.random(m) < rates.swapped_names
    first_name[swap], last_name[swap] = last_name[swap], first_name[swap].copy()
    first_name = _blank(rng, first_name, rates.missing_field / 5)
    last_name = _blank(rng, last_name, rates.missing_field / 5)
    if source_idx == 2:
        # The loyalty till system stores some names in capitals.
        upper = np.flatnonzero(rng.random(m) < 0.2)
        for i in upper:
            first_name[i] = first_name[i].upper() if first_name[i] else first_name[i]
            last_name[i] = last_name[i].upper() if last_name[i] else last_name[i]

    # Email: a duplicate often has another address; a second web account cannot reuse a shared one.
    use_alt = is_dup & (rng.random(m) < _DUP_ALT_EMAIL[source_idx])
    if source_idx == 1:
        use_alt |= persons.email_owner[person] != person
    change = persons.change_kind[person]
    change_ts = persons.change_ts[person]
    switched = (change == CHANGE_EMAIL) & (created >= change_ts)
    use_alt_now = use_alt | switched
    email_draw_seed = rng.integers(0, 2**63)
    raw_email = np.where(use_alt_now, persons.alt_email[person], persons.email[person])
    email = vary_emails(np.random.default_rng(email_draw_seed), raw_email, rates)
    email_missing = (rng.random(m) < rates.missing_field) if source_idx != 1 else np.zeros(m, dtype=bool)
    email[email_missing] = None
    key = email_key(persons, person, use_alt_now)

    phone_fmt = rng.choice(10, size=m, p=np.array(_PHONE_FORMAT_P[source_idx]) / sum(_PHONE_FORMAT_P[source_idx]))
    phone_missing = rng.random(m) < rates.missing_field
    phone_num = np.where((change == CHANGE_PHONE) & (created >= change_ts), persons.new_phone[person],
                         persons.phone[person])
    phone = format_phone(np.where(phone_missing, 0, phone_num), phone_fmt)

    dob = persons.dob[person].copy()
    dm_swap = rng.random(m) < rates.typo / 3
    dob_missing = rng.random(m) < rates.missing_field

    use_old = persons.moved[person] & (
        (persons.stale_source[person] == source_idx) | (is_dup & (rng.random(m) < 0.5))
    )
    moved_now = (change == CHANGE_ADDRESS) & (created >= change_ts)
    street = np.where(use_old, persons.old_street[person], persons.street[person])
    city = np.where(use_old, persons.old_city[person], persons.city[person])
    postcode = np.where(use_old, persons.old_postcode[person], persons.postcode[person])
    street = np.where(moved_now, persons.new_street[person], street)
    city = np.where(moved_now, persons.new_city[person], city)
    postcode = np.where(moved_now, persons.new_postcode[person], postcode)
    street_typo = rng.integers(0, 2**63)
    street_missing = rng.random(m) < rates.missing_field
    city_missing = rng.random(m) < rates.missing_field / 2
    postcode_missing = rng.random(m) < rates.missing_field / 2
    postcode_style = rng.choice(4, size=m, p=[0.82, 0.08, 0.07, 0.03])
    gender_missing = rng.random(m) < rates.missing_field

    def address(st: np.ndarray, ci: np.ndarray, pc: np.ndarray, idx: np.ndarray):
        st = _typos(np.random.default_rng([street_typo, len(idx)]), st, rates.typo, skip_number=True)
        st[street_missing[idx]] = None
        ci = ci.copy()
        ci[city_missing[idx]] = None
        pc = format_postcode(pc, postcode_style[idx])
        pc[postcode_missing[idx]] = None
        return st, ci, pc

    all_idx = np.arange(m)
    street_f, city_f, postcode_f = address(street, city, postcode, all_idx)
    dob_f = _dob_days(dob, dm_swap)
    dob_f[dob_missing] = np.iinfo(np.int64).min

    # Backlog rows carry their state at the window start; some were last touched after creation.
    backlog = created < window.start_ts
    touched = backlog & (rng.random(m) < (0.9 if source_idx == 2 else 0.4))
    updated = created.copy()
    if source_idx == 2:
        # Points move with every shop, so most members' rows were rewritten recently.
        recent = window.start_ts - 1 - (rng.exponential(20.0, size=m) * DAY).astype(np.int64)
        updated[touched] = np.maximum(created, recent)[touched]
    else:
        span = np.maximum(window.start_ts - 1 - created, 0)
        updated[touched] = created[touched] + (rng.random(int(touched.sum())) * span[touched]).astype(np.int64)

    cols: dict[str, np.ndarray] = {
        "first_name": first_name, "last_name": last_name, "email": email, "phone": phone,
        "date_of_birth": dob_f, "street": street_f, "city": city_f, "postcode": postcode_f,
    }
    rows = [_rows(source_idx, record_id, cols, persons, person, created, updated, gender_missing, window, rng)]

    # Updates inside the window: the change reaches each older record with a delay (or never).
    upd = (change > 0) & (created < change_ts) & (rng.random(m) < 0.75)
    upd_ts = change_ts + (rng.exponential(1.5, size=m) * DAY).astype(np.int64)
    upd &= upd_ts < np.minimum(last, window.end_ts - 1)
    u = np.flatnonzero(upd)
    if len(u):
        ucols = {k: v[u].copy() for k, v in cols.items()}
        kinds = change[u]
        a = u[kinds == CHANGE_ADDRESS]
        if len(a):
            st, ci, pc = address(persons.new_street[person[a]], persons.new_city[person[a]],
                                 persons.new_postcode[person[a]], a)
            sel = kinds == CHANGE_ADDRESS
            ucols["street"][sel], ucols["city"][sel], ucols["postcode"][sel] = st, ci, pc
        p = kinds == CHANGE_PHONE
        if p.any():
            ucols["phone"][p] = format_phone(persons.new_phone[person[u[p]]], phone_fmt[u[p]])
        e = kinds == CHANGE_EMAIL
        if e.any():
            ucols["email"][e] = vary_emails(rng, persons.alt_email[person[u[e]]], rates)
        rows.append(_rows(source_idx, record_id[u], ucols, persons, person[u], created[u], upd_ts[u],
                          gender_missing[u], window, rng))
    if source_idx == 2:
        rows.append(_points_updates(rng, record_id, cols, persons, person, created, last, gender_missing, window))

    merged = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
    return IdentityRecords(
        source=name, person=person, record_id=record_id, created_ts=created, is_dup=is_dup,
        email=email, email_key=key, rows=merged,
    )


def _dob_days(dob: np.ndarray, swap: np.ndarray) -> np.ndarray:
    """Dates of birth; `swap` ones were keyed day-first into a month-first form (3 Apr -> 4 Mar)."""
    out = dob.copy()
    if swap.any():
        d = dob[swap].astype("datetime64[D]")
        years = d.astype("datetime64[Y]")
        months = (d.astype("datetime64[M]") - years).astype(np.int64) + 1
        days = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
        ok = (days <= 12) & (days != months)
        new = (years + (days - 1).astype("timedelta64[M]")).astype("datetime64[D]") + (months - 1).astype(
            "timedelta64[D]")
        swapped = np.where(ok, new.astype(np.int64), dob[swap])
        out[swap] = swapped
    return out


def _rows(
    source_idx: int,
    record_id: np.ndarray,
    cols: dict[str, np.ndarray],
    persons: Persons,
    person: np.ndarray,
    created: np.ndarray,
    updated: np.ndarray,
    gender_missing: np.ndarray,
    window: Window,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    n = len(record_id)
    common = {"_day": window.file_day(updated), "_sort": updated}
    if source_idx == 0:
        gender = persons.gender[person].copy()
        gender[gender_missing] = None
        return {
            "crm_id": record_id, "first_name": cols["first_name"], "last_name": cols["last_name"],
            "email": cols["email"], "phone": cols["phone"], "date_of_birth": cols["date_of_birth"],
            "gender": gender, "street": cols["street"], "city": cols["city"], "postcode": cols["postcode"],
            "country": np.full(n, "GB", dtype=object), "created_at": created, "updated_at": updated, **common,
        }
    if source_idx == 1:
        return {
            "account_id": record_id, "email": cols["email"], "first_name": cols["first_name"],
            "last_name": cols["last_name"], "phone": cols["phone"], "postcode": cols["postcode"],
            "created_at": created, "updated_at": updated, **common,
        }
    tenure_days = np.maximum(updated - created, 0) / DAY
    rate = persons.store_rate[person]
    tier = np.where(rate > 2.0, "gold", np.where(rate > 1.2, "silver", "bronze")).astype(object)
    points = (tenure_days * rate * 2.5 + 50).astype(np.int64)
    return {
        "loyalty_id": record_id, "first_name": cols["first_name"], "last_name": cols["last_name"],
        "email": cols["email"], "phone": cols["phone"], "date_of_birth": cols["date_of_birth"],
        "postcode": cols["postcode"], "tier": tier, "points_balance": points, "joined_at": created,
        "updated_at": updated, **common,
    }


def _points_updates(rng, record_id, cols, persons, person, created, last, gender_missing, window):
    """Loyalty members whose points balance changed inside the window (one new row each)."""
    m = len(record_id)
    p = np.minimum(0.9, 0.04 * window.days / 7 * persons.store_rate[person])
    lo = np.maximum(created + 1, window.start_ts)
    hi = np.minimum(last, window.end_ts - 1)
    pick = np.flatnonzero((rng.random(m) < p) & (hi > lo))
    ts = lo[pick] + (rng.random(len(pick)) * (hi[pick] - lo[pick])).astype(np.int64)
    ucols = {k: v[pick] for k, v in cols.items()}
    return _rows(2, record_id[pick], ucols, persons, person[pick], created[pick], ts, gender_missing[pick],
                 window, rng)


@dataclass
class Consents:
    rows: dict[str, np.ndarray]  # consent_events columns without event_id, plus _day and _sort
    subscribers: dict[str, np.ndarray]  # the email tool's list: email, key, person, optin_ts, optout_ts


def build_consents(
    rng: np.random.Generator, persons: Persons, records: list[IdentityRecords], window: Window
) -> Consents:
    """Opt-ins at record creation, opt-outs and erasure requests inside the window."""
    parts: list[dict[str, np.ndarray]] = []
    subs: list[dict[str, np.ndarray]] = []
    for src_idx, rec in enumerate(records):
        m = len(rec.record_id)
        p = persons.consent_p[rec.person]
        ts = rec.created_ts + rng.integers(1, 300, size=m)
        if src_idx == 0:
            system = np.where(rng.random(m) < 0.5, "crm", "store").astype(object)
        else:
            system = np.full(m, "web" if src_idx == 1 else "store", dtype=object)
        email_in = rng.random(m) < p
        purposes = [("email_marketing", email_in)] + [
            (name, rng.random(m) < 0.12 * p) for name in _OTHER_PURPOSES
        ]
        for purpose, mask in purposes:
            idx = np.flatnonzero(mask)
            parts.append({
                "event_ts": ts[idx] + (0 if purpose == "email_marketing" else 1),
                "subject_type": np.full(len(idx), _SUBJECT_TYPE[src_idx], dtype=object),
                "subject_id": rec.record_id[idx],
                "purpose": np.full(len(idx), purpose, dtype=object),
                "action": np.full(len(idx), "opt_in", dtype=object),
                "source_system": system[idx],
            })
        sub = np.flatnonzero(email_in & (rec.email != None))  # noqa: E711 - elementwise on objects
        subs.append({
            "email": rec.email[sub], "key": rec.email_key[sub], "person": rec.person[sub],
            "optin_ts": ts[sub], "account": rec.record_id[sub] if src_idx == 1 else np.full(len(sub), None),
        })

    merged = {k: np.concatenate([s[k] for s in subs]) for k in subs[0]}
    # The email tool keeps one entry per address (earliest opt-in wins).
    order = np.lexsort((merged["optin_ts"], merged["email"].astype(str)))
    emails_sorted = merged["email"][order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = emails_sorted[1:] != emails_sorted[:-1]
    keep = order[first]
    keep.sort()
    subscribers = {k: v[keep] for k, v in merged.items()}
    s = len(keep)

    # Opt-outs: mostly the unsubscribe link (subject is the email), some in the account settings.
    active_until = persons.active_until(window)[subscribers["person"]]
    lo = np.maximum(subscribers["optin_ts"] + DAY, window.start_ts)
    hi = np.minimum(active_until, window.end_ts - 1)
    out_mask = (rng.random(s) < 0.02 * window.days / 30) & (hi > lo)
    optout_ts = np.full(s, NEVER)
    optout_ts[out_mask] = lo[out_mask] + (rng.random(int(out_mask.sum())) * (hi - lo)[out_mask]).astype(np.int64)
    subscribers["optout_ts"] = optout_ts
    o = np.flatnonzero(out_mask)
    via_account = (subscribers["account"][o] != None) & (rng.random(len(o)) < 0.3)  # noqa: E711
    parts.append({
        "event_ts": optout_ts[o],
        "subject_type": np.where(via_account, "account_id", "email").astype(object),
        "subject_id": np.where(via_account, subscribers["account"][o], subscribers["email"][o]),
        "purpose": np.full(len(o), "email_marketing", dtype=object),
        "action": np.full(len(o), "opt_out", dtype=object),
        "source_system": np.where(via_account, "web", "email").astype(object),
    })

    # Erasure requests, about a record the person holds (or their email).
    erased = np.flatnonzero(persons.erasure_ts < NEVER)
    if len(erased):
        subject_type = np.full(len(erased), "email", dtype=object)
        subject_id = persons.email[erased].copy()
        system = np.full(len(erased), "email", dtype=object)
        for src_idx, rec in enumerate(records):
            pos = np.full(persons.n, -1)
            pos[rec.person[::-1]] = np.arange(len(rec.person))[::-1]
            have = (pos[erased] >= 0) & (subject_type == "email")
            subject_type[have] = _SUBJECT_TYPE[src_idx]
            subject_id[have] = rec.record_id[pos[erased][have]]
            system[have] = ("crm", "web", "store")[src_idx]
        parts.append({
            "event_ts": persons.erasure_ts[erased],
            "subject_type": subject_type,
            "subject_id": subject_id,
            "purpose": np.full(len(erased), "all", dtype=object),
            "action": np.full(len(erased), "erasure_request", dtype=object),
            "source_system": system,
        })
    rows = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    rows["_day"] = window.file_day(rows["event_ts"])
    rows["_sort"] = rows["event_ts"]
    return Consents(rows=rows, subscribers=subscribers)
