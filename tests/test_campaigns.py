"""Campaign audiences: definitions checked at start, consent and erasure honoured, stable variants, caps, offers."""
from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from jobs.campaigns import audiences
from jobs.campaigns.main import ASSIGNMENTS
from jobs.campaigns.main import run as build_audiences
from jobs.common import campaigns as definitions
from jobs.common.campaigns import CampaignError
from jobs.common.serving_contract import CAMPAIGN_AUDIENCES
from jobs.common.stage import Days
from tests.support.runtime import runtime_for

DAY = dt.date(2026, 10, 10)
CUSTOMERS = 4000
CHECKOUT = Path(__file__).resolve().parents[1]


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder / name


CAMPAIGN = """
id: {id}
channel: {channel}
rule: "{rule}"
offer: {offer}
holdout_share: {share}
start: 2026-10-01
end: 2026-10-31
priority: {priority}
{extra}
"""


def _campaign(folder: Path, id: str, channel: str = "email", rule: str = "true", share: float = 0.1,
              offer: str = "{text: ten percent off}", priority: int = 100, extra: str = "") -> Path:
    return _write(folder, f"{id}.yaml", CAMPAIGN.format(id=id, channel=channel, rule=rule, share=share, offer=offer,
                                                        priority=priority, extra=extra))


def test_the_shipped_campaigns_load_in_priority_order(config):
    assert Path(config.campaigns.dir) == CHECKOUT / "conf" / "campaigns"
    campaigns = definitions.load(config.campaigns.dir)
    assert [c.id for c in campaigns] == ["winback_at_risk", "vip_high_value", "lapsing_cross_sell"]
    assert campaigns[2].recommendation_category == "Grocery" and campaigns[2].frequency_cap == 1


@pytest.mark.parametrize(("change", "message"), [
    ({"channel": "fax"}, "key 'channel': 'fax' is not one of email, sms, web"),
    ({"share": 1.5}, "key 'holdout_share': a share between 0 and 1"),
    ({"extra": "budget: 100"}, "unknown key 'budget'"),
    ({"extra": "frequency_cap: 0"}, "key 'frequency_cap': a whole number of campaigns, at least 1"),
    ({"extra": "readout: {attribution_days: 0}"}, "key 'readout.attribution_days': a whole number of days"),
    ({"extra": "readout: {baseline_conversion: 0.05}"}, "give both baseline_conversion and minimum_uplift"),
    ({"extra": "readout: {window: 7}"}, "key 'readout.window': unknown"),
    ({"offer": "{}"}, "key 'offer': give 'text' and/or 'recommendation_category'"),
])
def test_a_bad_definition_names_its_file_and_key(tmp_path, change, message):
    path = _campaign(tmp_path, "c1", **change)
    with pytest.raises(CampaignError) as error:
        definitions.load(tmp_path)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)


def test_two_files_with_one_id_are_refused_naming_both(tmp_path):
    first = _campaign(tmp_path, "a")
    _write(tmp_path, "b.yaml", first.read_text())
    with pytest.raises(CampaignError, match=r"b.yaml: key 'id': 'a' is already the id of the campaign in .*a.yaml"):
        definitions.load(tmp_path)


def test_an_end_before_the_start_and_a_missing_key_are_refused(tmp_path):
    _write(tmp_path, "x.yaml", CAMPAIGN.format(id="x", channel="sms", rule="true", share=0.1, offer="hi",
                                               priority=1, extra="").replace("end: 2026-10-31", "end: 2026-09-30"))
    with pytest.raises(CampaignError, match="x.yaml: key 'end': 2026-09-30 is before start 2026-10-01"):
        definitions.load(tmp_path)
    _write(tmp_path, "x.yaml", "id: x\nchannel: sms\n")
    with pytest.raises(CampaignError, match="x.yaml: missing key 'rule'"):
        definitions.load(tmp_path)


def test_the_sample_ratio_check_flags_a_drifted_split_only():
    _, p = audiences.sample_ratio(holdout=1000, treatment=9000, holdout_share=0.1)
    assert p == pytest.approx(1.0)
    _, p = audiences.sample_ratio(holdout=1060, treatment=8940, holdout_share=0.1)  # 2 sd: not a mismatch
    assert 0.03 < p < 0.07
    _, p = audiences.sample_ratio(holdout=1300, treatment=8700, holdout_share=0.1)
    assert p < 1e-6


def _lake(spark, lake, day=DAY):
    """gold.customer_360 (consent, erasure), scores, segments, recommendations and products as of `day`."""
    rows = []
    for n in range(CUSTOMERS):
        rows.append((f"K{n:05d}", day, n % 10 != 0, n % 7 != 0, n % 5 != 0, n == 42, 50.0 + n % 400,
                     "high" if n % 3 == 0 else "low", "Champions" if n % 4 == 0 else "At Risk"))
    frame = spark.createDataFrame(rows, "customer_key STRING, as_of_date DATE, consent_email_marketing BOOLEAN, "
                                        "consent_sms_marketing BOOLEAN, consent_personalization BOOLEAN, "
                                        "erasure_requested BOOLEAN, clv_12m DOUBLE, churn_risk_band STRING, "
                                        "rfm_segment STRING")
    lake.overwrite(frame.select("customer_key", "as_of_date", "consent_email_marketing", "consent_sms_marketing",
                                "consent_personalization", "erasure_requested", "rfm_segment"), "gold.customer_360")
    stamp = (F.lit(dt.datetime(2026, 10, 10, 3)).alias("generated_at"), F.lit(day).alias("run_date"))
    lake.overwrite(frame.select("customer_key", "clv_12m", "churn_risk_band", *stamp), "serving.customer_scores")
    lake.overwrite(frame.select("customer_key", F.lit(1).alias("cluster_id"), *stamp), "serving.customer_segments")
    recs = spark.createDataFrame([(f"K{n:05d}", rank, f"SKU{(n + rank) % 6}") for n in range(0, CUSTOMERS, 50)
                                  for rank in (1, 2, 3)], "customer_key STRING, rank INT, product_id STRING")
    lake.overwrite(recs.select("*", *stamp), "serving.recommendations")
    lake.overwrite(spark.createDataFrame([(f"SKU{i}", "Grocery" if i % 2 else "Pet") for i in range(6)],
                                         "sku STRING, category STRING"), "gold.product_features")


def _rt(config, lake, folder: Path):
    rt = runtime_for(config, lake)
    return dataclasses.replace(rt, config=dataclasses.replace(
        rt.config, campaigns=dataclasses.replace(rt.config.campaigns, dir=str(folder))))


def _audience(lake, day=DAY):
    return {(r.campaign_id, r.customer_key): r for r in
            lake.read(CAMPAIGN_AUDIENCES.name).where(F.col("run_date") == day).collect()}


def test_audiences_honour_consent_caps_and_keep_each_customers_variant(spark, lake, config, tmp_path):
    _lake(spark, lake)
    folder = tmp_path / "campaigns"
    _campaign(folder, "winback", rule="churn_risk_band = 'high' and clv_12m > 200", share=0.2, priority=1)
    _campaign(folder, "vip", rule="rfm_segment = 'Champions'", priority=2, extra="frequency_cap: 1")
    _campaign(folder, "grocery", channel="web", rule="true", priority=3, share=0.5,
              offer="{recommendation_category: Grocery}")
    rt = _rt(config, lake, folder)
    report = build_audiences(rt, Days.of(DAY))
    assert report.active == 3 and report.sample_ratio_mismatches == ()
    rows = _audience(lake)
    assert len(rows) == report.rows
    assert set(lake.read(CAMPAIGN_AUDIENCES.name).columns) == set(CAMPAIGN_AUDIENCES.column_names)

    number = {key: int(key[1:]) for _, key in rows}
    # only the channel's consent, never an erasure request
    for (_, key), row in rows.items():
        n = number[key]
        assert n != 42
        assert (n % 10 != 0) if row.channel == "email" else (n % 5 != 0)
    winback = {k for c, k in rows if c == "winback"}
    expected = {f"K{n:05d}" for n in range(CUSTOMERS) if n % 3 == 0 and 50 + n % 400 > 200 and n % 10 and n != 42}
    assert winback == expected
    # the cap: a Champion already selected by the higher-priority win-back is not in vip
    vip = {k for c, k in rows if c == "vip"}
    assert vip and not vip & winback
    assert vip == {f"K{n:05d}" for n in range(CUSTOMERS) if n % 4 == 0 and n % 10 and n != 42} - winback
    # offers: the best recommended grocery product where there is one, else nobody (no text fallback)
    grocery = {k: r.offer for (c, k), r in rows.items() if c == "grocery"}
    assert set(grocery) == {f"K{n:05d}" for n in range(0, CUSTOMERS, 50) if n % 5 != 0}
    for key, offer in grocery.items():
        n = number[key]
        assert offer == next(f"SKU{(n + rank) % 6}" for rank in (1, 2, 3) if ((n + rank) % 6) % 2 == 1)
    # the split is within the sample-ratio check and near the configured share
    checks = {r.campaign_id: r for r in lake.read(ASSIGNMENTS).collect()}
    assert not any(r.sample_ratio_mismatch for r in checks.values())
    held = sum(1 for (c, _), r in rows.items() if c == "winback" and r.variant == "holdout")
    assert abs(held / len(winback) - 0.2) < 4 * (0.2 * 0.8 / len(winback)) ** 0.5
    assert checks["vip"].capped == len({f"K{n:05d}" for n in range(CUSTOMERS)
                                        if n % 4 == 0 and n % 10 and n != 42} & winback)

    # a rerun of the day rewrites it with the same assignment
    build_audiences(rt, Days.of(DAY))
    again = _audience(lake)
    assert {k: (r.variant, r.offer, r.assigned_at) for k, r in again.items()} == {
        k: (r.variant, r.offer, r.assigned_at) for k, r in rows.items()}
    # the next day: everyone still selected keeps their variant and the day they were first assigned
    nxt = DAY + dt.timedelta(days=1)
    _lake(spark, lake, nxt)
    build_audiences(rt, Days.of(nxt))
    later = _audience(lake, nxt)
    assert later.keys() == rows.keys()
    assert all(later[k].variant == rows[k].variant and later[k].assigned_at == DAY for k in rows)


def test_a_rule_naming_an_unknown_column_stops_the_run_before_any_write(spark, lake, config, tmp_path):
    _lake(spark, lake)
    folder = tmp_path / "campaigns"
    _campaign(folder, "ok", rule="true")
    bad = _campaign(folder, "typo", rule="churn_risk_bnad = 'high'")
    with pytest.raises(CampaignError) as error:
        build_audiences(_rt(config, lake, folder), Days.of(DAY))
    assert str(error.value).startswith(f"{bad}: key 'rule'") and "churn_risk_bnad" in str(error.value)
    assert "churn_risk_band" in str(error.value)  # the columns a rule may use
    assert not lake.exists(CAMPAIGN_AUDIENCES.name)
    _campaign(folder, "typo", rule="clv_12m + 1")
    with pytest.raises(CampaignError, match="must be a condition"):
        build_audiences(_rt(config, lake, folder), Days.of(DAY))


def test_before_any_model_a_scores_rule_selects_nobody_and_the_rest_still_runs(spark, lake, config, tmp_path):
    _lake(spark, lake)
    lake.drop("serving.customer_scores")
    folder = tmp_path / "campaigns"
    _campaign(folder, "winback", rule="clv_12m > 100")
    _campaign(folder, "champions", rule="rfm_segment = 'Champions'", share=0.5)
    report = build_audiences(_rt(config, lake, folder), Days.of(DAY))
    rows = _audience(lake)
    assert {c for c, _ in rows} == {"champions"} and report.rows == len(rows) > 0
    sizes = {r.campaign_id: r.audience for r in lake.read(ASSIGNMENTS).collect()}
    assert sizes == {"winback": 0, "champions": len(rows)}


def test_the_size_a_campaign_needs_matches_the_two_proportion_formula():
    from jobs.common.stats import sample_size

    even = sample_size(baseline=0.05, uplift=0.01, holdout_share=0.5)
    assert even.holdout == even.treated and 8_100 < even.holdout < 8_200  # the textbook 8,158 per group
    # a 10 % holdout needs more customers in all, and fewer of them held out
    lopsided = sample_size(baseline=0.05, uplift=0.01, holdout_share=0.1)
    assert lopsided.total > even.total and lopsided.holdout < even.holdout
    assert lopsided.treated == pytest.approx(9 * lopsided.holdout, abs=1)
    # a larger uplift needs fewer
    assert sample_size(baseline=0.05, uplift=0.02, holdout_share=0.5).total < even.total / 3
    with pytest.raises(ValueError, match="uplift"):
        sample_size(baseline=0.05, uplift=0.0, holdout_share=0.5)


def test_campaign_size_reads_the_campaigns_holdout_share_and_says_how_many_days(capsys):
    from jobs.cli import main

    assert main(["campaign", "size", "--baseline", "0.05", "--uplift", "0.02", "--campaign", "winback_at_risk",
                 "--per-day", "500"]) == 0
    out = capsys.readouterr().out
    assert "holdout share of 0.1:" in out and "total          12,860" in out and "26 days" in out
    # the campaign's readout block sizes it too (baseline 0.05, minimum uplift 0.02)
    assert main(["campaign", "size", "--campaign", "winback_at_risk"]) == 0
    assert "total          12,860" in capsys.readouterr().out
    assert main(["campaign", "size", "--baseline", "0.05", "--uplift", "0.01", "--campaign", "nope"]) == 2
    assert "no campaign 'nope'" in capsys.readouterr().err


def test_gold_not_built_for_the_day_names_the_table_and_the_command(spark, lake, config, tmp_path):
    from jobs.campaigns.main import AudienceError

    _lake(spark, lake)
    later = DAY + dt.timedelta(days=1)
    with pytest.raises(AudienceError, match=rf"gold.customer_360 is as of {DAY}, not {later}: run `c360 "
                                            rf"build-features --date {later}` first"):
        build_audiences(_rt(config, lake, tmp_path / "campaigns"), Days.of(later))
    assert not lake.exists(CAMPAIGN_AUDIENCES.name)


def test_the_read_out_counts_whole_windows_and_the_report_prints_it(e2e, tmp_path, monkeypatch, capsys):
    """On the shared lake: an audience assigned on day 3, read out by the dbt build as of the last day,
    against conversions counted here from the purchases; then `c360 campaign report`."""
    from jobs.cli import main
    from jobs.common.campaigns import load
    from jobs.features.main import run as build_features

    lake, first, last = e2e.rt.lake, e2e.first, e2e.last
    assigned, window = first + dt.timedelta(days=2), 3
    folder = tmp_path / "campaigns"
    _campaign(folder, "readout", share=0.5, extra=f"readout: {{attribution_days: {window}, baseline_conversion: 0.1, "
                                                   "minimum_uplift: 0.3}")
    text = (folder / "readout.yaml").read_text().replace("2026-10-01", str(assigned)).replace("2026-10-31", str(last))
    (folder / "readout.yaml").write_text(text)
    campaign = load(folder)[0]
    customers = lake.read("gold.customer_360").select("customer_key").orderBy("customer_key").limit(400)
    rows = customers.select(
        F.lit("readout").alias("campaign_id"), "customer_key", F.lit("ten percent off").alias("offer"),
        F.lit("email").alias("channel"),
        audiences.variant(F.lit("readout"), F.col("customer_key"), F.lit(0.5)).alias("variant"),
        F.lit(assigned).alias("assigned_at"), F.lit(dt.datetime(2026, 10, 3, 6)).alias("generated_at"),
        F.lit(assigned).alias("run_date"))
    lake.replace_where(rows, CAMPAIGN_AUDIENCES.name, f"run_date = '{assigned}'")
    rt = _rt(e2e.rt.config, lake, folder)
    build_features(rt, Days.of(last), docs=False, select="+campaign_results")

    result = lake.read("gold.campaign_results").where(F.col("as_of_date") == last).collect()
    assert len(result) == 1
    r = result[0]
    purchases = lake.spark.read.format("delta").load(f"{lake.root}/gold/_intermediate/int_purchases")
    bought = set(k for (k,) in purchases.where(
        (F.col("purchase_date") > F.lit(assigned))
        & (F.col("purchase_date") <= F.lit(assigned + dt.timedelta(days=window)))).select("customer_key").collect())
    variants = {x.customer_key: x.variant for x in rows.collect()}
    held = [k for k, v in variants.items() if v == "holdout"]
    treated = [k for k, v in variants.items() if v == "treatment"]
    assert (r.audience_size, r.holdout_measured, r.treated_measured) == (400, len(held), len(treated))
    assert r.holdout_conversions == sum(k in bought for k in held) > 0
    assert r.treated_conversions == sum(k in bought for k in treated) > 0
    p0, p1 = r.holdout_conversions / len(held), r.treated_conversions / len(treated)
    assert r.uplift == pytest.approx(p1 - p0, abs=1e-6)
    assert r.uplift_ci_low < r.uplift < r.uplift_ci_high and 0 < r.p_value <= 1
    assert r.revenue_uplift_ci_low < r.revenue_uplift < r.revenue_uplift_ci_high
    needed = campaign.minimum_sample()
    assert (r.min_holdout, r.min_treated) == (needed.holdout, needed.treated)
    assert r.minimum_sample_reached == (len(held) >= needed.holdout and len(treated) >= needed.treated)

    monkeypatch.setenv("C360_LAKE_ROOT", lake.root)
    assert main(["campaign", "report", "readout"]) == 0
    out = capsys.readouterr().out
    assert f"campaign readout (email), read out as of {last}" in out
    assert f"{r.holdout_conversions:>12,}{r.treated_conversions:>12,}" in out and "95 % CI" in out
    assert main(["campaign", "report", "nope"]) == 2
    assert "no read-out for campaign 'nope'" in capsys.readouterr().err
