"""Recommendations on Spark: interactions, ALS fold-in, ranking metrics, MLflow champion, serving rules."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import functions as F

from jobs.common.config import AlsSearch, Config, InteractionWeights, load_config
from jobs.common.lake import Lake
from jobs.common.runtime import Runtime
from jobs.common.stage import Days
from jobs.recommend import als as als_model
from jobs.recommend.evaluate import ranking_metrics
from jobs.recommend.hybrid import History, fold_in
from jobs.recommend.inputs import histories, load_catalog
from jobs.recommend.interactions import ADDED_TO_CART, BOUGHT, VIEWED, interactions
from tests.support.gold import REPEATABLE, write_gold
from tests.support.runtime import runtime_for

LAST = dt.date(2026, 10, 28)
ACTIVITY_DDL = "customer_key string, sku string, activity_date date, views int, add_to_carts int, purchases int"


def test_interactions_weigh_and_decay_the_events_up_to_the_cutoff(spark):
    cutoff = dt.date(2026, 10, 10)
    rows = [
        ("a", "s1", cutoff, 2, 0, 0),  # 2 views today: 2 x 1
        ("a", "s1", cutoff - dt.timedelta(days=10), 0, 1, 0),  # a cart one half-life ago: 3 x 0.5
        ("a", "s2", cutoff - dt.timedelta(days=20), 0, 0, 1),  # a purchase two half-lives ago: 6 x 0.25
        ("a", "s3", cutoff + dt.timedelta(days=1), 5, 0, 1),  # after the cutoff: never read
        ("b", "s1", cutoff - dt.timedelta(days=40), 9, 9, 9),  # older than the history window
        ("b", "s2", cutoff - dt.timedelta(days=1), 0, 1, 0),
    ]
    activity = spark.createDataFrame(rows, ACTIVITY_DDL)
    got = {
        (r.customer_key, r.sku): (round(r.strength, 6), r.kind, r.purchases, r.last_date)
        for r in interactions(activity, cutoff, InteractionWeights(view=1, add_to_cart=3, purchase=6),
                              half_life_days=10, history_days=30).collect()
    }
    assert got == {
        ("a", "s1"): (3.5, ADDED_TO_CART, 0, cutoff),
        ("a", "s2"): (1.5, BOUGHT, 1, cutoff - dt.timedelta(days=20)),
        ("b", "s2"): (round(3 * 0.5 ** 0.1, 6), ADDED_TO_CART, 0, cutoff - dt.timedelta(days=1)),
    }
    assert VIEWED == 0


def test_ranking_metrics_match_hand_computed_values(spark):
    predicted = spark.createDataFrame([("a", ["x", "y", "z"]), ("c", ["x"])], "customer_key string, skus array<string>")
    relevant = spark.createDataFrame([("a", "y"), ("a", "w"), ("b", "x")], "customer_key string, sku string")
    got = ranking_metrics(predicted, relevant, k=3, sellable_products=10)
    # a: one hit (y) at rank 2 of 3, two relevant; b: nothing predicted; c bought nothing: not judged.
    ndcg_a = (1 / np.log2(3)) / (1 + 1 / np.log2(3))
    assert got["customers"] == 2
    assert got["precision"] == pytest.approx((1 / 3) / 2)
    assert got["recall"] == pytest.approx((1 / 2) / 2)
    assert got["ndcg"] == pytest.approx(ndcg_a / 2)
    assert got["map"] == pytest.approx(((1 / 2) / 2) / 2)
    assert got["coverage"] == pytest.approx(0.3)


def test_ranking_metrics_equal_spark_ml_ranking_evaluator(spark):
    """The driver's metrics are RankingEvaluator's, on lists of every length (shorter and longer than k)."""
    from pyspark.ml.evaluation import RankingEvaluator

    from jobs.recommend.evaluate import METRICS

    rng = np.random.default_rng(3)
    catalog = [f"s{i}" for i in range(30)]
    predicted, relevant = [], []
    for c in range(60):
        predicted.append((f"c{c}", [str(x) for x in rng.choice(catalog, size=rng.integers(0, 15), replace=False)]))
        relevant += [(f"c{c}", str(x)) for x in rng.choice(catalog, size=rng.integers(1, 8), replace=False)]
    k = 10
    got = ranking_metrics(spark.createDataFrame(predicted, "customer_key string, skus array<string>"),
                          spark.createDataFrame(relevant, "customer_key string, sku string"), k, len(catalog))
    ids = {sku: float(i) for i, sku in enumerate(catalog)}
    labels: dict[str, list[float]] = {}
    for customer, sku in relevant:
        labels.setdefault(customer, []).append(ids[sku])
    frame = spark.createDataFrame([([ids[s] for s in skus], labels[c]) for c, skus in predicted],
                                  "prediction array<double>, label array<double>")
    for name, metric in METRICS.items():
        expected = RankingEvaluator(metricName=metric, k=k).evaluate(frame)
        assert got[name] == pytest.approx(expected, rel=1e-12), name


@pytest.fixture
def gold(spark, lake: Lake):
    return write_gold(spark, lake, LAST)


def test_fold_in_gives_back_the_user_factors_spark_als_trained(spark, lake, gold):
    train = interactions(lake.read("gold.customer_product_activity"), LAST, InteractionWeights(), 30, 365)
    params = als_model.AlsParams(rank=4, reg_param=0.1, alpha=5.0, max_iter=6, seed=1)
    model = als_model.fit(train, params)
    catalog = load_catalog(lake.read("gold.product_features"), REPEATABLE)
    factors = als_model.item_factors(model, params.alpha, params.reg_param).aligned(catalog)
    hist = histories(train).orderBy("customer_key").toPandas()
    trained = {r.customer_key: np.array(r.features) for r in als_model.user_factors(model).collect()}
    position = {s: i for i, s in enumerate(catalog.sku)}
    items = [[position[s] for s in skus] for skus in hist["skus"]]
    history = History.from_lists(items, list(hist["strengths"]), list(hist["kinds"]), max_len=500)
    x, _, scorable = fold_in(factors, history)
    assert scorable.all()
    expected = np.stack([trained[k] for k in hist["customer_key"]])
    # Spark keeps factors in float32: agree to that precision.
    np.testing.assert_allclose(x, expected, rtol=2e-3, atol=2e-4)


def test_scoring_gives_each_customer_the_list_predict_gives_them_one_by_one(spark, lake, gold):
    """A list without a history is computed once per consent and segment: the rows are those of every customer's
    own `predict`, the history read only with consent."""
    from jobs.recommend.inputs import ACTIVITY, CUSTOMERS, PRODUCTS, RFM_HISTORY, popularity, segments_as_of
    from jobs.recommend.scoring import score
    from jobs.recommend.served import INPUT_COLUMNS, RecommenderModel

    activity = lake.read(ACTIVITY)
    params = als_model.AlsParams(rank=4, reg_param=0.1, alpha=5.0, max_iter=4, seed=1)
    als = als_model.fit(interactions(activity, LAST, InteractionWeights(), 30, 365), params)
    catalog = load_catalog(lake.read(PRODUCTS), REPEATABLE)
    recent = interactions(activity, LAST, InteractionWeights(), 30, 2)  # two days: many customers have none
    segments = segments_as_of(lake.read(RFM_HISTORY), LAST)
    extra = spark.createDataFrame([("ck-new-1", True), ("ck-new-2", False), ("ck-new-3", None)],
                                  "customer_key string, personalised boolean")
    customers = (lake.read(CUSTOMERS).select("customer_key", F.col("consent_personalization").alias("personalised"))
                 .unionByName(extra).join(segments, "customer_key", "left"))
    for method in ("hybrid", "als+popular"):
        model = RecommenderModel(als_model.item_factors(als, params.alpha, params.reg_param), catalog,
                                 popularity(recent, segments, catalog), top_n=6, new_product_slots=1).using(method, 0.5)
        got = score(customers, histories(recent), model).toPandas()

        one_by_one = customers.join(histories(recent), "customer_key", "left").toPandas()
        unread = one_by_one["personalised"] != True  # noqa: E712 - null too
        for column in ("skus", "strengths", "kinds"):
            one_by_one[column] = one_by_one[column].where(~unread, None)
        expected = model.predict(None, one_by_one[list(INPUT_COLUMNS)])
        order = ["customer_key", "rank"]
        got, expected = (f.sort_values(order).reset_index(drop=True) for f in (got, expected))
        assert got.drop(columns="score").equals(expected.drop(columns="score")), method
        np.testing.assert_allclose(got["score"], expected["score"], rtol=1e-9)
        without = one_by_one[one_by_one["skus"].isna()]
        assert without["personalised"].eq(True).sum() > 0 and unread.sum() > 0 and len(without) < len(one_by_one)
        assert set(got["customer_key"]) == set(one_by_one["customer_key"])


def test_training_without_enough_history_names_the_missing_days(spark, lake, config):
    from jobs.recommend.inputs import RecommendError
    from jobs.recommend.train_main import run as train

    write_gold(spark, lake, LAST, days=10)
    with pytest.raises(RecommendError, match=r"no activity up to 2026-10-14.*2 x recommend.holdout_days"):
        train(runtime_for(config, lake), Days.of(LAST))


def test_scoring_before_gold_exists_says_what_to_run(spark, lake, config):
    from jobs.recommend.inputs import RecommendError
    from jobs.recommend.score_main import run as score

    with pytest.raises(RecommendError, match=r"gold.customer_product_activity does not exist: run `c360 build-features"):
        score(runtime_for(config, lake), Days.of(LAST))


def test_the_implicit_reference_ranks_products_for_the_customers_it_knows(spark, lake, gold):
    from jobs.recommend.baselines import ImplicitAls

    train = interactions(lake.read("gold.customer_product_activity"), LAST, InteractionWeights(), 30, 365)
    model = ImplicitAls(train, als_model.AlsParams(rank=4, reg_param=0.1, alpha=5.0, max_iter=5, seed=1)).fit()
    lists = {r.customer_key: r.skus for r in model.top_k(spark, [gold["customers"][0], "nobody"], 5).collect()}
    assert list(lists) == [gold["customers"][0]]
    top = lists[gold["customers"][0]]
    assert len(top) == len(set(top)) == 5
    # Customer 0 shops category 0 (SKU-0xx): its tastes lead the list.
    assert top[0].startswith("SKU-0")


@pytest.mark.slow
def test_training_promotes_only_a_better_model_and_scoring_follows_the_rules(spark, lake, gold, config, tmp_path):
    from mlflow import MlflowClient

    from jobs.recommend.inputs import RECOMMENDATIONS
    from jobs.recommend.score_main import run as score
    from jobs.recommend.train_main import run as train

    def configured(base: Config, rank: int | None, max_iter: int) -> Runtime:
        rc = dataclasses.replace(
            base.recommend, holdout_days=7, max_iter=max_iter, top_n=8, new_product_slots=1,
            repeatable_categories=REPEATABLE,
            search=AlsSearch(ranks=(rank,), reg_params=(0.1,), alphas=(10.0,)) if rank else base.recommend.search,
        )
        mlflow = dataclasses.replace(base.mlflow, tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
                                     artifact_root=str(tmp_path / "artifacts"))
        return runtime_for(dataclasses.replace(base, recommend=rc, mlflow=mlflow, spark=config.spark), lake)

    # The first model comes from a profile file of one's own: a two-point grid, searched on the validation week.
    profile = tmp_path / "weekly.yaml"
    profile.write_text("recommend:\n  search: {ranks: [1, 2], reg_params: [0.1], alphas: [10.0]}\n")
    weak = train(configured(load_config(str(profile), env={"C360_LAKE_ROOT": lake.root}), None, 1), Days.of(LAST),
                 compare_implicit=False)
    assert weak.promoted and weak.champion_ndcg is None
    client = MlflowClient()
    params = client.get_run(weak.run_id).data.params
    assert params["train_day"] == LAST.isoformat()
    assert params["cutoff"] == (LAST - dt.timedelta(days=7)).isoformat()
    assert params["rank"] in ("1", "2")
    searched = json.loads(Path(client.download_artifacts(weak.run_id, "search.json", str(tmp_path))).read_text())
    assert sorted(point["rank"] for point in searched["grid"]) == [1, 2]  # the profile file's grid, not the default

    strong = train(configured(config, rank=4, max_iter=10), Days.of(LAST), compare_implicit=False)
    assert strong.promoted and strong.ndcg > strong.champion_ndcg
    again = train(configured(config, rank=1, max_iter=1), Days.of(LAST), compare_implicit=False)
    assert not again.promoted and again.champion_ndcg == pytest.approx(strong.ndcg)

    name = config.recommend.registered_model
    assert str(client.get_model_version_by_alias(name, "champion").version) == strong.model_version.split("/")[1]
    run = client.get_run(strong.run_id)
    assert run.data.params["input_version.gold.customer_product_activity"] == str(
        lake.version("gold.customer_product_activity"))
    assert {"hybrid_ndcg_at_10", "als_ndcg_at_10", "popular_ndcg_at_10", "champion_ndcg_at_10"} <= set(run.data.metrics)
    assert strong.ndcg >= strong.popular_ndcg  # the popularity gate
    assert run.data.params["served_method"] == run.data.tags["c360.served_method"] == strong.served_method
    assert strong.gate == "passed" and strong.served_method != "popular"  # this shop's tastes beat popularity
    assert {"als_popular_ndcg_at_10", "served_ndcg_at_10", "validation_popular_ndcg_at_10"} <= set(run.data.metrics)

    # What is registered is what serves: a pyfunc with a signature and an input example, whose
    # predict gives the served lists (the rules included) for the example's customers.
    import mlflow.pyfunc

    served = mlflow.pyfunc.load_model(f"models:/{name}/{strong.model_version.split('/')[1]}")
    inputs = [c.name for c in served.metadata.get_input_schema().inputs]
    assert inputs == ["customer_key", "personalised", "rfm_segment", "skus", "strengths", "kinds"]
    example = served.input_example
    assert example is not None and len(example) > 0
    lists = served.predict(example)
    assert list(lists.columns) == ["customer_key", "rank", "product_id", "score", "source", "reason"]
    assert set(lists["customer_key"]) == set(example["customer_key"]) and lists["rank"].max() <= 8
    assert not set(lists["product_id"]) & set(gold["unsellable"])

    rt = configured(config, rank=4, max_iter=10)
    report = score(rt, Days.of(LAST), generated_at=dt.datetime(2026, 10, 29, 6))
    recs = lake.read(RECOMMENDATIONS).where(F.col("run_date") == LAST)
    assert report.model_version == strong.model_version
    assert report.customers == len(gold["customers"]) and report.rows == recs.count()
    assert recs.groupBy("customer_key", "rank", "run_date").count().where("count > 1").count() == 0
    assert recs.groupBy("customer_key").agg(F.max("rank").alias("n")).where("n > 8").count() == 0
    assert recs.where(F.col("product_id").isin(*gold["unsellable"])).count() == 0
    bought = (
        lake.read("gold.customer_product_activity").where("purchases > 0")
        .where(~F.col("sku").startswith("SKU-1"))  # category 1 (Tea) is repeatable
        .select("customer_key", F.col("sku").alias("product_id"))
    )
    personal = recs.where(~F.col("customer_key").isin(*gold["no_consent"]))
    assert personal.join(bought, ["customer_key", "product_id"]).count() == 0
    assert {r.source for r in recs.where(F.col("customer_key").isin(*gold["no_consent"])).collect()} == {"popular"}
    assert personal.where("source = 'als'").count() > 0
    assert personal.where("source = 'als' and not reason like 'because you %'").count() == 0

    version = lake.version(RECOMMENDATIONS)
    before = recs.orderBy("customer_key", "rank").collect()
    score(rt, Days.of(LAST), generated_at=dt.datetime(2026, 10, 29, 6))
    assert lake.version(RECOMMENDATIONS) == version + 1
    assert lake.read(RECOMMENDATIONS).where(F.col("run_date") == LAST).orderBy("customer_key", "rank").collect() == before


def test_before_anyone_bought_anything_the_catalog_says_how_fresh_the_gold_build_is(lake):
    from jobs.recommend.inputs import ACTIVITY, PRODUCTS, RecommendError, require_gold

    day = dt.date(2026, 10, 1)
    spark = lake.spark
    lake.overwrite(spark.createDataFrame([], "customer_key STRING, sku STRING, as_of_date DATE"), ACTIVITY)
    lake.overwrite(spark.createDataFrame([("SKU-1", day - dt.timedelta(days=1))], "sku STRING, as_of_date DATE"),
                   PRODUCTS)
    with pytest.raises(RecommendError, match=rf"{PRODUCTS} is as of {day - dt.timedelta(days=1)}, before {day}"):
        require_gold(lake, day, (ACTIVITY, PRODUCTS))
    lake.overwrite(spark.createDataFrame([("SKU-1", day)], "sku STRING, as_of_date DATE"), PRODUCTS)
    require_gold(lake, day, (ACTIVITY, PRODUCTS))  # an empty activity mart of a fresh build is no error
