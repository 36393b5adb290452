"""The hybrid recommender's core on tiny numpy inputs: rules, fallbacks, fold-in, explanations."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from jobs.recommend.hybrid import (
    ALS,
    ALS_POPULAR,
    BLEND,
    CONTENT,
    HYBRID,
    POPULAR,
    POPULAR_IN_SEGMENT,
    POPULARITY,
    Catalog,
    Factors,
    History,
    Popularity,
    fold_in,
    recommend,
)
from jobs.recommend.served import RecommenderModel
from jobs.recommend.train import popularity_gate

VIEWED, CARTED, BOUGHT = 0, 1, 2


def catalog(sellable=None, repeatable=None) -> Catalog:
    # Six products: 0-2 category "shoes" (brand p, p, q), 3-4 "tea" (brand r), 5 "shoes" brand p.
    n = 6
    return Catalog(
        sku=np.array([f"S{i}" for i in range(n)], dtype=object),
        name=np.array(["Red Trainers", "Blue Trainers", "Boots", "Green Tea", "Black Tea", "White Trainers"],
                      dtype=object),
        category=np.array([0, 0, 0, 1, 1, 0]),
        brand=np.array([0, 0, 1, 2, 2, 0]),
        price_band=np.array([0, 1, 2, 0, 0, 1]),
        sellable=np.ones(n, dtype=bool) if sellable is None else np.asarray(sellable),
        repeatable=np.array([False, False, False, True, True, False]) if repeatable is None else np.asarray(repeatable),
        category_names=("shoes", "tea"),
        brand_names=("p", "q", "r"),
        price_band_names=("budget", "mid", "premium"),
    )


def factors(items: np.ndarray, known: np.ndarray, alpha: float = 2.0, reg: float = 0.1) -> Factors:
    return Factors(items=items * known[:, None], known=known, alpha=alpha, reg_param=reg,
                   gram=items[known].T @ items[known], version="m/1")


def popularity() -> Popularity:
    return Popularity(overall=np.array([6.0, 5, 4, 3, 2, 1]),
                      by_segment=np.array([[1.0, 1, 1, 9, 8, 1], [9.0, 1, 1, 1, 1, 1]]),
                      segments=("Champions", "Lost"))


def run(history: History, segment, personalised, cat=None, fac=None, top_n=3, slots=0):
    return recommend(cat or catalog(), fac, popularity(), history, np.asarray(segment), np.asarray(personalised),
                     top_n, slots)


def lists(recs) -> dict[int, list[tuple[int, str]]]:
    out: dict[int, list[tuple[int, str]]] = {}
    for c, r, i, s in zip(recs.customer, recs.rank, recs.item, recs.source, strict=True):
        out.setdefault(int(c), []).append((int(i), s))
        assert r == len(out[int(c)])  # ranks run 1..n in order
    return out


def test_without_consent_everyone_gets_the_same_non_personalised_list():
    history = History.from_lists([[0], [3]], [[5.0], [5.0]], [[BOUGHT], [BOUGHT]])
    recs = run(history, [0, 1], [False, False], cat=catalog(sellable=[True, False, True, True, True, True]))
    got = lists(recs)
    assert got[0] == got[1] == [(0, POPULAR), (2, POPULAR), (3, POPULAR)]  # 1 is not sellable
    assert set(recs.reason) == {"popular right now"}


def test_bought_items_are_left_out_unless_their_category_is_repeatable():
    # Bought trainers 0 (not repeatable) and tea 3 (repeatable); the ALS factors favour both.
    items = np.eye(6)[:, :3] + 0.01
    items[0], items[3] = [1, 0, 0], [1, 0, 0]
    history = History.from_lists([[0, 3]], [[5.0, 5.0]], [[BOUGHT, BOUGHT]])
    recs = run(history, [0], [True], fac=factors(items, np.ones(6, dtype=bool)), top_n=6)
    got = [i for i, _ in lists(recs)[0]]
    assert 0 not in got
    assert got[0] == 3


def test_unsellable_products_are_never_recommended():
    history = History.from_lists([[1]], [[1.0]], [[VIEWED]])
    sellable = [True, True, False, True, False, True]
    recs = run(history, [0], [True], cat=catalog(sellable=sellable), top_n=6)
    assert {int(i) for i in recs.item} <= {0, 1, 3, 5}


def test_a_customer_the_model_cannot_score_gets_content_then_segment_favourites():
    # Viewed only product 5, which the model never saw: content first (shoes of brand p), then
    # what the Lost segment likes (product 0 is its favourite, already in the list).
    known = np.array([True, True, True, True, True, False])
    history = History.from_lists([[5]], [[2.0]], [[VIEWED]])
    recs = run(history, [1], [True], fac=factors(np.random.default_rng(1).normal(size=(6, 3)), known), top_n=6)
    got = lists(recs)[0]
    assert [s for _, s in got[:4]] == [CONTENT] * 4  # the four shoes, 5 included (viewed, not bought)
    assert {i for i, _ in got[:4]} == {0, 1, 2, 5}
    assert [s for _, s in got[4:]] == [POPULAR_IN_SEGMENT] * 2
    assert recs.reason[0] == "similar to White Trainers you viewed"
    assert recs.reason[-1] == "popular with Lost"


def test_new_products_get_their_reserved_places_through_content():
    # Product 5 is new (not in the model) and matches the customer's shoe tastes.
    known = np.array([True, True, True, True, True, False])
    rng = np.random.default_rng(2)
    history = History.from_lists([[0, 1]], [[3.0, 1.0]], [[VIEWED, VIEWED]])
    recs = run(history, [0], [True], fac=factors(rng.normal(size=(6, 4)), known), top_n=4, slots=1)
    got = lists(recs)[0]
    assert [s for _, s in got] == [ALS, ALS, ALS, CONTENT]
    assert got[3][0] == 5


def test_fold_in_solves_the_implicit_als_user_step():
    rng = np.random.default_rng(3)
    y = rng.normal(size=(6, 3))
    fac = factors(y, np.ones(6, dtype=bool), alpha=4.0, reg=0.2)
    history = History.from_lists([[1, 4]], [[2.0, 0.5]], [[VIEWED, BOUGHT]])
    x, inverse, scorable = fold_in(fac, history)
    conf = np.zeros(6)
    conf[[1, 4]] = 4.0 * np.array([2.0, 0.5])
    pref = (conf > 0).astype(float)
    a = y.T @ np.diag(1 + conf) @ y + 0.2 * 2 * np.eye(3)
    expected = np.linalg.solve(a, y.T @ np.diag(1 + conf) @ pref)
    np.testing.assert_allclose(x[0], expected, rtol=1e-10)
    np.testing.assert_allclose(inverse[0], np.linalg.inv(a), rtol=1e-10)
    assert scorable.tolist() == [True]


def test_the_explanation_names_the_history_item_behind_the_score():
    # Bought 0, carted 1; the recommended product 2 lies along the factor of history item 1 only.
    y = np.zeros((6, 2))
    y[0], y[1], y[2] = [0, 1], [1, 0], [3, 0]
    y[3:] = [[0.01, 0.0], [0.0, 0.01], [-1, -1]]
    history = History.from_lists([[0, 1]], [[1.0, 1.0]], [[BOUGHT, CARTED]])
    recs = run(history, [0], [True], fac=factors(y, np.ones(6, dtype=bool)), top_n=1)
    assert recs.source == [ALS]
    assert int(recs.item[0]) == 2
    assert recs.reason == ["because you added to your basket Blue Trainers"]


def test_lists_have_no_duplicates_and_stop_at_top_n():
    history = History.from_lists([[0], [], [3, 4]], [[1.0], [], [1.0, 2.0]], [[VIEWED], [], [BOUGHT, VIEWED]])
    fac = factors(np.random.default_rng(4).normal(size=(6, 3)), np.ones(6, dtype=bool))
    recs = run(history, [0, -1, 1], [True, True, True], fac=fac, top_n=5, slots=1)
    for items in lists(recs).values():
        ids = [i for i, _ in items]
        assert len(ids) == len(set(ids)) <= 5


@pytest.mark.parametrize("length", [0, 1, 3])
def test_history_padding_keeps_the_strongest_items(length):
    items = [list(range(length))]
    strengths = [[float(i + 1) for i in range(length)]]
    history = History.from_lists(items, strengths, [[VIEWED] * length], max_len=2)
    kept = sorted(int(i) for i in history.items[0] if i >= 0)
    assert kept == sorted(range(length))[-2:] if length else kept == []


def test_a_customer_without_history_arrives_as_none():
    history = History.from_lists([None, [2]], [None, [1.0]], [None, [VIEWED]])
    assert history.items.tolist() == [[-1], [2]]


def test_the_served_model_predicts_from_skus_as_the_hybrid_core_does():
    from jobs.recommend.served import ItemFactors, RecommenderModel

    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(5, 3))
    # The model was trained on S4..S0 and a product no longer listed (X9); S5 is new to it.
    item_factors = ItemFactors(skus=np.array(["S4", "S3", "S2", "S1", "S0", "X9"], dtype=object),
                               vectors=np.vstack([vectors, rng.normal(size=(1, 3))]), alpha=2.0, reg_param=0.1)
    aligned = item_factors.aligned(catalog(), version="m/3")
    assert aligned.known.tolist() == [True, True, True, True, True, False]
    np.testing.assert_allclose(aligned.items[0], vectors[4])
    every = item_factors.vectors
    np.testing.assert_allclose(aligned.gram, every.T @ every)  # over every trained product, listed or not

    model = RecommenderModel(item_factors, catalog(), popularity(), top_n=3, new_product_slots=1, version="m/3")
    frame = pd.DataFrame({
        "customer_key": ["a", "b"], "personalised": [True, False], "rfm_segment": ["Lost", None],
        "skus": [["S0", "unknown-sku"], ["S3"]], "strengths": [[5.0, 9.0], [5.0]], "kinds": [[BOUGHT, VIEWED], [BOUGHT]],
    })
    got = model.predict(None, frame)
    core = run(History.from_lists([[0], [3]], [[5.0], [5.0]], [[BOUGHT], [BOUGHT]]), [1, -1], [True, False],
               fac=aligned, slots=1)
    assert got["customer_key"].tolist() == ["a"] * 3 + ["b"] * 3
    assert got["product_id"].tolist() == [f"S{i}" for i in core.item]
    assert got["source"].tolist() == core.source and got["reason"].tolist() == core.reason
    with pytest.raises(ValueError, match="lacks column.*skus"):
        model.predict(None, frame.drop(columns=["skus"]))


def films_and_groceries() -> Catalog:
    """The six products as a shop of films (0-2, 5: watched once) and groceries (3-4: bought again and again)."""
    return dataclasses.replace(catalog(), category_names=("films", "groceries"))


@pytest.mark.parametrize(("method", "blend"), [(HYBRID, 0.0), (ALS_POPULAR, 0.0), (ALS_POPULAR, 0.5),
                                               (POPULARITY, 0.0)])
def test_every_method_leaves_out_a_film_seen_but_offers_groceries_again(method, blend):
    cat = films_and_groceries()
    items = np.random.default_rng(3).normal(size=(6, 2))
    history = History.from_lists([[0, 3], [1]], [[6.0, 6.0], [1.0]], [[BOUGHT, BOUGHT], [VIEWED]])
    recs = recommend(cat, factors(items, np.ones(6, dtype=bool)), popularity(), history, np.array([0, 1]),
                     np.array([True, True]), 6, 0, method, blend)
    got = lists(recs)
    assert {i for i, _ in got[0]} == {1, 2, 3, 4, 5}  # film 0 left out, groceries 3 offered again
    assert {i for i, _ in got[1]} == {0, 1, 2, 3, 4, 5}  # only viewed: nothing left out


def test_the_popularity_prior_moves_the_list_from_als_towards_popularity():
    # ALS puts product 5 (least popular) first for a customer who bought product 2.
    items = np.array([[0.1, 0.0], [0.1, 0.0], [0.0, 1.0], [0.1, 0.0], [0.1, 0.0], [0.0, 1.0]])
    fac = factors(items, np.ones(6, dtype=bool))
    history = History.from_lists([[2], []], [[6.0], []], [[BOUGHT], []])

    def top(blend):
        recs = recommend(catalog(), fac, popularity(), history, np.array([0, -1]), np.array([True, True]), 3, 0,
                         ALS_POPULAR, blend)
        return lists(recs)

    assert top(0.0)[0][0] == (5, ALS)
    assert top(0.95)[0][0] == (0, BLEND)  # the most popular product leads once popularity dominates
    assert top(0.5)[1] == [(0, POPULAR), (1, POPULAR), (2, POPULAR)]  # no history: popularity alone


def test_a_method_below_popularity_on_the_holdout_is_not_served():
    metrics = {"hybrid": {"ndcg": 0.15}, "als_popular": {"ndcg": 0.22}, "popular": {"ndcg": 0.20}}
    assert popularity_gate(HYBRID, 0.0, metrics, 10)[:2] == (POPULARITY, 0.0)
    assert "below popularity's 0.2000" in popularity_gate(HYBRID, 0.0, metrics, 10)[2]
    assert popularity_gate(ALS_POPULAR, 0.25, metrics, 10) == (ALS_POPULAR, 0.25, "passed")
    assert popularity_gate(POPULARITY, 0.0, metrics, 10) == (POPULARITY, 0.0, "passed")


def test_a_model_registered_before_methods_existed_serves_the_hybrid():
    model = RecommenderModel(None, catalog(), popularity(), 3, 0)
    del model.__dict__["method"], model.__dict__["blend"]
    assert (model.served_method, model.blend_weight) == (HYBRID, 0.0)
    assert model.using(POPULARITY).served_method == POPULARITY
