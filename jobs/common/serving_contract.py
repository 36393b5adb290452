"""The serving contract: every serving table, its grain, key, columns, writer and retention.

Apps read the serving layer (through `c360 serve` or the Delta tables themselves); this
module is what they may rely on. `docs/serving.md` is rendered from it
(`python -m jobs.common.serving_contract > docs/serving.md`; a test fails when they
disagree), and a test checks the tables the pipeline writes against it, column by column.

Every serving table is partitioned by `run_date`: a run writes its day in one Delta
commit (a rerun rewrites the day) and drops run days older than the table's retention
in the same commit. A day is *complete* when every table marked `complete_day` holds
it; readers serve the latest complete day.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServingColumn:
    name: str
    type: str  # Spark SQL type, as `DESCRIBE` prints it
    description: str


@dataclass(frozen=True)
class ServingTable:
    """One serving table."""

    name: str  # `serving.<table>`
    description: str
    grain: str
    key: tuple[str, ...]  # unique within a run_date
    written_by: str  # the stage that writes it
    retention: str  # the setting holding its retention in run days
    columns: tuple[ServingColumn, ...]
    # Part of a complete day: readers serve a run_date only when every such table holds it.
    complete_day: bool = True

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def short_name(self) -> str:
        return self.name.split(".", 1)[1]

    def ddl(self) -> str:
        """The Spark DDL schema string of the columns, e.g. `` `customer_key` string, `run_date` date``."""
        return ", ".join(f"`{c.name}` {c.type}" for c in self.columns)


def _c(name: str, type_: str, description: str) -> ServingColumn:
    return ServingColumn(name, type_, description)


_STAMP = (
    _c("generated_at", "timestamp", "When the run that wrote the row started (UTC)"),
    _c("run_date", "date", "The day the row is as of (partition column)"),
)

# The identifier types of serving.customer_lookup, and where each comes from.
LOOKUP_ID_TYPES: dict[str, str] = {
    "crm_id": "the CRM's customer id (`crm_customers.crm_id`)",
    "account_id": "the web shop's account id (`web_accounts.account_id`)",
    "loyalty_id": "the loyalty card number (`loyalty_members.loyalty_id`)",
    "email_hmac": "HMAC-SHA256 (hex) of the trimmed, lower-cased email under the pseudonym key "
                  "(the same value as `gold.customer_360.email_hmac`)",
    "customer_key": "a customer_key, current or retired by a merge (it points to the key that survived)",
}

# The profile sources whose record key an app holds, and the id_type it is looked up by
# (the landing column that carries it).
PROFILE_ID_TYPES: dict[str, str] = {"crm_customers": "crm_id", "web_accounts": "account_id",
                                    "loyalty_members": "loyalty_id"}

CUSTOMER_LOOKUP = ServingTable(
    name="serving.customer_lookup",
    description="Every identifier an app holds, mapped to the current customer_key. A key retired by a merge "
                "maps to the key that survived it (following merges of merges); an identifier that names "
                "several customers (a shared household email) has no key and says how many it names.",
    grain="one row per id_type and id per run_date",
    key=("id_type", "id"),
    written_by="build_lookup",
    retention="serving.retention_days",
    columns=(
        _c("id_type", "string", "What the id is: " + ", ".join(f"`{t}`" for t in LOOKUP_ID_TYPES)),
        _c("id", "string", "The identifier, as the source system spells it (trimmed); no raw email or phone"),
        _c("customer_key", "string", "The current customer_key; null when the id names more than one customer"),
        _c("candidates", "int", "How many current customer_keys the id names (1, or more for a shared email)"),
        *_STAMP,
    ),
)

CUSTOMER_SEGMENTS = ServingTable(
    name="serving.customer_segments",
    description="RFM segment of every customer in the RFM base, and the behavioural cluster of the segment "
                "model's champion (null until one is registered).",
    grain="one row per customer_key of the RFM base per run_date",
    key=("customer_key",),
    written_by="score_customers",
    retention="customers.retention_days",
    columns=(
        _c("customer_key", "string", "The customer"),
        _c("rfm_score", "string", "Recency, frequency and monetary quintiles, e.g. `545`"),
        _c("rfm_segment", "string", "The RFM segment's name (Champions, Loyal, At risk, ...)"),
        _c("cluster_id", "int", "Behavioural cluster id; stable across retrains of the segment model"),
        _c("cluster_name", "string", "The cluster's name in words"),
        _c("segment_model_version", "string", "The segment model that assigned the cluster (`name/version`)"),
        *_STAMP,
    ),
)

CUSTOMER_SCORES = ServingTable(
    name="serving.customer_scores",
    description="Lifetime value and churn scores of every customer with a purchase; written once a lifetime "
                "value or churn champion exists (the columns of a model without one are null).",
    grain="one row per customer_key with a purchase per run_date",
    key=("customer_key",),
    written_by="score_customers",
    retention="customers.retention_days",
    complete_day=False,
    columns=(
        _c("customer_key", "string", "The customer"),
        _c("expected_purchases_90d", "double", "Purchases expected in the next 90 days (BG/NBD)"),
        _c("p_alive", "double", "Probability that the customer is still active (BG/NBD)"),
        _c("clv_12m", "double", "Lifetime value of the next 12 months, discounted (BG/NBD x Gamma-Gamma)"),
        _c("churn_probability", "double", "Calibrated probability of no purchase within the churn horizon; "
                                          "null for a customer not active on the day"),
        _c("churn_risk_band", "string", "`low`, `medium` or `high`"),
        _c("churn_drivers", "array<string>", "Up to three reasons for the churn probability, in words"),
        _c("clv_model_version", "string", "The lifetime value model (`name/version`)"),
        _c("churn_model_version", "string", "The churn model (`name/version`)"),
        *_STAMP,
    ),
)

RECOMMENDATIONS = ServingTable(
    name="serving.recommendations",
    description="The top N products for every customer, ranked, with the method that chose each and why.",
    grain="one row per customer_key and rank per run_date",
    key=("customer_key", "rank"),
    written_by="score_recommendations",
    retention="recommend.retention_days",
    columns=(
        _c("customer_key", "string", "The customer"),
        _c("rank", "int", "1 is the best"),
        _c("product_id", "string", "The product (sku)"),
        _c("score", "double", "The method's score (comparable within one customer's list)"),
        _c("source", "string", "The method that chose the product: `als`, `content`, `popular_in_segment` or `popular`"),
        _c("reason", "string", "Why, in words a customer may read"),
        _c("model_version", "string", "The recommender champion (`name/version`); null before the first one"),
        *_STAMP,
    ),
)

CAMPAIGN_AUDIENCES = ServingTable(
    name="serving.campaign_audiences",
    description="Every active campaign's audience of the day (campaigns declared in `conf/campaigns/`, "
                "docs/campaigns.md): customers its rule selects who gave the channel's consent and asked for no "
                "erasure, within the frequency caps, each with the offer and a variant that stays the customer's "
                "for the life of the campaign. Send to `treatment`; `holdout` is the control group.",
    grain="one row per campaign_id and customer_key per run_date",
    key=("campaign_id", "customer_key"),
    written_by="build_audiences",
    retention="campaigns.retention_days",
    columns=(
        _c("campaign_id", "string", "The campaign (its `id` in the definition)"),
        _c("customer_key", "string", "The customer"),
        _c("offer", "string", "The customer's best recommended product (`sku`) in the campaign's category, "
                              "else the campaign's offer text"),
        _c("channel", "string", "email, sms or web"),
        _c("variant", "string", "`treatment` (send) or `holdout` (do not send): the first 32 bits of "
                                "SHA-256 of `<campaign_id>:<customer_key>` over 2^32, below the holdout share"),
        _c("assigned_at", "date", "The first run day the customer was in this campaign's audience"),
        *_STAMP,
    ),
    complete_day=False,
)

SERVING_TABLES: tuple[ServingTable, ...] = (CUSTOMER_LOOKUP, CUSTOMER_SEGMENTS, CUSTOMER_SCORES, RECOMMENDATIONS,
                                             CAMPAIGN_AUDIENCES)


def serving_table(name: str) -> ServingTable:
    """The contract of `serving.<name>` (or of `name` given in full)."""
    full = name if name.startswith("serving.") else f"serving.{name}"
    for table in SERVING_TABLES:
        if table.name == full:
            return table
    raise KeyError(f"no serving table {full}; the serving tables are {', '.join(t.name for t in SERVING_TABLES)}")


def render_markdown() -> str:
    """The serving contract as Markdown (the body of docs/serving.md)."""
    lines = [
        "# Serving contract",
        "",
        "Generated from `jobs/common/serving_contract.py` (`python -m jobs.common.serving_contract`);",
        "a test fails when this file and the code disagree, and another when a table the pipeline",
        "writes and its contract disagree.",
        "",
        "Serving tables are Delta tables under `<lake>/serving/<table>`, partitioned by `run_date`.",
        "A run writes its day in one commit (a rerun rewrites the day) and drops the run days older",
        "than the table's retention in the same commit. A day is complete when every table below",
        "marked *part of a complete day* holds it; `c360 serve` serves the latest complete day and",
        "switches to a newer one only when it is complete. No serving table holds a raw email, phone",
        "or name.",
        "",
    ]
    for t in SERVING_TABLES:
        lines += [
            f"## `{t.name}`",
            "",
            t.description,
            "",
            f"- grain: {t.grain}",
            f"- key: {', '.join(f'`{k}`' for k in t.key)} (within a `run_date`)",
            f"- written by: the `{t.written_by}` stage",
            f"- retention: `{t.retention}` run days",
            f"- part of a complete day: {'yes' if t.complete_day else 'no (joined when present)'}",
            "",
            "| column | type | description |",
            "|---|---|---|",
            *[f"| `{c.name}` | {c.type} | {c.description} |" for c in t.columns],
            "",
        ]
        if t is CUSTOMER_LOOKUP:
            lines += ["| id_type | the id |", "|---|---|",
                      *[f"| `{k}` | {v} |" for k, v in LOOKUP_ID_TYPES.items()], ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_markdown(), end="")
