"""`c360 campaign report ID`: a campaign's read-out from gold.campaign_results, as text.

Reads the table through delta-rs (`deltalake`): a report is a few rows, not worth a JVM.
The read-out itself is the dbt model `campaign_results` (docs/campaigns.md).
"""
from __future__ import annotations

import datetime as dt
import os

from jobs.common.errors import C360Error

RESULTS = ("gold", "campaign_results")


class ReportError(C360Error):
    """No read-out to print: the table, the campaign or the day is missing."""


def read(lake_root: str, campaign_id: str, day: dt.date | None = None) -> list[dict]:
    """The campaign's rows of gold.campaign_results up to `day` (every day when None), oldest first."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    path = os.path.join(lake_root, *RESULTS)
    try:
        table = DeltaTable(path)
    except TableNotFoundError:
        raise ReportError(f"gold.campaign_results does not exist (no Delta table at {path}): it is built by "
                          f"`c360 build-features` once a campaign has an audience (`c360 build-audiences`)") from None
    rows = table.to_pyarrow_table(filters=[("campaign_id", "=", campaign_id)]).to_pylist()
    if not rows:
        known = sorted(set(table.to_pyarrow_table(columns=["campaign_id"]).column(0).to_pylist()))
        raise ReportError(f"no read-out for campaign {campaign_id!r} in gold.campaign_results; campaigns there: "
                          f"{', '.join(known) or 'none'}")
    rows = sorted((r for r in rows if day is None or r["as_of_date"] <= day), key=lambda r: r["as_of_date"])
    if not rows:
        raise ReportError(f"campaign {campaign_id!r} has no read-out as of {day} or before")
    return rows


def _pct(value: float | None, signed: bool = False) -> str:
    return "n/a" if value is None else f"{value * 100:{'+' if signed else ''}.2f} %"


def _pp(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:+.2f} pp"


def _money(value: float | None, signed: bool = False) -> str:
    return "n/a" if value is None else f"{value:{'+' if signed else ''},.2f}"


def render(rows: list[dict]) -> str:
    """The latest row in full, then one line per earlier day (how the estimate settled)."""
    r = rows[-1]
    out = [f"campaign {r['campaign_id']} ({r['channel']}), read out as of {r['as_of_date']}",
           f"  assigned {r['first_assigned_at'] or '-'} .. {r['last_assigned_at'] or '-'}; a conversion is a purchase "
           f"in the {r['attribution_days']} days after assignment; outcomes of customers whose window has closed",
           "",
           f"  {'':<24}{'holdout':>12}{'treated':>12}",
           f"  {'assigned':<24}{r['holdout_size']:>12,}{r['treated_size']:>12,}",
           f"  {'measured':<24}{r['holdout_measured']:>12,}{r['treated_measured']:>12,}",
           f"  {'converted':<24}{r['holdout_conversions']:>12,}{r['treated_conversions']:>12,}",
           f"  {'conversion rate':<24}{_pct(r['holdout_conversion_rate']):>12}{_pct(r['treated_conversion_rate']):>12}",
           f"  {'revenue per customer':<24}{_money(r['holdout_revenue_per_customer']):>12}"
           f"{_money(r['treated_revenue_per_customer']):>12}",
           ""]
    if r["uplift"] is None:
        out.append("  uplift: not yet measurable (no customer of each group has a closed window)")
    else:
        verdict = "n/a" if r["p_value"] is None else (
            f"{'significant' if r['significant'] else 'not significant'} at {r['alpha']}")
        out += [f"  uplift in conversion   {_pp(r['uplift'])} (95 % CI {_pp(r['uplift_ci_low'])} to "
                f"{_pp(r['uplift_ci_high'])}); relative {_pct(r['relative_uplift'], True)} (95 % CI "
                f"{_pct(r['relative_uplift_ci_low'], True)} to {_pct(r['relative_uplift_ci_high'], True)})",
                f"  two-proportion z-test  z = {r['z_score'] if r['z_score'] is not None else 'n/a'}, "
                f"p = {r['p_value'] if r['p_value'] is not None else 'n/a'}: {verdict}",
                f"  revenue per customer   {_money(r['revenue_uplift'], True)} (95 % bootstrap CI "
                f"{_money(r['revenue_uplift_ci_low'], True)} to {_money(r['revenue_uplift_ci_high'], True)}, "
                f"{r['bootstrap_replicates']} replicates)"]
    if r["channel"] == "email":
        out.append(f"  email (treated)        sent {r['treated_sent']:,}, opened {_pct(r['open_rate'])}, "
                   f"clicked {_pct(r['click_rate'])}")
    if r["min_holdout"] is None:
        out.append("  minimum sample         no effect configured (readout.baseline_conversion and minimum_uplift)")
    else:
        state = "reached" if r["minimum_sample_reached"] else "not reached yet"
        out.append(f"  minimum sample         {r['min_holdout']:,} holdout and {r['min_treated']:,} treated measured: "
                   f"{state}")
    if len(rows) > 1:
        out += ["", f"  {'as of':<12}{'measured':>10}{'uplift':>12}{'p-value':>10}"]
        for e in rows[-15:]:
            measured = e["holdout_measured"] + e["treated_measured"]
            p = "n/a" if e["p_value"] is None else f"{e['p_value']:.4f}"
            out.append(f"  {e['as_of_date']!s:<12}{measured:>10,}{_pp(e['uplift']):>12}{p:>10}")
    return "\n".join(out)
