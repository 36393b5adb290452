"""The hybrid recommender's core, on numpy arrays: a batch of customers -> their top-N lists.

For each customer, in this order of preference:

1. **als**: the ALS model's item factors score every product for a user vector folded in
   from the customer's interactions (the same least-squares step Spark's implicit ALS takes
   for a user, so a trained user gets back the factors it was trained with, and a customer
   whose first interactions came after training is scored too). The reason names the
   history item that contributes most to the score (Hu, Koren and Volinsky's explanation:
   score = sum over history items j of (1 + alpha * r_j) * y_i' A^-1 y_j).
2. **content**: products similar in category, brand and price band to what the customer
   viewed or bought; used for products the model has not seen (a few reserved places) and
   for customers the model cannot score.
3. **popular_in_segment**: what the customer's RFM segment interacts with most.

Customers without personalization consent get one non-personalised list (**popular**).
Business rules: only sellable products (active, in stock); products already bought are
left out unless their category is repeatable. Scores are each source's own: ALS predicted
preference, content similarity (0-1), popularity relative to the segment's top product.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALS, CONTENT, POPULAR_IN_SEGMENT, POPULAR = "als", "content", "popular_in_segment", "popular"
KIND_VERBS = {0: "viewed", 1: "added to your basket", 2: "bought"}
NO_SEGMENT_LABEL = "new shoppers"
# Content similarity: how much a matching category, brand and price band weigh.
CONTENT_WEIGHTS = (0.5, 0.35, 0.15)
# Sub-batches keep the (customers x history x rank) arrays small.
CHUNK = 512


@dataclass(frozen=True)
class Catalog:
    """The products, in index order (index = position in these arrays)."""

    sku: np.ndarray  # object
    name: np.ndarray  # object
    category: np.ndarray  # int, into category_names
    brand: np.ndarray  # int, into brand_names
    price_band: np.ndarray  # int, into price_band_names
    sellable: np.ndarray  # bool: active and in stock
    repeatable: np.ndarray  # bool: its category is bought again and again
    category_names: tuple[str, ...]
    brand_names: tuple[str, ...]
    price_band_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.sku)


@dataclass(frozen=True)
class Factors:
    """An implicit ALS model's item side, aligned with a Catalog."""

    items: np.ndarray  # float64 [n_items, rank]; zero rows for products the model has not seen
    known: np.ndarray  # bool [n_items]: the model has a factor for the product
    alpha: float
    reg_param: float
    gram: np.ndarray  # Y'Y over every product the model was trained on
    version: str | None = None


@dataclass(frozen=True)
class Popularity:
    """Interaction strength summed over customers: overall and per segment."""

    overall: np.ndarray  # float [n_items]
    by_segment: np.ndarray  # float [n_segments, n_items]
    segments: tuple[str, ...]


@dataclass(frozen=True)
class History:
    """A batch of customers' interactions, padded: item -1 and strength 0 where a row is shorter."""

    items: np.ndarray  # int [B, L]
    strength: np.ndarray  # float [B, L]
    kind: np.ndarray  # int [B, L]: 0 viewed, 1 added to cart, 2 bought

    @staticmethod
    def from_lists(items: list, strength: list, kind: list, max_len: int = 200) -> History:
        """Pad per-customer lists; a customer with more than `max_len` keeps the strongest."""
        rows = len(items)
        width = max(1, min(max_len, max((len(i) for i in items if i is not None), default=0)))
        out_i = np.full((rows, width), -1, dtype=np.int64)
        out_s = np.zeros((rows, width))
        out_k = np.zeros((rows, width), dtype=np.int64)
        for r, (i, s, k) in enumerate(zip(items, strength, kind, strict=True)):
            if i is None or len(i) == 0:
                continue
            i, s, k = np.asarray(i, dtype=np.int64), np.asarray(s, dtype=float), np.asarray(k, dtype=np.int64)
            if len(i) > width:
                keep = np.argsort(-s, kind="stable")[:width]
                i, s, k = i[keep], s[keep], k[keep]
            out_i[r, : len(i)], out_s[r, : len(i)], out_k[r, : len(i)] = i, s, k
        return History(out_i, out_s, out_k)

    @property
    def valid(self) -> np.ndarray:
        return self.items >= 0


@dataclass(frozen=True)
class Recommendations:
    """Flat result rows: customer (row of the batch), rank (1-based), item, score, source, reason."""

    customer: np.ndarray
    rank: np.ndarray
    item: np.ndarray
    score: np.ndarray
    source: list[str]
    reason: list[str]


def fold_in(factors: Factors, history: History) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """User vectors from item factors: Spark's implicit ALS user step, for each customer.

    Solves (Y'Y + Y_u'(C_u - I)Y_u + reg * n_u * I) x_u = Y_u' C_u p_u with c = 1 + alpha * r
    over the customer's interactions with known products (n_u of them; Spark scales the
    regularisation by that count).

    Returns:
        x [B, rank] (zero where a customer has no known product), the inverse system matrices
        [B, rank, rank] (for explanations) and a bool [B]: the customer could be scored.
    """
    rank = factors.items.shape[1]
    known = history.valid & factors.known[np.maximum(history.items, 0)]
    conf = np.where(known, factors.alpha * history.strength, 0.0)
    y = factors.items[np.maximum(history.items, 0)] * known[..., None]
    counts = known.sum(axis=1)
    a = factors.gram[None] + np.einsum("bl,blr,bls->brs", conf, y, y)
    a += (factors.reg_param * np.maximum(counts, 1))[:, None, None] * np.eye(rank)[None]
    b = np.einsum("bl,blr->br", (1.0 + conf) * known, y)
    inverse = np.linalg.inv(a)
    x = np.einsum("brs,bs->br", inverse, b)
    scorable = counts > 0
    x[~scorable] = 0.0
    return x, inverse, scorable


def _top(scores: np.ndarray, n: int) -> np.ndarray:
    """Per row, the indexes of the n best finite scores, best first (-1 pads rows with fewer)."""
    n = min(n, scores.shape[1])
    if n == 0:
        return np.zeros((scores.shape[0], 0), dtype=np.int64)
    part = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(part, order, axis=1)
    return np.where(np.isfinite(np.take_along_axis(scores, top, axis=1)), top, -1)


def _profile(history: History, attribute: np.ndarray, size: int) -> np.ndarray:
    """[B, size]: the share of each attribute value in the customer's interaction strength."""
    out = np.zeros((history.items.shape[0], size))
    rows = np.repeat(np.arange(history.items.shape[0]), history.items.shape[1])
    values = attribute[np.maximum(history.items, 0)].ravel()
    np.add.at(out, (rows, values), np.where(history.valid, history.strength, 0.0).ravel())
    total = out.sum(axis=1, keepdims=True)
    return np.divide(out, total, out=np.zeros_like(out), where=total > 0)


def content_scores(catalog: Catalog, history: History) -> np.ndarray:
    """[B, n_items]: similarity of each product to the customer's tastes (0 without history)."""
    w_cat, w_brand, w_band = CONTENT_WEIGHTS
    cat = _profile(history, catalog.category, len(catalog.category_names))
    brand = _profile(history, catalog.brand, len(catalog.brand_names))
    band = _profile(history, catalog.price_band, len(catalog.price_band_names))
    return w_cat * cat[:, catalog.category] + w_brand * brand[:, catalog.brand] + w_band * band[:, catalog.price_band]


def excluded(catalog: Catalog, history: History) -> np.ndarray:
    """[B, n_items] bool: bought before, in a category that is not repeatable."""
    out = np.zeros((history.items.shape[0], len(catalog)), dtype=bool)
    bought = history.valid & (history.kind == 2)
    rows, cols = np.nonzero(bought)
    items = history.items[rows, cols]
    keep = ~catalog.repeatable[items]
    out[rows[keep], items[keep]] = True
    return out


def _normalised(popularity: np.ndarray) -> np.ndarray:
    top = popularity.max(axis=-1, keepdims=True)
    return np.divide(popularity, top, out=np.zeros_like(popularity, dtype=float), where=top > 0)


def recommend(catalog: Catalog, factors: Factors | None, popularity: Popularity, history: History,
              segment: np.ndarray, personalised: np.ndarray, top_n: int, new_product_slots: int) -> Recommendations:
    """Top-N lists for a batch of customers.

    Args:
        catalog: the products.
        factors: the champion ALS model's item side; None scores without ALS.
        popularity: overall and per-segment popularity.
        history: the customers' interactions up to the scoring day.
        segment: int [B], index into popularity.segments (-1: none).
        personalised: bool [B], the customer consented to personalization.
        top_n: list length.
        new_product_slots: places kept for products the model has not seen.
    """
    parts = []
    for start in range(0, len(segment), CHUNK):
        end = min(start + CHUNK, len(segment))
        sub = History(history.items[start:end], history.strength[start:end], history.kind[start:end])
        part = _recommend_chunk(catalog, factors, popularity, sub, segment[start:end],
                                personalised[start:end], top_n, new_product_slots)
        parts.append((start, part))
    return Recommendations(
        customer=np.concatenate([p.customer + s for s, p in parts]) if parts else np.zeros(0, dtype=np.int64),
        rank=np.concatenate([p.rank for _, p in parts]) if parts else np.zeros(0, dtype=np.int64),
        item=np.concatenate([p.item for _, p in parts]) if parts else np.zeros(0, dtype=np.int64),
        score=np.concatenate([p.score for _, p in parts]) if parts else np.zeros(0),
        source=[x for _, p in parts for x in p.source],
        reason=[x for _, p in parts for x in p.reason],
    )


def _recommend_chunk(catalog: Catalog, factors: Factors | None, popularity: Popularity, history: History,
                     segment: np.ndarray, personalised: np.ndarray, top_n: int,
                     new_product_slots: int) -> Recommendations:
    rows = len(segment)
    n_items = len(catalog)
    blocked = excluded(catalog, history) | ~catalog.sellable[None, :]

    if factors is not None:
        x, inverse, scorable = fold_in(factors, history)
        als = x @ factors.items.T
        als[blocked | ~factors.known[None, :] | ~scorable[:, None]] = -np.inf
        known = factors.known
    else:
        scorable = np.zeros(rows, dtype=bool)
        als = np.full((rows, n_items), -np.inf)
        known = np.zeros(n_items, dtype=bool)
    als_top = _top(als, top_n)

    content = content_scores(catalog, history)
    content[blocked | (content <= 0)] = -np.inf
    content_top = _top(content, top_n)
    unseen = np.where(known[None, :], -np.inf, content)
    new_top = _top(unseen, new_product_slots)

    seg_pop = _normalised(popularity.by_segment)[np.maximum(segment, 0)] if len(popularity.segments) else None
    overall = _normalised(popularity.overall)
    in_segment = np.where((segment >= 0)[:, None], seg_pop, overall[None, :]) if seg_pop is not None \
        else np.broadcast_to(overall, (rows, n_items)).copy()
    in_segment = np.where(blocked, -np.inf, in_segment)
    segment_top = _top(in_segment, top_n)
    public = np.where(catalog.sellable, overall, -np.inf)
    public_top = _top(public[None, :], top_n)[0]

    out_c, out_r, out_i, out_s, out_src = [], [], [], [], []
    for r in range(rows):
        if not personalised[r]:
            picks = [(i, POPULAR, overall[i]) for i in public_top if i >= 0]
        else:
            reserve = min(new_product_slots, int((new_top[r] >= 0).sum())) if scorable[r] else 0
            queue = []
            if scorable[r]:
                queue += [(i, ALS, als[r, i]) for i in als_top[r, : top_n - reserve] if i >= 0]
                queue += [(i, CONTENT, content[r, i]) for i in new_top[r, :reserve] if i >= 0]
                queue += [(i, ALS, als[r, i]) for i in als_top[r, top_n - reserve:] if i >= 0]
            queue += [(i, CONTENT, content[r, i]) for i in content_top[r] if i >= 0]
            queue += [(i, POPULAR_IN_SEGMENT, in_segment[r, i]) for i in segment_top[r] if i >= 0]
            seen: set[int] = set()
            picks = []
            for item, source, score in queue:
                if item not in seen:
                    seen.add(item)
                    picks.append((item, source, score))
                    if len(picks) == top_n:
                        break
        for rank, (item, source, score) in enumerate(picks[:top_n], start=1):
            out_c.append(r)
            out_r.append(rank)
            out_i.append(item)
            out_s.append(float(score))
            out_src.append(source)
    customer = np.asarray(out_c, dtype=np.int64)
    item = np.asarray(out_i, dtype=np.int64)
    reasons = _reasons(catalog, factors, popularity, history, segment, customer, item, out_src,
                       inverse if factors is not None else None)
    return Recommendations(customer, np.asarray(out_r, dtype=np.int64), item, np.asarray(out_s), out_src, reasons)


def _reasons(catalog: Catalog, factors: Factors | None, popularity: Popularity, history: History,
             segment: np.ndarray, customer: np.ndarray, item: np.ndarray, source: list[str],
             inverse: np.ndarray | None) -> list[str]:
    """A sentence per recommendation: the history item behind it, or the crowd it is popular with."""
    src = np.asarray(source, dtype=object)
    because = np.full(len(item), -1, dtype=np.int64)  # position in the customer's history
    hist_items = history.items[customer]  # [n, L]
    valid = hist_items >= 0
    safe = np.maximum(hist_items, 0)
    is_als = src == ALS
    if factors is not None and inverse is not None and is_als.any():
        rows = np.flatnonzero(is_als)
        y_rec = factors.items[item[rows]]  # [n, r]
        y_hist = factors.items[safe[rows]]  # [n, L, r]
        known = valid[rows] & factors.known[safe[rows]]
        weight = 1.0 + factors.alpha * history.strength[customer[rows]]
        contribution = np.einsum("nr,nrs,nls->nl", y_rec, inverse[customer[rows]], y_hist) * weight
        contribution[~known] = -np.inf
        because[rows] = np.argmax(contribution, axis=1)
    is_content = src == CONTENT
    if is_content.any():
        rows = np.flatnonzero(is_content)
        rec = item[rows][:, None]
        h = safe[rows]
        similarity = (
            2.0 * (catalog.category[h] == catalog.category[rec])
            + 1.0 * (catalog.brand[h] == catalog.brand[rec])
            + 0.5 * (catalog.price_band[h] == catalog.price_band[rec])
            + 1e-6 * history.strength[customer[rows]]
        )
        similarity[~valid[rows]] = -np.inf
        because[rows] = np.argmax(similarity, axis=1)
    pos = np.maximum(because, 0)
    verbs = [KIND_VERBS[k] for k in history.kind[customer, pos].tolist()]
    names = catalog.name[history.items[customer, pos]].tolist()
    segment_names = [*popularity.segments, NO_SEGMENT_LABEL]  # index -1: no segment
    seg = segment[customer].tolist()
    out = []
    for n, source_n in enumerate(source):
        if source_n == ALS and because[n] >= 0:
            out.append(f"because you {verbs[n]} {names[n]}")
        elif source_n == CONTENT and because[n] >= 0:
            out.append(f"similar to {names[n]} you {verbs[n]}")
        elif source_n == POPULAR_IN_SEGMENT:
            out.append(f"popular with {segment_names[seg[n]]}")
        else:
            out.append("popular right now")
    return out
