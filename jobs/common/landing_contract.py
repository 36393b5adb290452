"""The landing contract: every source's folder, file format, columns and types.

Declared once, here. The generator writes exactly this, ingest reads with exactly
these schemas (no inference), and `docs/landing.md` is rendered from it (a test
keeps the two equal).

Layout of a landing area (local folder or `s3://bucket/prefix`):

    <landing>/<source>/ds=YYYY-MM-DD/<source>_YYYYMMDD[_<suffix>].<ext>

Types are Spark SQL DDL types, so a source's schema is `Source.ddl()`.
Timestamps are ISO-8601 in UTC (`2026-10-01T13:45:00Z`), dates `YYYY-MM-DD`,
decimals use a dot and no thousands separator. CSV files are UTF-8, comma
separated, with a header row, quoted with `"` where needed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FileFormat = Literal["csv", "jsonl"]


@dataclass(frozen=True)
class Column:
    """One column of a landing file."""

    name: str
    type: str
    required: bool
    description: str
    # A SQL condition every non-empty value must meet (e.g. `quantity > 0`); rows
    # that fail it are quarantined at ingest with the rule as the reason.
    check: str = ""


@dataclass(frozen=True)
class Source:
    """One landing source: a folder of daily files sharing one schema."""

    name: str
    format: FileFormat
    grain: str
    description: str
    columns: tuple[Column, ...]

    @property
    def extension(self) -> str:
        return self.format

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def ddl(self) -> str:
        """The Spark DDL schema string, e.g. `crm_id STRING, created_at TIMESTAMP`."""
        return ", ".join(f"`{c.name}` {c.type.upper()}" for c in self.columns)

    def file_name(self, day: str, suffix: str = "") -> str:
        """File name for a day (`YYYY-MM-DD`), e.g. `crm_customers_20261001.csv`."""
        stem = f"{self.name}_{day.replace('-', '')}"
        return f"{stem}_{suffix}.{self.extension}" if suffix else f"{stem}.{self.extension}"

    def day_folder(self, day: str) -> str:
        return f"{self.name}/ds={day}"


def _c(name: str, type_: str, required: bool, description: str, check: str = "") -> Column:
    return Column(name, type_, required, description, check)


_PERSON_COLUMNS = (
    _c("first_name", "string", False, "Given name as typed into the source system"),
    _c("last_name", "string", False, "Family name as typed into the source system"),
    _c("email", "string", False, "Email address as captured (any case, may carry dots or +tags)"),
    _c("phone", "string", False, "Phone number in any national or international format"),
)

# Where invoices or local law make a business record one (CPF, codice fiscale, NIF, ...); optional.
_TAX_ID = _c("tax_id", "string", False, "Tax or national id number, where the business records one (optional)")

_ADDRESS_COLUMNS = (
    _c("street", "string", False, "House number and street"),
    _c("city", "string", False, "Post town"),
    _c("postcode", "string", False, "Postcode (UK format, any case or spacing)"),
    _c("country", "string", False, "ISO 3166-1 alpha-2 country code"),
)

SOURCES: tuple[Source, ...] = (
    Source(
        name="crm_customers",
        format="csv",
        grain="one row per CRM customer record change (new or updated records of the day)",
        description="Customer master export from the CRM, incremental by updated_at.",
        columns=(
            _c("crm_id", "string", True, "CRM customer id"),
            *_PERSON_COLUMNS,
            _c("date_of_birth", "date", False, "Date of birth"),
            _TAX_ID,
            _c("gender", "string", False, "F, M, X or empty"),
            *_ADDRESS_COLUMNS,
            _c("created_at", "timestamp", True, "When the CRM record was created"),
            _c("updated_at", "timestamp", True, "When this version of the record was written"),
        ),
    ),
    Source(
        name="web_accounts",
        format="jsonl",
        grain="one line per web shop account created or changed that day",
        description="Accounts of the web shop and app, incremental by updated_at.",
        columns=(
            _c("account_id", "string", True, "Web shop account id"),
            _c("email", "string", True, "Login email as typed at sign-up"),
            _c("first_name", "string", False, "Given name"),
            _c("last_name", "string", False, "Family name"),
            _c("phone", "string", False, "Phone number in any format"),
            _c("postcode", "string", False, "Default delivery postcode"),
            _c("created_at", "timestamp", True, "Account creation time"),
            _c("updated_at", "timestamp", True, "When this version of the account was written"),
        ),
    ),
    Source(
        name="loyalty_members",
        format="csv",
        grain="one row per loyalty member record change (new or updated members of the day)",
        description="Loyalty programme members, incremental by updated_at.",
        columns=(
            _c("loyalty_id", "string", True, "Loyalty card number"),
            *_PERSON_COLUMNS,
            _c("date_of_birth", "date", False, "Date of birth"),
            _TAX_ID,
            _c("postcode", "string", False, "Home postcode"),
            _c("tier", "string", True, "bronze, silver or gold"),
            _c("points_balance", "int", True, "Points balance at updated_at", "points_balance >= 0"),
            _c("joined_at", "timestamp", True, "When the member joined"),
            _c("updated_at", "timestamp", True, "When this version of the record was written"),
        ),
    ),
    Source(
        name="products",
        format="csv",
        grain="one row per SKU: the full catalog snapshot of the day",
        description="Product catalog snapshot.",
        columns=(
            _c("sku", "string", True, "Stock keeping unit, format SKU-000000"),
            _c("product_name", "string", True, "Display name"),
            _c("category", "string", True, "Top-level category"),
            _c("subcategory", "string", False, "Subcategory"),
            _c("brand", "string", True, "Brand"),
            _c("price", "decimal(12,2)", True, "Current list price", "price >= 0"),
            _c("currency", "string", True, "ISO 4217 currency code"),
            _c("in_stock", "boolean", True, "Whether the SKU can be sold today"),
            _c("active", "boolean", True, "Whether the SKU is listed"),
            _c("launched_at", "date", True, "Date the SKU was first listed"),
        ),
    ),
    Source(
        name="orders",
        format="csv",
        grain="one row per online order placed that day",
        description="Online orders export (header); its lines are in order_lines.",
        columns=(
            _c("order_id", "string", True, "Order id"),
            _c("account_id", "string", False, "Web account id; empty for guest checkout"),
            _c("email", "string", True, "Email given at checkout"),
            _c("order_ts", "timestamp", True, "When the order was placed"),
            _c("channel", "string", True, "web or app"),
            _c("currency", "string", True, "ISO 4217 currency code"),
            _c("order_total", "decimal(12,2)", True, "Total charged, after discounts", "order_total >= 0"),
            _c("ship_street", "string", False, "Delivery street"),
            _c("ship_city", "string", False, "Delivery town"),
            _c("ship_postcode", "string", False, "Delivery postcode"),
            _c("cookie_id", "string", False, "Web cookie the order was placed from"),
        ),
    ),
    Source(
        name="order_lines",
        format="csv",
        grain="one row per line of an online order placed that day",
        description="Online orders export (lines); joins to orders on order_id.",
        columns=(
            _c("order_id", "string", True, "Order id"),
            _c("line_no", "int", True, "Line number within the order, from 1"),
            _c("sku", "string", True, "SKU ordered"),
            _c("quantity", "int", True, "Units ordered", "quantity > 0"),
            _c("unit_price", "decimal(12,2)", True, "Price per unit before discount", "unit_price >= 0"),
            _c("discount", "decimal(12,2)", True, "Discount on the line", "discount >= 0"),
        ),
    ),
    Source(
        name="pos_transactions",
        format="csv",
        grain="one row per line of a store till transaction",
        description="Store point-of-sale export; a basket spans rows with one transaction_id.",
        columns=(
            _c("transaction_id", "string", True, "Till transaction id"),
            _c("line_no", "int", True, "Line number within the transaction, from 1"),
            _c("store_id", "string", True, "Store id"),
            _c("transaction_ts", "timestamp", True, "When the transaction was rung up"),
            _c("loyalty_id", "string", False, "Loyalty card scanned, if any"),
            _c("receipt_email", "string", False, "Email given for an e-receipt, if any"),
            _c("sku", "string", True, "SKU sold"),
            _c("quantity", "int", True, "Units sold (returns are not in this export)", "quantity > 0"),
            _c("unit_price", "decimal(12,2)", True, "Price per unit before discount", "unit_price >= 0"),
            _c("discount", "decimal(12,2)", True, "Discount on the line", "discount >= 0"),
        ),
    ),
    Source(
        name="web_events",
        format="jsonl",
        grain="one line per clickstream event",
        description="Web and app clickstream; account_id is set once the visitor is logged in.",
        columns=(
            _c("event_id", "string", True, "Event id (unique)"),
            _c("event_ts", "timestamp", True, "When the event happened"),
            _c("event_type", "string", True, "view, search, add_to_cart or purchase"),
            _c("cookie_id", "string", True, "Anonymous browser or app-install id"),
            _c("account_id", "string", False, "Web account id when logged in"),
            _c("session_id", "string", True, "Session id"),
            _c("device", "string", True, "desktop, mobile, tablet or app"),
            _c("sku", "string", False, "Product for view, add_to_cart and purchase"),
            _c("search_query", "string", False, "Query text for search"),
            _c("order_id", "string", False, "Order id for purchase"),
        ),
    ),
    Source(
        name="email_events",
        format="jsonl",
        grain="one line per email send, open or click",
        description="Email service provider engagement export.",
        columns=(
            _c("event_id", "string", True, "Event id (unique)"),
            _c("event_ts", "timestamp", True, "When the event happened"),
            _c("event_type", "string", True, "send, open or click"),
            _c("email", "string", True, "Recipient address as held by the email tool"),
            _c("campaign_id", "string", True, "Campaign id"),
            _c("link_url", "string", False, "Clicked link, for click"),
        ),
    ),
    Source(
        name="consent_events",
        format="jsonl",
        grain="one line per consent change or erasure request",
        description="Consent platform export: opt-in and opt-out per purpose, erasure requests.",
        columns=(
            _c("event_id", "string", True, "Event id (unique)"),
            _c("event_ts", "timestamp", True, "When the subject gave or withdrew consent"),
            _c("subject_type", "string", True, "crm_id, account_id, loyalty_id or email"),
            _c("subject_id", "string", True, "The id (or email) the consent is about"),
            _c("purpose", "string", True, "email_marketing, sms_marketing, personalization, analytics or all"),
            _c("action", "string", True, "opt_in, opt_out or erasure_request"),
            _c("source_system", "string", True, "Where it was captured: web, store, email, crm"),
        ),
    ),
)

SOURCES_BY_NAME: dict[str, Source] = {s.name: s for s in SOURCES}


def source(name: str) -> Source:
    """The source named `name`, or a clear error listing the known ones."""
    try:
        return SOURCES_BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(SOURCES_BY_NAME))
        raise KeyError(f"unknown landing source '{name}'; known sources: {known}") from None


def render_markdown() -> str:
    """The landing contract as Markdown (the body of docs/landing.md)."""
    lines = [
        "# Landing contract",
        "",
        "Generated from `jobs/common/landing_contract.py` (`python -m jobs.common.landing_contract`);",
        "a test fails when this file and the code disagree.",
        "",
        "Files go to `<landing>/<source>/ds=YYYY-MM-DD/<source>_YYYYMMDD[_<suffix>].<ext>`,",
        "where `<landing>` is a local folder or `s3://bucket/prefix`. CSV: UTF-8, comma",
        "separated, header row, `\"` quoting. JSON lines: UTF-8, one object per line.",
        "Timestamps are ISO-8601 UTC (`2026-10-01T13:45:00Z`), dates `YYYY-MM-DD`,",
        "decimals with a dot. A required column must be in the file (CSV header or JSON key)",
        "and non-empty in every row; an optional column may be absent or empty; columns the",
        "contract does not name are ignored. A value that breaks its type or rule sends its",
        "row to quarantine (`ops.quarantine`) with the reason; the rest of the file loads.",
        "",
    ]
    for s in SOURCES:
        lines += [
            f"## `{s.name}`",
            "",
            s.description,
            "",
            f"- folder: `{s.day_folder('YYYY-MM-DD')}/`",
            f"- format: {s.format}",
            f"- grain: {s.grain}",
            "",
            "| column | type | required | rule | description |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| `{c.name}` | {c.type} | {'yes' if c.required else 'no'} | {f'`{c.check}`' if c.check else ''} "
            f"| {c.description} |"
            for c in s.columns
        ]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_markdown(), end="")
