"""The synthetic data generator: contract, determinism, dirty rows, truth and signal (no Spark)."""
from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.json as pj
import pytest

from jobs.common.landing_contract import SOURCES, SOURCES_BY_NAME, Source
from jobs.common.rates import HARD_RATES, VariationRates
from jobs.generate.main import OutputExistsError, generate
from jobs.generate.people import Registry
from jobs.generate.pools import NICKNAMES
from jobs.generate.returns import CROSS_TABLE_KINDS, REASONS, REFUND_OVER_LINE, UNKNOWN_ORIGINAL

START = dt.date(2026, 10, 1)
PERSONS, DAYS, SEED = 3000, 7, 11
# Several chunks, so chunk boundaries (ids, households, line numbers) are exercised too.
CHUNK = 1100

ARROW_TYPES = {
    "string": pa.string(),
    "int": pa.int32(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("s", tz="UTC"),
    "boolean": pa.bool_(),
    "decimal(12,2)": pa.decimal128(12, 2),
}
ACCEPTED = {
    "web_events.event_type": {"view", "search", "add_to_cart", "purchase"},
    "email_events.event_type": {"send", "open", "click"},
    "consent_events.action": {"opt_in", "opt_out", "erasure_request"},
    "consent_events.subject_type": {"crm_id", "account_id", "loyalty_id", "email"},
    "loyalty_members.tier": {"bronze", "silver", "gold"},
    "orders.channel": {"web", "app"},
    "returns.reason": set(REASONS),
}


def _quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("generate") / "run"
    generate(out, PERSONS, DAYS, SEED, START, VariationRates(), chunk_size=CHUNK, log=_quiet)
    return out


@pytest.fixture(scope="module")
def dirty(run) -> pd.DataFrame:
    return pd.read_parquet(run / "truth" / "dirty_rows")


@pytest.fixture(scope="module")
def records(run) -> pd.DataFrame:
    return pd.read_parquet(run / "truth" / "records")


@pytest.fixture(scope="module")
def persons(run) -> pd.DataFrame:
    return pd.read_parquet(run / "truth" / "persons")


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _day_files(run: Path, source: Source) -> list[Path]:
    return sorted(p for p in (run / "landing" / source.name).rglob(f"*.{source.extension}")
                  if not p.stem.endswith("_copy"))


def _parse(source: Source, data: bytes) -> pa.Table:
    """Parse a file body with the contract's types; raises on any malformed line or value."""
    types = {c.name: ARROW_TYPES[c.type] for c in source.columns}
    if source.format == "csv":
        return pcsv.read_csv(
            io.BytesIO(data),
            parse_options=pcsv.ParseOptions(newlines_in_values=False),
            convert_options=pcsv.ConvertOptions(column_types=types, include_columns=list(types)),
        )
    if not data.strip():
        return pa.table({n: pa.array([], t) for n, t in types.items()})
    for line in data.decode("utf-8").splitlines():
        if set(json.loads(line)) != set(types):
            raise ValueError(f"keys differ from the contract: {line}")
    return pj.read_json(io.BytesIO(data), parse_options=pj.ParseOptions(
        explicit_schema=pa.schema(list(types.items())), unexpected_field_behavior="error"))


def _violations(source: Source, table: pa.Table, skus: set[str]) -> np.ndarray:
    """Rows breaking a range rule: empty required value, quantity <= 0, unknown SKU, bad code."""
    df = table.to_pandas()
    bad = np.zeros(len(df), dtype=bool)
    for c in source.columns:
        col = df[c.name]
        if c.required:
            bad |= col.isna().to_numpy() | (col.astype(str) == "").to_numpy()
        key = f"{source.name}.{c.name}"
        if key in ACCEPTED:
            bad |= ~col.isin(ACCEPTED[key]).to_numpy()
    if "quantity" in df:
        bad |= (df["quantity"].fillna(0) <= 0).to_numpy()
    for money in ("discount", "unit_price", "price", "order_total", "refund_amount"):
        if money in df:
            bad |= (df[money].astype(float) < 0).to_numpy()
    if source.name == "returns":  # a return names its order or its till transaction, not both
        order, till = df["order_id"].replace({"": None}), df["transaction_id"].replace({"": None})
        bad |= (order.isna() == till.isna()).to_numpy()
    if "sku" in df and source.name != "products":
        bad |= (df["sku"].notna() & ~df["sku"].isin(skus)).to_numpy()
    return bad


def _split(data: bytes, source: Source) -> tuple[bytes, list[bytes]]:
    lines = data.split(b"\n")[:-1]
    return (lines[0] + b"\n", lines[1:]) if source.format == "csv" else (b"", lines)


@pytest.fixture(scope="module")
def catalog_skus(run, dirty) -> set[str]:
    source = SOURCES_BY_NAME["products"]
    skus: set[str] = set()
    for path in _day_files(run, source):
        rel = str(path.relative_to(run / "landing"))
        skip = set(dirty.loc[dirty["file"] == rel, "line_no"])
        header, lines = _split(path.read_bytes(), source)
        body = header + b"".join(line + b"\n" for i, line in enumerate(lines, 1) if i not in skip)
        skus |= set(_parse(source, body).column("sku").to_pylist())
    return skus


def _clean_table(run: Path, dirty: pd.DataFrame, name: str) -> pd.DataFrame:
    source = SOURCES_BY_NAME[name]
    parts = []
    for path in _day_files(run, source):
        rel = str(path.relative_to(run / "landing"))
        skip = set(dirty.loc[dirty["file"] == rel, "line_no"])
        header, lines = _split(path.read_bytes(), source)
        body = header + b"".join(line + b"\n" for i, line in enumerate(lines, 1) if i not in skip)
        parts.append(_parse(source, body).to_pandas())
    df = pd.concat(parts, ignore_index=True)
    # CSV has no null string: an empty field reads as "".
    return df.replace({"": None}) if source.format == "csv" else df


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path):
    args = dict(customers=600, days=3, start=START, rates=HARD_RATES, chunk_size=250, log=_quiet)
    generate(tmp_path / "a", seed=5, **args)
    generate(tmp_path / "b", seed=5, **args)
    generate(tmp_path / "c", seed=6, **args)
    a, b, c = (_files(tmp_path / x) for x in "abc")
    assert len(a) > 30
    assert a == b
    landing = [k for k in a if k.startswith("landing/") and "_copy." not in k]
    assert set(landing) <= set(c)
    assert sum(a[k] != c[k] for k in landing) > len(landing) // 2


def test_every_source_and_day_has_a_file_with_the_contract_columns(run):
    for source in SOURCES:
        files = _day_files(run, source)
        folders = [p.parent.name for p in files]
        every_day = [f"ds={START + dt.timedelta(days=d)}" for d in range(DAYS)]
        if source.format == "csv":
            assert folders == every_day
        else:  # a quiet day exports no JSON lines file rather than an empty one
            assert set(folders) <= set(every_day) and len(folders) >= DAYS - 2
        assert all(p.stat().st_size > 0 for p in files)
        for path in files:
            assert path.name == source.file_name(path.parent.name[3:])
            data = path.read_bytes()
            data.decode("utf-8")
            if source.format == "csv":
                assert data.split(b"\n", 1)[0].decode() == ",".join(source.column_names)
            else:
                for line in data.decode().splitlines()[:50]:
                    try:
                        keys = list(json.loads(line))
                    except json.JSONDecodeError:
                        continue  # a planted truncated line, checked below
                    assert keys == list(source.column_names)


def test_clean_rows_parse_with_contract_types_and_pass_range_rules(run, dirty, catalog_skus):
    checked = 0
    for source in SOURCES:
        for path in _day_files(run, source):
            rel = str(path.relative_to(run / "landing"))
            skip = set(dirty.loc[dirty["file"] == rel, "line_no"])
            header, lines = _split(path.read_bytes(), source)
            body = header + b"".join(line + b"\n" for i, line in enumerate(lines, 1) if i not in skip)
            table = _parse(source, body)
            assert table.num_rows == len(lines) - len(skip)
            bad = _violations(source, table, catalog_skus)
            assert not bad.any(), f"{rel}: clean rows break a rule: {table.to_pandas()[bad].head(3)}"
            checked += table.num_rows
    assert checked > 10_000


def test_each_listed_dirty_row_fails_on_its_own_and_every_kind_occurs(run, dirty, catalog_skus):
    assert {"bad_date", "negative_quantity", "unknown_sku", "truncated_line", "duplicate_file",
            *CROSS_TABLE_KINDS} <= set(dirty["kind"])
    # A break only the returned line reveals is checked against the lines below.
    rows = dirty[~dirty["kind"].isin(["duplicate_file", *CROSS_TABLE_KINDS])]
    total = sum(sum(1 for _ in open(p, "rb")) for s in SOURCES for p in _day_files(run, s))
    assert len(rows) < total * 0.01
    for rec in rows.itertuples():
        source = SOURCES_BY_NAME[rec.source]
        header, lines = _split((run / "landing" / rec.file).read_bytes(), source)
        line = lines[rec.line_no - 1]
        try:
            table = _parse(source, header + line + b"\n")
        except (pa.ArrowInvalid, ValueError):
            continue
        assert _violations(source, table, catalog_skus).all(), f"{rec.file}:{rec.line_no} ({rec.kind}) is valid"


def test_the_duplicated_file_is_an_exact_copy_listed_line_by_line(run, dirty):
    copies = dirty[dirty["kind"] == "duplicate_file"]
    (name,) = copies["file"].unique()
    copy = run / "landing" / name
    original = copy.with_name(copy.name.replace("_copy", ""))
    assert copy.read_bytes() == original.read_bytes()
    source = SOURCES_BY_NAME[copies["source"].iloc[0]]
    assert sorted(copies["line_no"]) == list(range(1, len(_split(copy.read_bytes(), source)[1]) + 1))


def test_truth_maps_every_identity_record_to_one_person(run, dirty, records, persons):
    for name, key in (("crm_customers", "crm_id"), ("web_accounts", "account_id"),
                      ("loyalty_members", "loyalty_id")):
        ids = set(_clean_table(run, dirty, name)[key])
        truth = records[records["source"] == name]
        assert truth["record_id"].is_unique
        assert ids <= set(truth["record_id"])
        assert set(truth["person_id"]) <= set(persons["person_id"])
    assert persons["person_id"].is_unique and len(persons) == PERSONS
    orders = _clean_table(run, dirty, "orders")
    assert set(orders["order_id"]) <= set(records.loc[records["source"] == "orders", "record_id"])


def test_measured_duplicate_rates_are_close_to_the_configured_ones(run, records):
    summary = json.loads((run / "truth" / "summary.json").read_text())
    rates = VariationRates()
    for name, configured in (("crm_customers", rates.duplicate_crm), ("web_accounts", rates.duplicate_web_accounts),
                             ("loyalty_members", rates.duplicate_loyalty)):
        truth = records[records["source"] == name]
        measured = 1 - truth["person_id"].nunique() / len(truth)
        assert abs(measured - configured) < 0.25 * configured + 0.003, (name, measured)
        assert summary["duplicate_rate_measured"][name] == pytest.approx(measured, abs=1e-4)
        assert summary["duplicate_rate_configured"][name] == configured


def test_names_vary_between_records_of_one_person(run, dirty, records, persons):
    crm = _clean_table(run, dirty, "crm_customers").merge(
        records[["record_id", "person_id"]], left_on="crm_id", right_on="record_id")
    crm = crm.merge(persons[["person_id", "first_name"]], on="person_id", suffixes=("", "_true"))
    nicknamed = crm.apply(lambda r: r["first_name"] in NICKNAMES.get(r["first_name_true"], ()), axis=1)
    assert nicknamed.sum() > 0
    differs = crm["first_name"].fillna("").str.lower() != crm["first_name_true"].str.lower()
    assert 0.03 < differs.mean() < 0.3
    per_person = crm.groupby("person_id")["first_name"].nunique()
    assert (per_person > 1).any()


def test_email_variants_and_phones_are_realistic(run, dirty):
    crm = _clean_table(run, dirty, "crm_customers")
    emails = crm["email"].dropna()
    assert (emails != emails.str.lower()).mean() > 0.03
    assert emails.str.contains(r"\+").any()
    phones = crm["phone"].dropna()
    assert phones.str.startswith("+44").any() and phones.str.startswith("07").any()
    for text in phones.head(200):
        number = phonenumbers.parse(text, "GB")
        assert phonenumbers.is_valid_number(number), text
        assert phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE


def test_gmail_addresses_that_differ_only_in_dots_are_one_mailbox_nobody_else_gets():
    registry = Registry()
    registry.claim(np.array(["john.smith@gmail.com"], dtype=object), np.array([447700900001]))
    asked = np.array(["johnsmith@googlemail.com", "j.o.h.n.smith@gmail.com", "john.smith@yahoo.co.uk"], dtype=object)
    assert registry.email_clash(asked).tolist() == [True, True, False]


def test_purchase_events_point_at_orders_and_their_lines(run, dirty, records):
    web = _clean_table(run, dirty, "web_events")
    lines = _clean_table(run, dirty, "order_lines")
    orders = _clean_table(run, dirty, "orders")
    buys = web[web["event_type"] == "purchase"]
    assert len(buys) > 50
    assert set(buys["order_id"]) <= set(records.loc[records["source"] == "orders", "record_id"])
    assert buys["order_id"].isin(orders["order_id"]).mean() > 0.97
    pairs = set(zip(lines["order_id"], lines["sku"], strict=True))
    assert np.mean([p in pairs for p in zip(buys["order_id"], buys["sku"], strict=True)]) > 0.97
    assert web.loc[web["event_type"] != "purchase", "order_id"].isna().all()
    assert orders["account_id"].isna().any() and orders["account_id"].notna().any()


def test_purchases_follow_the_persons_top_category(run, dirty, records, persons):
    products = _clean_table(run, dirty, "products").drop_duplicates("sku")[["sku", "category"]]
    owner = records[records["source"].isin(["orders", "pos_transactions"])][["record_id", "person_id"]]
    online = _clean_table(run, dirty, "order_lines").rename(columns={"order_id": "record_id"})
    store = _clean_table(run, dirty, "pos_transactions").rename(columns={"transaction_id": "record_id"})
    bought = pd.concat([online[["record_id", "sku"]], store[["record_id", "sku"]]]).merge(owner, on="record_id")
    bought = bought.merge(products, on="sku").merge(persons[["person_id", "top_category"]], on="person_id")
    assert len(bought) > 800
    hit = (bought["category"] == bought["top_category"]).mean()
    shuffled = np.random.default_rng(0).permutation(bought["top_category"].to_numpy())
    chance = (bought["category"].to_numpy() == shuffled).mean()
    assert hit > 2.5 * chance, (hit, chance)


def test_an_existing_output_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "out"
    generate(out, 50, 1, 1, START, VariationRates(), log=_quiet)
    with pytest.raises(ValueError, match=str(out / "landing")):
        generate(out, 50, 1, 1, START, VariationRates(), log=_quiet)
    with pytest.raises(OutputExistsError):
        generate(out, 50, 1, 1, START, VariationRates(), log=_quiet)
    report = generate(out, 60, 2, 1, START, VariationRates(), log=_quiet, overwrite=True)
    written = [p for p in (out / "landing").rglob("*") if p.is_file()]
    assert report.persons == 60 and report.files == len(written) > len(SOURCES)
    assert len(pd.read_parquet(out / "truth" / "persons")) == 60


def test_rates_are_validated_by_name():
    assert VariationRates.from_dict({"typo": 0.2}).typo == 0.2
    with pytest.raises(ValueError, match="unknown generator rate"):
        VariationRates.from_dict({"typos": 0.2})
    with pytest.raises(ValueError, match="duplicate_crm"):
        VariationRates(duplicate_crm=0.6)
    assert HARD_RATES.duplicate_crm > 2 * VariationRates().duplicate_crm


# -- returns ----------------------------------------------------------------------


def _bought_lines(run: Path, dirty: pd.DataFrame) -> pd.DataFrame:
    """Every clean order line and till line: channel, purchase id, line_no, quantity and value (pence)."""
    parts = []
    for name, id_col, channel in (("order_lines", "order_id", "online"), ("pos_transactions", "transaction_id", "store")):
        df = _clean_table(run, dirty, name)
        value = df["quantity"] * df["unit_price"].astype(float) - df["discount"].astype(float)
        parts.append(pd.DataFrame({"channel": channel, "original_id": df[id_col], "line_no": df["line_no"],
                                   "sku": df["sku"], "bought": df["quantity"], "value_pence": (value * 100).round()}))
    return pd.concat(parts, ignore_index=True)


def _landed_row(run: Path, source: Source, file: str, line_no: int) -> dict:
    """One data line of a landing file, parsed with the contract's types (empty CSV fields as None)."""
    header, lines = _split((run / "landing" / file).read_bytes(), source)
    row = _parse(source, header + lines[line_no - 1] + b"\n").to_pylist()[0]
    return {k: (None if v == "" else v) for k, v in row.items()}


def test_planted_return_breaks_show_against_the_returned_line(run, dirty):
    source = SOURCES_BY_NAME["returns"]
    lines = _bought_lines(run, dirty)
    planted = dirty[dirty["kind"].isin(CROSS_TABLE_KINDS)]
    assert set(planted["kind"]) == set(CROSS_TABLE_KINDS)
    for rec in planted.itertuples():
        row = _landed_row(run, source, rec.file, rec.line_no)
        original = row["order_id"] or row["transaction_id"]
        match = lines[(lines["original_id"] == original) & (lines["line_no"] == row["line_no"])]
        if rec.kind == UNKNOWN_ORIGINAL:
            assert match.empty and row[rec.column] == original, rec
        else:
            [line] = match.itertuples()
            assert float(row["refund_amount"]) * 100 * line.bought > row["quantity"] * line.value_pence, rec
    assert len(_clean_table(run, dirty, "returns")) > len(planted)


@pytest.fixture(scope="module")
def month(tmp_path_factory) -> Path:
    """Four weeks: enough returns to measure rates per category (most come back within weeks)."""
    out = tmp_path_factory.mktemp("generate") / "month"
    generate(out, 4000, 28, SEED, START, VariationRates(), log=_quiet)
    return out


def test_returns_follow_their_category_and_never_refund_more_than_their_line(month):
    dirty = pd.read_parquet(month / "truth" / "dirty_rows")
    truth = pd.read_parquet(month / "truth" / "returns")
    clean = truth[truth["dirty_kind"].isna()]
    assert len(clean) > 150
    products = _clean_table(month, dirty, "products").drop_duplicates("sku")[["sku", "category"]]
    bought = _bought_lines(month, dirty).merge(products, on="sku")
    rate = clean.groupby("category").size() / bought.groupby("category").size()
    fashion = clean["category"].isin(["Women's Fashion", "Men's Fashion"]).sum() / bought["category"].isin(
        ["Women's Fashion", "Men's Fashion"]).sum()
    staples = clean["category"].isin(["Grocery", "Health", "Pet"]).sum() / bought["category"].isin(
        ["Grocery", "Health", "Pet"]).sum()
    assert fashion > 5 * staples and fashion > 0.05, rate.round(3).to_dict()

    # Store purchases come back less often than online ones.
    per_channel = clean.groupby("channel").size() / bought.groupby("channel").size()
    assert per_channel["store"] < per_channel["online"]

    # Within the line: units and money; some returns keep part of a multi-unit line.
    assert (clean["quantity"] >= 1).all() and (clean["quantity"] <= clean["bought_quantity"]).all()
    assert (clean["refund_pence"] * clean["bought_quantity"] <= clean["quantity"] * clean["line_amount_pence"]).all()
    assert (clean["quantity"] < clean["bought_quantity"]).any()
    over = truth[truth["dirty_kind"] == REFUND_OVER_LINE]
    assert (over["refund_pence"] * over["bought_quantity"] > over["quantity"] * over["line_amount_pence"]).all()

    # Days to weeks after the purchase, inside the window, in the folder of the day they come back.
    delay = clean["returned_at"] - clean["purchased_at"]
    assert (delay > pd.Timedelta(hours=1)).all() and (delay < pd.Timedelta(days=31)).all()
    assert delay.median() > pd.Timedelta(days=2)
    end = pd.Timestamp(START + dt.timedelta(days=28), tz="UTC")
    assert (clean["returned_at"] < end).all()
    landed = _clean_table(month, dirty, "returns")
    assert len(landed) == len(truth) - (dirty["source"] == "returns").sum()  # clean lines: the dirty ones skipped
    files = {p.parent.name.removeprefix("ds="): p for p in _day_files(month, SOURCES_BY_NAME["returns"])}
    for rec in clean.sample(40, random_state=0).itertuples():
        day = rec.returned_at.strftime("%Y-%m-%d")
        assert f"{rec.return_id},".encode() in files[day].read_bytes(), rec

    # Each return's purchase belongs to the person the truth names.
    records = pd.read_parquet(month / "truth" / "records")
    owner = records[records["source"].isin(["orders", "pos_transactions"])].set_index("record_id")["person_id"]
    assert (owner.reindex(clean["original_id"]).to_numpy() == clean["person_id"].to_numpy()).all()



def test_truth_purchases_are_the_orders_and_store_baskets_as_made(run, dirty, records):
    purchases = pd.read_parquet(run / "truth" / "purchases")
    orders = _clean_table(run, dirty, "orders")
    pos = _clean_table(run, dirty, "pos_transactions")
    by_id = purchases.set_index("purchase_id")
    assert purchases["purchase_id"].is_unique
    assert set(orders["order_id"]) <= set(by_id.index) and set(pos["transaction_id"]) <= set(by_id.index)
    # The person behind each purchase is the one the record truth names.
    owner = records.set_index("record_id")["person_id"]
    sample = purchases.sample(200, random_state=1)
    assert (sample["person_id"].to_numpy() == owner.loc[sample["purchase_id"]].to_numpy()).all()
    # An order's value is its total; a basket's is its clean lines net of discounts.
    totals = (orders.set_index("order_id")["order_total"].astype(float) * 100).round().astype(int)
    assert (by_id.loc[totals.index, "value"] == totals).mean() > 0.99
    pos_value = (pos["quantity"] * pos["unit_price"].astype(float) * 100 - pos["discount"].astype(float) * 100)
    baskets = pos.assign(v=pos_value.round()).groupby("transaction_id")["v"].sum()
    whole = pos.groupby("transaction_id")["line_no"].max() == pos.groupby("transaction_id").size()
    assert (by_id.loc[baskets.index[whole], "value"] == baskets[whole]).mean() > 0.95
    assert set(purchases["channel"]) == {"web", "app", "store"}
    assert purchases["purchase_date"].between(START, START + dt.timedelta(days=DAYS - 1)).all()


def test_two_years_have_seasons_and_churners_wind_down_before_they_stop(tmp_path):
    first = dt.date(2024, 10, 1)
    generate(tmp_path / "two", 1500, 730, SEED, first, VariationRates(), log=_quiet)
    purchases = pd.read_parquet(tmp_path / "two" / "truth" / "purchases")
    persons = pd.read_parquet(tmp_path / "two" / "truth" / "persons")
    months = pd.to_datetime(purchases["purchase_date"]).dt.to_period("M").astype(str)
    per_month = months.value_counts()
    # The yearly rhythm: December busier than the June before and the June after it.
    assert per_month["2025-12"] > 1.15 * max(per_month["2025-06"], per_month["2026-06"])

    churners = persons[persons["churn_date"].notna() & (persons["churn_date"] > first + dt.timedelta(days=400))]
    assert len(churners) > 30
    bought = purchases.merge(churners[["person_id", "churn_date"]], on="person_id")
    before = (pd.to_datetime(bought["churn_date"]) - pd.to_datetime(bought["purchase_date"])).dt.days
    assert (before >= 0).all()  # nobody buys after churning
    # The last 60 days before churn hold fewer purchases than the 60 days before them.
    assert (before < 60).sum() < 0.85 * ((before >= 60) & (before < 120)).sum()
