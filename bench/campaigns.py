"""`c360 bench campaigns`: the read-out against campaigns whose true effect is known, and audiences at 1 M.

1. A generated shop (`--scale` persons, default 20 000; DAYS days from START, seed 5) goes
   through the landing contract like a user's files up to the launch day: ingest, silver,
   identities and the dbt build over the range (the quality gate only checks; it is left out).
2. Campaigns (written by the bench into their own folder, `campaigns.dir`):
   - `uplift_0`, `uplift_2`, `uplift_5`: email campaigns over three disjoint thirds of the
     customers (a hash of the key), half held out, with true uplifts of 0, 2 and 5
     percentage points in conversion within ATTRIBUTION_DAYS days;
   - `aa_000` .. `aa_099`: 100 web campaigns with no effect at all (A/A tests), each over
     its own random fifth of the customers and its own hash split. They are the 100 seeded
     repetitions of the zero-uplift case: the seed of a repetition is its campaign id, which
     draws its audience and its split; the read-out is the same dbt model. The share of them
     called significant at 5 % is the read-out's false-positive rate (about 5 % if the test is
     right).
   `build_audiences` assigns them on the launch day.
3. The generator plays the world after the send (`jobs.generate.campaigns.respond`): emails
   to the treated of the email campaigns, and extra orders that raise the treated's conversion
   by the true uplift; the truth is written beside the landing files.
4. The pipeline runs the days after the launch through the attribution window (one range,
   the dbt build as of its last day), and gold.campaign_results is read: per campaign the
   estimate, its 95 % interval, the p-value, against the truth (configured and realised).
5. Scale: gold.customer_360 of step 1 copied to 1 M customers (each customer repeated under
   new keys) in a second lake, and `build_audiences` timed for 10 campaigns over it.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import shutil
import tempfile
import time
from pathlib import Path

from jobs.common.bench import Figures, peak_rss_mb, reset_peak_rss

START = dt.date(2026, 8, 3)
DAYS = 75
LAUNCH = START + dt.timedelta(days=58)
ATTRIBUTION_DAYS = 14
SEED = 5
PERSONS = 20_000
UPLIFTS = {"uplift_0": 0.0, "uplift_2": 0.02, "uplift_5": 0.05}
AA_CAMPAIGNS = 100
AA_SHARE = 5  # each A/A campaign reaches one customer in five
SCALE_CUSTOMERS = 1_000_000

CAMPAIGN = """\
id: {id}
channel: {channel}
description: "{description}"
rule: "{rule}"
offer:
  text: {offer}
holdout_share: {share}
start: {start}
end: {end}
readout:
  attribution_days: {window}
  baseline_conversion: 0.2
  minimum_uplift: 0.05
"""

# Ten campaigns a retailer might run at once, over gold.customer_360's columns, on three channels, two capped.
SCALE_CAMPAIGNS = (
    ("winback_lapsing", "email", "rfm_segment in ('At Risk', 'Can''t Lose Them', 'About to Sleep')", 0.1, None),
    ("vip_early_access", "email", "rfm_segment = 'Champions' or net_spend > 500", 0.1, 2),
    ("second_order", "email", "orders = 1 and days_since_last_purchase < 60", 0.2, 2),
    ("new_customer_welcome", "email", "tenure_days < 30", 0.1, None),
    ("store_to_online", "sms", "orders_store > 0 and orders_online = 0", 0.2, None),
    ("lapsed_sms", "sms", "rfm_segment in ('Hibernating', 'Lost')", 0.1, 1),
    ("returners_care", "email", "return_rate > 0.3", 0.5, None),
    ("discount_lovers", "web", "discount_share > 0.2", 0.1, None),
    ("loyal_cross_sell", "web", "rfm_segment in ('Loyal Customers', 'Potential Loyalists') and distinct_categories < 3",
     0.2, None),
    ("everyone_web", "web", "true", 0.05, None),
)


def _write_campaigns(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    day = LAUNCH.isoformat()
    for n, (cid, uplift) in enumerate(UPLIFTS.items()):
        (folder / f"{cid}.yaml").write_text(CAMPAIGN.format(
            id=cid, channel="email", description=f"true uplift {uplift}", rule=f"pmod(xxhash64(customer_key), 3) = {n}",
            offer="ten percent off", share=0.5, start=day, end=day, window=ATTRIBUTION_DAYS))
    for n in range(AA_CAMPAIGNS):
        cid = f"aa_{n:03d}"
        (folder / f"{cid}.yaml").write_text(CAMPAIGN.format(
            id=cid, channel="web", description="A/A: no effect", rule=f"pmod(xxhash64(customer_key, '{cid}'), "
                                                                      f"{AA_SHARE}) = 0",
            offer="a banner", share=0.5, start=day, end=day, window=ATTRIBUTION_DAYS))


def _write_scale_campaigns(folder: Path, day: dt.date) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n, (cid, channel, rule, share, cap) in enumerate(SCALE_CAMPAIGNS):
        text = CAMPAIGN.format(id=cid, channel=channel, description=cid, rule=rule, offer="an offer", share=share,
                               start=day, end=day, window=ATTRIBUTION_DAYS) + f"priority: {n + 1}\n"
        (folder / f"{cid}.yaml").write_text(text + (f"frequency_cap: {cap}\n" if cap else ""))


def _config(base, root: Path, landing: Path, campaigns: Path):
    return dataclasses.replace(
        base, lake=dataclasses.replace(base.lake, root=str(root)),
        landing=dataclasses.replace(base.landing, uri=str(landing)),
        identity=dataclasses.replace(base.identity, model_dir=str(root / "_models" / "identity")),
        campaigns=dataclasses.replace(base.campaigns, dir=str(campaigns)),
    )


def _assigned(rt, truth_dir: Path, day: dt.date):
    """serving.campaign_audiences of `day`, each customer with the person most of their records are."""
    from pyspark.sql import functions as F

    from bench.features import key_persons
    from bench.identity import _truth
    from jobs.common.serving_contract import CAMPAIGN_AUDIENCES
    from jobs.identity.main import MAP

    truth, _ = _truth(rt.spark, truth_dir)
    owners = key_persons(rt.lake.read(MAP), truth)
    rows = rt.lake.read(CAMPAIGN_AUDIENCES.name).where(F.col("run_date") == F.lit(day))
    return (rows.join(owners, "customer_key")
            .select("campaign_id", "channel", "customer_key", "person_id", "variant", "assigned_at").toPandas())


def _readout(rt, day: dt.date, truths: dict, figures: Figures, log) -> None:
    from pyspark.sql import functions as F

    rows = {r.campaign_id: r for r in rt.lake.read("gold.campaign_results").where(F.col("as_of_date") == day).collect()}
    log(f"\nread-out as of {day} (attribution {ATTRIBUTION_DAYS} days; truth: configured / realised on the treated)")
    log(f"{'campaign':<10}{'holdout':>8}{'treated':>8}{'p0':>8}{'p1':>8}{'uplift':>9}{'95 % CI':>20}{'p':>9}"
        f"{'truth':>16}{'in CI':>7}{'rev. uplift':>13}{'95 % CI':>20}{'truth':>8}")
    for cid in UPLIFTS:
        r, t = rows[cid], truths[cid]
        inside = r.uplift_ci_low <= t.true_uplift <= r.uplift_ci_high
        inside_realised = r.uplift_ci_low <= t.realised_uplift <= r.uplift_ci_high
        revenue_inside = r.revenue_uplift_ci_low <= t.extra_revenue_per_treated <= r.revenue_uplift_ci_high
        figures.update({
            f"{cid}_holdout": r.holdout_measured, f"{cid}_treated": r.treated_measured,
            f"{cid}_holdout_rate": r.holdout_conversion_rate, f"{cid}_treated_rate": r.treated_conversion_rate,
            f"{cid}_uplift": r.uplift, f"{cid}_ci": [r.uplift_ci_low, r.uplift_ci_high], f"{cid}_p_value": r.p_value,
            f"{cid}_significant": r.significant, f"{cid}_true_uplift": t.true_uplift,
            f"{cid}_realised_uplift": t.realised_uplift, f"{cid}_ci_contains_truth": inside,
            f"{cid}_ci_contains_realised": inside_realised,
            f"{cid}_revenue_uplift": r.revenue_uplift,
            f"{cid}_revenue_ci": [r.revenue_uplift_ci_low, r.revenue_uplift_ci_high],
            f"{cid}_true_revenue_uplift": t.extra_revenue_per_treated, f"{cid}_revenue_ci_contains_truth": revenue_inside,
            f"{cid}_open_rate": r.open_rate, f"{cid}_click_rate": r.click_rate,
            f"{cid}_minimum_sample_reached": r.minimum_sample_reached,
        })
        log(f"{cid:<10}{r.holdout_measured:>8,}{r.treated_measured:>8,}{r.holdout_conversion_rate:>8.4f}"
            f"{r.treated_conversion_rate:>8.4f}{r.uplift:>+9.4f}  [{r.uplift_ci_low:+.4f}, {r.uplift_ci_high:+.4f}]"
            f"{r.p_value:>9.4f}  {t.true_uplift:+.3f} / {t.realised_uplift:+.4f}{'yes' if inside else 'NO':>7}"
            f"{r.revenue_uplift:>+13.2f}  [{r.revenue_uplift_ci_low:+.2f}, {r.revenue_uplift_ci_high:+.2f}]"
            f"{t.extra_revenue_per_treated:>+8.2f}")
    aa = [rows[f"aa_{n:03d}"] for n in range(AA_CAMPAIGNS)]
    called = sum(1 for r in aa if r.p_value is not None and r.p_value < 0.05)
    revenue_called = sum(1 for r in aa if not r.revenue_uplift_ci_low <= 0 <= r.revenue_uplift_ci_high)
    covered = sum(1 for r in aa if r.uplift_ci_low <= 0 <= r.uplift_ci_high)
    figures.update({
        "aa_campaigns": len(aa), "aa_mean_measured": round(sum(r.holdout_measured + r.treated_measured
                                                               for r in aa) / len(aa)),
        "aa_false_positive_rate": called / len(aa), "aa_ci_coverage": covered / len(aa),
        "aa_revenue_false_positive_rate": revenue_called / len(aa),
        "aa_mean_uplift": round(sum(r.uplift for r in aa) / len(aa), 5),
    })
    log(f"\nA/A: {len(aa)} campaigns with no effect, {figures['aa_mean_measured']:,} customers each on average: "
        f"{called} called significant at 5 % (false-positive rate {called / len(aa):.2f}); the conversion interval "
        f"holds 0 in {covered}; the revenue bootstrap interval excludes 0 in {revenue_called}")


def _scale(base, scratch: Path, source, day: dt.date, figures: Figures, log) -> None:
    """gold.customer_360 copied to 1 M customers in a second lake; build_audiences for 10 campaigns, timed."""
    from pyspark.sql import functions as F

    from jobs import pipeline
    from jobs.common import runtime
    from jobs.common.lake import Lake
    from jobs.common.stage import Days

    customers = source.lake.read("gold.customer_360")
    copies = max(1, math.ceil(SCALE_CUSTOMERS / customers.count()))
    rows = customers.crossJoin(source.spark.range(copies).withColumnRenamed("id", "_copy"))
    key = F.when(F.col("_copy") == 0, F.col("customer_key")).otherwise(
        F.concat_ws("-", "customer_key", F.col("_copy").cast("string")))
    folder = scratch / "scale_campaigns"
    _write_scale_campaigns(folder, day)
    config = _config(base, scratch / "scale_lake", scratch / "gen" / "landing", folder)
    target = Lake(source.spark, config.lake)
    target.overwrite(rows.withColumn("customer_key", key).drop("_copy").limit(SCALE_CUSTOMERS), "gold.customer_360",
                     metadata="bench campaigns")
    figures["scale_customers"] = target.read("gold.customer_360").count()
    source.spark.stop()
    rt = runtime.start(config=config, app_name="c360 bench campaigns (scale)")
    jvm = int(rt.spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
    reset_peak_rss(jvm)
    for attempt in ("first", "rerun"):
        began = time.perf_counter()
        report = pipeline.stage("build_audiences").run(rt, Days.of(day))
        figures[f"scale_build_audiences_{attempt}_s"] = round(time.perf_counter() - began, 1)
        log(f"scale: build_audiences ({attempt}), {report.active} campaigns over {figures['scale_customers']:,} "
            f"customers: {report.rows:,} audience rows in {figures[f'scale_build_audiences_{attempt}_s']} s")
    figures["scale_audience_rows"] = report.rows
    figures["scale_sample_ratio_mismatches"] = list(report.sample_ratio_mismatches)
    figures["scale_peak_rss_mb_spark_jvm"] = round(peak_rss_mb(jvm))
    rt.spark.stop()


def run(scale: int | None = None, profile: str | None = None, log=print) -> Figures:
    from jobs import pipeline
    from jobs.common import runtime
    from jobs.common.config import load_config
    from jobs.common.stage import Days
    from jobs.generate.campaigns import Effect, respond
    from jobs.generate.main import generate, world
    from jobs.generate.timeline import Window

    persons = scale or PERSONS
    scratch = Path(tempfile.mkdtemp(prefix="c360-bench-campaigns-"))
    figures: Figures = {"persons": persons, "days": DAYS, "launch": LAUNCH.isoformat(),
                        "attribution_days": ATTRIBUTION_DAYS}
    # The quality gate only checks (and costs minutes a day at this size); silver reads bronze without it.
    stages = ("ingest", "silver", "resolve_identities", "build_features")
    try:
        began = time.perf_counter()
        out = scratch / "gen"
        generate(out, persons, DAYS, seed=SEED, start=START, log=lambda *_: None)
        folder = scratch / "campaigns"
        _write_campaigns(folder)
        base = load_config(profile)
        rt = runtime.start(config=_config(base, scratch / "lake", out / "landing", folder),
                           app_name="c360 bench campaigns")
        pipeline.run(rt, Days.of(START, LAUNCH), stages, log=log, options={"build_features": {"docs": False}})
        figures["history_s"] = round(time.perf_counter() - began, 1)

        began = time.perf_counter()
        report = pipeline.stage("build_audiences").run(rt, Days.of(LAUNCH))
        figures["build_audiences_s"] = round(time.perf_counter() - began, 1)
        figures["audience_rows"] = report.rows
        figures["sample_ratio_mismatches"] = list(report.sample_ratio_mismatches)
        log(f"build_audiences {LAUNCH}: {report.active} campaigns, {report.rows:,} rows in "
            f"{figures['build_audiences_s']} s; sample-ratio mismatches: {list(report.sample_ratio_mismatches)}")

        assigned = _assigned(rt, out / "truth", LAUNCH)
        summary = json.loads((out / "truth" / "summary.json").read_text())["arguments"]
        window = Window(START, DAYS)
        _, catalog = world(SEED, summary["skus"], window)
        effects = {cid: Effect(uplift, ATTRIBUTION_DAYS) for cid, uplift in UPLIFTS.items()}
        truths = respond(out, assigned, effects, catalog, window, seed=SEED)
        for cid in UPLIFTS:
            log(f"truth {cid}: {truths[cid]}")

        began = time.perf_counter()
        last = LAUNCH + dt.timedelta(days=ATTRIBUTION_DAYS)
        pipeline.run(rt, Days.of(LAUNCH + dt.timedelta(days=1), last), stages, log=log,
                     options={"build_features": {"docs": False}})
        figures["after_launch_s"] = round(time.perf_counter() - began, 1)
        _readout(rt, last, truths, figures, log)
        _scale(base, scratch, rt, last, figures, log)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return figures
