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
# How silver stores a source's conformed rows (jobs/silver/main.py):
# `day` replaces the landing-day partition, `scd2` keeps record history, `latest` upserts.
SilverWrite = Literal["day", "scd2", "latest"]
# What identity resolution makes of a source's records: `profile` records are matched with
# each other (rules and the probabilistic model), `satellite` records attach to a profile
# cluster, `via_purchase` records name no person but a purchase (an order or a till
# transaction) and belong to that purchase's customer (joined in the feature layer),
# `none` carry no person.
IdentityRole = Literal["profile", "satellite", "via_purchase", "none"]
# `daily`: a file (CSV: at least its header) lands every day; `weekly`: at least one in any 7 days
# (the quality gate fails a week without one); `when_any`: a quiet day has no file.
Delivery = Literal["daily", "weekly", "when_any"]

# The landing-day partition column of bronze and of day-written silver tables.
DAY_COLUMN = "_ds"


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
    # Personal data: normalised in silver, pseudonymised or left out past it.
    pii: bool = False


@dataclass(frozen=True)
class Source:
    """One landing source, declared once: its files, and what each stage makes of them.

    Attributes:
        name: the folder under the landing area and the table name in bronze and silver.
        format, grain, description, columns: the landing files.
        system: the system the feed comes from (`source_system` in silver; with `record_key`
            it names a source record).
        silver_write: how silver stores the conformed rows (`day`, `scd2`, `latest`).
        keys: the business key of a silver row (for `scd2`: of a record, without its validity).
        order_col: for `scd2` the effective time, for `latest` the column a newer row wins on.
        tracked: for `scd2`, the silver columns whose change makes a new version.
        identity: `profile`, `satellite`, `via_purchase` or `none` (see `IdentityRole`).
        delivery: `daily`, `weekly` or `when_any` (see `Delivery`); the daily DAG waits for `daily` ones.
    """

    name: str
    format: FileFormat
    grain: str
    description: str
    columns: tuple[Column, ...]
    system: str
    silver_write: SilverWrite
    keys: tuple[str, ...]
    order_col: str | None = None
    tracked: tuple[str, ...] = ()
    identity: IdentityRole = "none"
    delivery: Delivery = "daily"

    def __post_init__(self) -> None:
        if self.silver_write in ("scd2", "latest") and not self.order_col:
            raise ValueError(f"source {self.name}: silver_write '{self.silver_write}' needs an order_col")
        if self.tracked and self.silver_write != "scd2":
            raise ValueError(f"source {self.name}: tracked columns only apply to silver_write 'scd2'")

    @property
    def pii_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.pii)

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


def _c(name: str, type_: str, required: bool, description: str, check: str = "", pii: bool = False) -> Column:
    return Column(name, type_, required, description, check, pii)


_PERSON_COLUMNS = (
    _c("first_name", "string", False, "Given name as typed into the source system", pii=True),
    _c("last_name", "string", False, "Family name as typed into the source system", pii=True),
    _c("email", "string", False, "Email address as captured (any case, may carry dots or +tags)", pii=True),
    _c("phone", "string", False, "Phone number in any national or international format", pii=True),
)

# Where invoices or local law make a business record one (CPF, codice fiscale, NIF, ...); optional.
_TAX_ID = _c("tax_id", "string", False, "Tax or national id number, where the business records one (optional)",
             pii=True)
_DATE_OF_BIRTH = _c("date_of_birth", "date", False, "Date of birth", pii=True)

_ADDRESS_COLUMNS = (
    _c("street", "string", False, "House number and street", pii=True),
    _c("city", "string", False, "Post town"),
    _c("postcode", "string", False, "Postcode (UK format, any case or spacing)", pii=True),
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
            _DATE_OF_BIRTH,
            _TAX_ID,
            _c("gender", "string", False, "F, M, X or empty"),
            *_ADDRESS_COLUMNS,
            _c("created_at", "timestamp", True, "When the CRM record was created"),
            _c("updated_at", "timestamp", True, "When this version of the record was written"),
        ),
        system="crm", silver_write="scd2", keys=("record_key",), order_col="updated_at",
        tracked=("first_name", "last_name", "email", "phone", "date_of_birth", "tax_id", "gender", "street", "city",
                 "postcode", "country"),
        identity="profile",
    ),
    Source(
        name="web_accounts",
        format="jsonl",
        grain="one line per web shop account created or changed that day",
        description="Accounts of the web shop and app, incremental by updated_at.",
        columns=(
            _c("account_id", "string", True, "Web shop account id"),
            _c("email", "string", True, "Login email as typed at sign-up", pii=True),
            _c("first_name", "string", False, "Given name", pii=True),
            _c("last_name", "string", False, "Family name", pii=True),
            _c("phone", "string", False, "Phone number in any format", pii=True),
            _c("postcode", "string", False, "Default delivery postcode", pii=True),
            _c("created_at", "timestamp", True, "Account creation time"),
            _c("updated_at", "timestamp", True, "When this version of the account was written"),
        ),
        system="web", silver_write="latest", keys=("record_key",), order_col="updated_at", identity="profile",
        delivery="when_any",
    ),
    Source(
        name="loyalty_members",
        format="csv",
        grain="one row per loyalty member record change (new or updated members of the day)",
        description="Loyalty programme members, incremental by updated_at.",
        columns=(
            _c("loyalty_id", "string", True, "Loyalty card number"),
            *_PERSON_COLUMNS,
            _DATE_OF_BIRTH,
            _TAX_ID,
            _c("postcode", "string", False, "Home postcode", pii=True),
            _c("tier", "string", True, "bronze, silver or gold"),
            _c("points_balance", "int", True, "Points balance at updated_at", "points_balance >= 0"),
            _c("joined_at", "timestamp", True, "When the member joined"),
            _c("updated_at", "timestamp", True, "When this version of the record was written"),
        ),
        system="loyalty", silver_write="scd2", keys=("record_key",), order_col="updated_at",
        tracked=("first_name", "last_name", "email", "phone", "date_of_birth", "tax_id", "postcode", "tier",
                 "points_balance"),
        identity="profile",
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
        system="catalog", silver_write="latest", keys=("sku",), order_col=DAY_COLUMN,
    ),
    Source(
        name="orders",
        format="csv",
        grain="one row per online order placed that day",
        description="Online orders export (header); its lines are in order_lines.",
        columns=(
            _c("order_id", "string", True, "Order id"),
            _c("account_id", "string", False, "Web account id; empty for guest checkout"),
            _c("email", "string", True, "Email given at checkout", pii=True),
            _c("order_ts", "timestamp", True, "When the order was placed"),
            _c("channel", "string", True, "web or app"),
            _c("currency", "string", True, "ISO 4217 currency code"),
            _c("order_total", "decimal(12,2)", True, "Total charged, after discounts", "order_total >= 0"),
            _c("ship_street", "string", False, "Delivery street", pii=True),
            _c("ship_city", "string", False, "Delivery town"),
            _c("ship_postcode", "string", False, "Delivery postcode", pii=True),
            _c("cookie_id", "string", False, "Web cookie the order was placed from"),
        ),
        system="web", silver_write="day", keys=("order_id",), identity="satellite",
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
            _c("discount", "decimal(12,2)", True, "Discount on the line, at most its units x unit price",
               "discount >= 0 AND discount <= quantity * unit_price"),
        ),
        system="web", silver_write="day", keys=("order_id", "line_no"),
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
            _c("receipt_email", "string", False, "Email given for an e-receipt, if any", pii=True),
            _c("sku", "string", True, "SKU sold"),
            _c("quantity", "int", True, "Units sold (returns are in the `returns` export)", "quantity > 0"),
            _c("unit_price", "decimal(12,2)", True, "Price per unit before discount", "unit_price >= 0"),
            _c("discount", "decimal(12,2)", True, "Discount on the line, at most its units x unit price",
               "discount >= 0 AND discount <= quantity * unit_price"),
        ),
        system="pos", silver_write="day", keys=("transaction_id", "line_no"), identity="satellite",
    ),
    # After order_lines and pos_transactions: silver checks a return against the lines it returns,
    # so those are built first (silver builds sources in this order).
    Source(
        name="returns",
        format="csv",
        grain="one row per returned line; a return (return_id) spans one or more lines of one purchase",
        description=("Returns of online order lines and store till lines, booked that day, with their refunds. "
                     "Silver quarantines a return that names no landed line, or another SKU, more units or "
                     "more money than its line (`jobs/silver/returns.py`)."),
        columns=(
            _c("return_id", "string", True, "Return id (returns authorisation or till refund)"),
            _c("order_id", "string", False, "Online order of the returned line; empty for a store return"),
            _c("transaction_id", "string", False, "Till transaction of the returned line; empty for an online return"),
            _c("line_no", "int", True, "Line number of the returned line in its order or till transaction"),
            _c("sku", "string", True, "SKU returned: the SKU of that line"),
            _c("quantity", "int", True, "Units returned, at most the units of the line", "quantity > 0"),
            _c("refund_amount", "decimal(12,2)", True,
               "Amount refunded: units returned x the line's unit price after discount", "refund_amount >= 0"),
            _c("reason", "string", True, "damaged, wrong_size, not_as_described, changed_mind or late_delivery"),
            _c("returned_at", "timestamp", True, "When the return was booked (received back or refunded at the till)"),
        ),
        system="returns", silver_write="day", keys=("return_id", "line_no"), identity="via_purchase",
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
        system="web", silver_write="day", keys=("event_id",), identity="satellite", delivery="when_any",
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
            _c("email", "string", True, "Recipient address as held by the email tool", pii=True),
            _c("campaign_id", "string", True, "Campaign id"),
            _c("link_url", "string", False, "Clicked link, for click"),
        ),
        system="email", silver_write="day", keys=("event_id",), identity="satellite", delivery="when_any",
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
            _c("subject_id", "string", True, "The id (or email) the consent is about", pii=True),
            _c("purpose", "string", True, "email_marketing, sms_marketing, personalization, analytics or all"),
            _c("action", "string", True, "opt_in, opt_out or erasure_request"),
            _c("source_system", "string", True, "Where it was captured: web, store, email, crm"),
        ),
        system="consent", silver_write="day", keys=("event_id",), delivery="when_any",
    ),
)

SOURCES_BY_NAME: dict[str, Source] = {s.name: s for s in SOURCES}

# Requests to forget a person. Not a source of the lake: the `erase` stage reads them from the
# landing area (never into bronze) and, once a request is done, writes its file back without it.
ERASURE_REQUESTS = Source(
    name="erasure_requests",
    format="csv",
    grain="one line per request to erase a person",
    description="Requests to erase a person (right to erasure, GDPR art. 17) with the identifiers the person "
                "gave, any subset of them. Read by the `erase` stage (the `c360_privacy` DAG, or "
                "`c360 erase --request-file F` for a one-off request); never loaded into bronze.",
    columns=(
        _c("request_id", "string", True, "Request id (unique)"),
        _c("received_at", "timestamp", True, "When the request was received: the deadline counts from it"),
        _c("email", "string", False, "An email address the person gave", pii=True),
        _c("phone", "string", False, "A phone number the person gave, any format", pii=True),
        _c("loyalty_id", "string", False, "Loyalty card id", pii=True),
        _c("account_id", "string", False, "Web shop account id", pii=True),
        _c("crm_id", "string", False, "CRM customer id", pii=True),
    ),
    system="privacy", silver_write="day", keys=("request_id",), delivery="when_any",
)


def source(name: str) -> Source:
    """The source named `name`, or a clear error listing the known ones."""
    try:
        return SOURCES_BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(SOURCES_BY_NAME))
        raise KeyError(f"unknown landing source '{name}'; known sources: {known}") from None


_DELIVERY_TEXT = {
    "daily": "a file every day (CSV: at least its header row); the daily DAG waits for it",
    "weekly": "at least one file in any 7 days; the quality gate fails a week without one",
    "when_any": "a file on days with rows; a quiet day has none",
}
_IDENTITY_TEXT = {
    "profile": "profile records, matched with each other",
    "satellite": "attached to a profile by an id or email it carries",
    "via_purchase": "the customer of the order or till transaction it names (exactly one of "
                    "`order_id`, `transaction_id`), joined in the feature layer",
    "none": "no person",
}


def _silver_text(s: Source) -> str:
    keys = ", ".join(f"`{k}`" for k in s.keys)
    if s.silver_write == "day":
        return f"one row per {keys}, the landing day's partition replaced"
    if s.silver_write == "scd2":
        return f"SCD2 history per {keys}, a new version when a tracked column changes"
    return f"one row per {keys}, the newer `{s.order_col}` wins"


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
        "separated, header row (names matched ignoring case), `\"` quoting (RFC 4180: a quoted",
        "field may hold commas, `\"\"` and line breaks). JSON lines: UTF-8, exactly one object per",
        "line, keys spelt as below. Lines end with LF, CRLF or CR. A file may be gzip-compressed",
        "(recognised by its content, whatever its name). Timestamps are ISO-8601 UTC",
        "(`2026-10-01T13:45:00Z`), dates `YYYY-MM-DD`, decimals with a dot and no more decimal",
        "places than the type keeps. A required column must be in the file (CSV header or",
        "JSON key) and non-empty in every row; an optional column may be absent or empty;",
        "columns the contract does not name are ignored. A value that breaks its type or rule",
        "sends its row to quarantine (`ops.quarantine`) with the reason; the rest of the file",
        "loads. A file that cannot be read at all is logged `failed` in `ops.ingest_log` with",
        "the reason and loads nothing; the other files load. A file is known by its resolved",
        "location and checksum: delivered again unchanged it is skipped; a business key that",
        "lands again on another day (a file sent twice) is kept once, from its first day.",
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
            f"- delivery: {_DELIVERY_TEXT[s.delivery]}",
            f"- source system: `{s.system}`; in silver: {_silver_text(s)}; identity: {_IDENTITY_TEXT[s.identity]}",
            "",
            "| column | type | required | rule | personal data | description |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| `{c.name}` | {c.type} | {'yes' if c.required else 'no'} | {f'`{c.check}`' if c.check else ''} "
            f"| {'yes' if c.pii else ''} | {c.description} |"
            for c in s.columns
        ]
        lines.append("")
    e = ERASURE_REQUESTS
    lines += [
        f"## `{e.name}` (requests, not a lake source)",
        "",
        e.description,
        "",
        f"- folder: `{e.day_folder('YYYY-MM-DD')}/` (or any file given to `c360 erase --request-file`)",
        f"- format: {e.format}; at least one identifier per line",
        f"- grain: {e.grain}",
        "- once a request is done, its line is removed from the file (and the person's lines from every "
        "other landing file)",
        "",
        "| column | type | required | personal data | description |",
        "|---|---|---|---|---|",
        *[f"| `{c.name}` | {c.type} | {'yes' if c.required else 'no'} | {'yes' if c.pii else ''} | {c.description} |"
          for c in e.columns],
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_markdown(), end="")
