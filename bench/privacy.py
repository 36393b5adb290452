"""`c360 bench privacy`: erasure on a lake that has run every stage, proven on disk.

1. A generated shop (`--scale` persons, default 20 000; 21 days, seed 11) goes through
   the landing contract like a user's files: the daily stages over the range (ingest,
   quality gate, silver, identities, the dbt build, both scorings), the four trainings
   as of the last day (recommender, lifetime value, churn, segments, logged to MLflow),
   then both scorings again, so serving holds every model's output.
2. 50 persons chosen at random (seed 11; not one the generator already erased) ask to be
   forgotten: one `erasure_requests` file with each person's email, phone and the ids of
   their profile records, run by `c360 erase --request-file`. Timed: the run, and per
   request.
3. The proof: every file under the lake root (tables and their logs, `_reports/`, the
   MLflow store and artifacts, Spark and Splink checkpoints, the identity model) and under
   the landing folder is searched for each person's emails (as given and lower-cased),
   phones (as given and E.164), record ids, and first name + last name + postcode in one
   row or line (`jobs/privacy/proof.py`). What is not theirs alone is not searched for: an
   email or phone they share with a housemate who stays, an email whose mailbox another
   person who stays also reaches (`ehowells@gmail.com` and `e.howells@gmail.com` are one
   Gmail mailbox, and silver keeps that mailbox as the match key), a name and postcode
   another person who stays also has (a parent and child of one name at one address) or that
   a housemate's record shows through the household email it keeps, and a record that
   carries no identifier at all (a till receipt without a loyalty card or receipt email, a
   cookie that never signed in or placed an order): nothing in such a record says whose it is,
   so no request can reach it (`_anonymous_records`). The figure: hits (0).
4. A batch of 1,000 more persons (at most a tenth of the persons) in one run: its time.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from jobs.common.bench import Figures

START = dt.date(2026, 3, 2)
DAYS = 21
SEED = 11
PERSONS = 20_000
FIRST_BATCH = 50
SECOND_BATCH = 1_000
PROFILE_SOURCES = ("crm_customers", "web_accounts", "loyalty_members")
REQUEST_IDS = {"crm_customers": "crm_id", "web_accounts": "account_id", "loyalty_members": "loyalty_id"}


# Three weeks of history: the lifetime value holdout and the churn horizon shrink to fit in them
# (the defaults, 90 days each, need months); the models only have to exist for serving to hold their output.
CLV_HOLDOUT_DAYS = 7
CHURN_HORIZON_DAYS = 5


def _lake_config(base, root: Path, landing: Path):
    customers = dataclasses.replace(
        base.customers, clv_holdout_days=CLV_HOLDOUT_DAYS,
        churn=dataclasses.replace(base.customers.churn, horizon_days=CHURN_HORIZON_DAYS))
    return dataclasses.replace(
        base, customers=customers, lake=dataclasses.replace(base.lake, root=str(root)),
        landing=dataclasses.replace(base.landing, uri=str(landing)),
        identity=dataclasses.replace(base.identity, model_dir=str(root / "_models" / "identity")),
        mlflow=dataclasses.replace(base.mlflow, tracking_uri=f"sqlite:///{root}/_mlflow/mlflow.db", registry_uri="",
                                   artifact_root=str(root / "_mlflow" / "artifacts")),
    )


def _requests(people: pd.DataFrame, records: pd.DataFrame, chosen: list[str], tag: str, path: Path) -> None:
    """One erasure_requests file: per person their email, phone and profile record ids."""
    ids = records[records.source.isin(PROFILE_SOURCES)].groupby("person_id")
    lines = ["request_id,received_at,email,phone,loyalty_id,account_id,crm_id"]
    for n, pid in enumerate(chosen):
        person = people.loc[pid]
        mine = dict(zip(ids.get_group(pid).source, ids.get_group(pid).record_id, strict=True)) if pid in ids.groups \
            else {}
        given = {REQUEST_IDS[s]: v for s, v in mine.items()}
        lines.append(",".join([f"{tag}-{n}", f"{START + dt.timedelta(days=DAYS - 1)}T12:00:00Z", person.email or "",
                               person.phone or "", given.get("loyalty_id", ""), given.get("account_id", ""),
                               given.get("crm_id", "")]))
    path.write_text("\n".join(lines) + "\n")


def _anonymous_records(landing: Path) -> set[str]:
    """Record ids (lower case) of till receipts and cookies whose landed lines carry no identifier.

    A receipt is anonymous when none of its lines has a loyalty id or a receipt email; a cookie
    when none of its events has an account id and no order names it.
    """
    def lines(path: Path) -> list[dict]:  # a damaged line (the generator writes some) tells nothing
        out = []
        for line in path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def frame(source: str, pattern: str, columns: list[str]) -> pd.DataFrame:
        parts = [(pd.read_csv(f, dtype=str, on_bad_lines="skip") if pattern.endswith(".csv")
                  else pd.DataFrame(lines(f), dtype=str)).reindex(columns=columns)
                 for f in sorted((landing / source).rglob(pattern))]
        return pd.concat(parts) if parts else pd.DataFrame(columns=columns)

    receipts = frame("pos_transactions", "*.csv", ["transaction_id", "loyalty_id", "receipt_email"])
    named = receipts.loyalty_id.notna() | receipts.receipt_email.notna()
    anonymous = set(receipts.transaction_id) - set(receipts.transaction_id[named])
    events = frame("web_events", "*.jsonl", ["cookie_id", "account_id"])
    orders = frame("orders", "*.csv", ["cookie_id"])
    signed = set(events.cookie_id[events.account_id.notna()]) | set(orders.cookie_id.dropna())
    anonymous |= set(events.cookie_id.dropna()) - signed
    return {r.lower() for r in anonymous}


def _needles(people: pd.DataFrame, records: pd.DataFrame, chosen: list[str], anonymous: set[str]):
    """What each chosen person is searched for: what is theirs alone.

    Not searched for: an email or phone a housemate who stays also has, an email whose mailbox
    (Gmail's dots and plus tags dropped) another person who stays also has, a name and postcode
    another person who stays also has or that shows in a household email a housemate keeps, and
    records without any identifier (`anonymous`).
    """
    from jobs.common.normalize import e164_text
    from jobs.common.normalize import email_match_key_text as mailbox
    from jobs.privacy.proof import Person

    out = []
    housemates = people.groupby("household_id")
    names = (people.first_name.str.lower() + "\x1f" + people.last_name.str.lower() + "\x1f"
             + people.postcode.str.lower())
    stayers = people[~people.index.isin(chosen)]
    shared_names = set(names[stayers.index])
    shared_mailboxes = {mailbox(e) for e in (*stayers.email.dropna(), *stayers.alt_email.dropna())} - {None}
    for pid in chosen:
        person = people.loc[pid]
        others = housemates.get_group(person.household_id).drop(index=pid)
        theirs = {e.lower() for e in others.email.dropna()} | {e.lower() for e in others.alt_email.dropna()}
        given = {e.lower() for e in (person.email, person.alt_email) if e}
        emails = {f for e in given - theirs if mailbox(e) not in shared_mailboxes for f in (e, mailbox(e)) if f}
        phones = {p for p in (person.phone, e164_text(person.phone) if person.phone else None) if p}
        phones -= {p for o in others.phone.dropna() for p in (o, e164_text(o))}
        ids = {r.lower() for s, r in records[records.person_id == pid][["source", "record_id"]].values
               if s != "email_events"} - anonymous
        group = (person.first_name.lower(), person.last_name.lower(), person.postcode.lower())
        groups = () if names[pid] in shared_names or given & theirs else (group,)
        out.append(Person(pid, tuple(sorted(emails | {p.lower() for p in phones} | ids)), groups))
    return out


def run(scale: int | None = None, profile: str | None = None) -> Figures:
    from jobs import pipeline
    from jobs.common import runtime
    from jobs.common.config import load_config
    from jobs.common.stage import Days
    from jobs.generate.main import generate
    from jobs.privacy import main as erasure
    from jobs.privacy.proof import hits

    persons = scale or PERSONS
    scratch = Path(tempfile.mkdtemp(prefix="c360-bench-privacy-"))
    figures: Figures = {"persons": persons, "days": DAYS}
    try:
        began = time.perf_counter()
        generate(scratch / "gen", persons, DAYS, seed=SEED, start=START, log=lambda *_: None)
        landing, truth = scratch / "gen" / "landing", scratch / "gen" / "truth"
        base = load_config(profile)
        rt = runtime.start(config=_lake_config(base, scratch / "lake", landing), app_name="c360 bench privacy")
        last = START + dt.timedelta(days=DAYS - 1)
        pipeline.run(rt, Days.of(START, last), pipeline.DAILY_NAMES, log=print)
        for name in pipeline.WEEKLY_NAMES:
            pipeline.stage(name).run(rt, Days.of(last))
        for name in ("score_recommendations", "score_customers"):
            pipeline.stage(name).run(rt, Days.of(last))
        figures["build_s"] = round(time.perf_counter() - began, 1)
        print(f"lake built: {persons:,} persons x {DAYS} days, every stage, in {figures['build_s']} s", flush=True)

        people = pd.read_parquet(truth / "persons").set_index("person_id")
        records = pd.read_parquet(truth / "records")
        candidates = people[people.erasure_date.isna()].index.to_numpy()
        rng = np.random.default_rng(SEED)
        order = rng.permutation(candidates)
        first = [str(p) for p in order[:FIRST_BATCH]]
        second = [str(p) for p in order[FIRST_BATCH:FIRST_BATCH + min(SECOND_BATCH, persons // 10)]]

        for tag, chosen in (("first", first), ("second", second)):
            requests = scratch / f"{tag}_requests.csv"
            _requests(people, records, chosen, tag, requests)
            began = time.perf_counter()
            report = erasure.run(rt, Days.of(last), request_file=str(requests))
            seconds = time.perf_counter() - began
            figures.update({
                f"{tag}_batch_requests": len(chosen),
                f"{tag}_batch_s": round(seconds, 1),
                f"{tag}_batch_s_per_request": round(seconds / len(chosen), 2),
                f"{tag}_batch_statuses": report.statuses,
                f"{tag}_batch_tables_rewritten": report.tables_rewritten,
                f"{tag}_batch_files_vacuumed": report.files_vacuumed,
                f"{tag}_batch_landing_files_rewritten": report.landing_files_rewritten,
            })
            print(f"{tag} batch: {len(chosen)} requests erased in {seconds:.1f} s ({report.statuses})", flush=True)
            if tag == "first":
                began = time.perf_counter()
                roots = [scratch / "lake", landing]
                found = hits(roots, _needles(people, records, chosen, _anonymous_records(landing)))
                figures["proof_files_searched"] = sum(1 for r in roots for p in r.rglob("*") if p.is_file())
                figures["proof_hits"] = len(found)
                figures["proof_s"] = round(time.perf_counter() - began, 1)
                for person, needle, path in found[:20]:
                    print(f"found {person}: {needle} in {path}", flush=True)
        figures["per_1000_requests_s"] = round(figures["second_batch_s"] * 1000 / max(1, len(second)), 1)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return figures
