"""The recommender's core, on numpy arrays: a batch of customers -> their top-N lists.

Three methods can be served; training picks one on the validation week (jobs/recommend/train.py):

- **hybrid** (below);
- **als+popular**: ALS with a popularity prior, score = (1 - w) * ALS preference + w * the
  product's popularity relative to the top product (w, the blend weight, is searched on
  validation); customers the model cannot score get the popularity list;
- **popular**: the most popular products.

The hybrid, for each customer, in this order of preference:

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

Whatever the method, customers without personalization consent get one non-personalised
list (**popular**), and the same business rules hold: only sellable products (active, in
stock); products already bought are left out unless their category is repeatable (films and
electronics are bought once, groceries again and again). Scores are each source's own: ALS
predicted preference, the blend, content similarity (0-1), popularity relative to the top
product. The `source` of a row names what put it there: `als`, `content`,
`popular_in_segment`, `als+popular` or `popular`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALS, CONTENT, POPULAR_IN_SEGMENT, POPULAR = "als", "content", "popular_in_segment", "popular"
BLEND = "als+popular"
# The servable methods (the `source` of a blend row is BLEND, of a popularity row POPULAR).
HYBRID, ALS_POPULAR, POPULARITY = "hybrid", "als+popular", "popular"
METHODS = (HYBRID, ALS_POPULAR, POPULARITY)
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
    # Batched matrix products (BLAS), not einsum: a chunk is hundreds of customers x L x rank.
    a = factors.gram[None] + (conf[..., None] * y).transpose(0, 2, 1) @ y
    a += (factors.reg_param * np.maximum(counts, 1))[:, None, None] * np.eye(rank)[None]
    b = (((1.0 + conf) * known)[:, None, :] @ y)[:, 0, :]
    inverse = np.linalg.inv(a)
    x = (inverse @ b[..., None])[..., 0]
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
              segment: np.ndarray, personalised: np.ndarray, top_n: int, new_product_slots: int,
              method: str = HYBRID, blend: float = 0.0) -> Recommendations:
    """Top-N lists for a batch of customers.

    Args:
        catalog: the products.
        factors: the champion ALS model's item side; None scores without ALS.
        popularity: overall and per-segment popularity.
        history: the customers' interactions up to the scoring day.
        segment: int [B], index into popularity.segments (-1: none).
        personalised: bool [B], the customer consented to personalization.
        top_n: list length.
        new_product_slots: places kept for products the model has not seen (hybrid only).
        method: one of `METHODS`.
        blend: the popularity weight w of `ALS_POPULAR` (0: ALS alone where it can score).
    """
    if method not in METHODS:
        raise ValueError(f"unknown recommender method {method!r}; expected one of {', '.join(METHODS)}")
    parts = []
    for start in range(0, len(segment), CHUNK):
        end = min(start + CHUNK, len(segment))
        sub = History(history.items[start:end], history.strength[start:end], history.kind[start:end])
        chunk = (catalog, factors, popularity, sub, segment[start:end], personalised[start:end], top_n)
        part = (_recommend_chunk(*chunk, new_product_slots) if method == HYBRID
                else _ranked_chunk(*chunk, blend if method == ALS_POPULAR else 1.0))
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
    unseen = np.where(known[None, :], -np.inf, content)
    new_top = _top(unseen, new_product_slots)
    # Content and segment lists fill what ALS leaves open: rank them only for those customers.
    fill = np.flatnonzero(personalised & ((als_top[:, -1] < 0) if top_n else True))
    content_top = np.full((rows, top_n), -1, dtype=np.int64)
    content_top[fill] = _top(content[fill], top_n)

    overall = _normalised(popularity.overall)
    if len(popularity.segments):
        seg_pop = _normalised(popularity.by_segment)[np.maximum(segment[fill], 0)]
        in_segment_fill = np.where((segment[fill] >= 0)[:, None], seg_pop, overall[None, :])
    else:
        in_segment_fill = np.broadcast_to(overall, (len(fill), n_items)).copy()
    in_segment = np.full((rows, n_items), -np.inf)
    in_segment[fill] = np.where(blocked[fill], -np.inf, in_segment_fill)
    segment_top = np.full((rows, top_n), -1, dtype=np.int64)
    segment_top[fill] = _top(in_segment[fill], top_n)
    public = np.where(catalog.sellable, overall, -np.inf)
    public_top = _top(public[None, :], top_n)[0]

    picked = np.full((rows, top_n), -1, dtype=np.int64)
    scores = np.zeros((rows, top_n))
    sources = np.full((rows, top_n), "", dtype=object)
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
        for n, (item, source, score) in enumerate(picks[:top_n]):
            picked[r, n], sources[r, n], scores[r, n] = item, source, score
    because = _because(catalog, factors, history, picked, sources, inverse if factors is not None else None)
    customer, slot = np.nonzero(picked >= 0)
    reasons = _reasons(catalog, popularity, history, segment, customer, picked[customer, slot],
                       sources[customer, slot], because[customer, slot])
    return Recommendations(customer, slot + 1, picked[customer, slot], scores[customer, slot],
                           list(sources[customer, slot]), reasons)


def _ranked_chunk(catalog: Catalog, factors: Factors | None, popularity: Popularity, history: History,
                  segment: np.ndarray, personalised: np.ndarray, top_n: int, blend: float) -> Recommendations:
    """ALS with a popularity prior (`blend` = w; 1.0 is popularity alone), under the same rules as the hybrid."""
    rows = len(segment)
    overall = _normalised(popularity.overall)
    blocked = excluded(catalog, history) | ~catalog.sellable[None, :]
    scores = np.broadcast_to(overall, (rows, len(catalog))).copy()
    sources = np.full(rows, POPULAR, dtype=object)
    inverse = None
    if factors is not None and blend < 1.0:
        x, inverse, scorable = fold_in(factors, history)
        scorable &= personalised
        als = x[scorable] @ factors.items.T
        # A product the model never saw has no ALS preference: it ranks by its popularity share only.
        scores[scorable] = np.where(factors.known[None, :], (1.0 - blend) * als, 0.0) + blend * overall[None, :]
        sources[scorable] = BLEND if blend > 0 else ALS
    scores[blocked & personalised[:, None]] = -np.inf
    public = np.where(catalog.sellable, overall, -np.inf)
    scores[~personalised] = public
    picked = _top(scores, top_n)
    row_sources = np.repeat(sources[:, None], picked.shape[1], axis=1)
    row_sources[picked < 0] = ""
    explained_as = np.where(row_sources == BLEND, ALS, row_sources)  # a blend row is explained as ALS's pick
    because = _because(catalog, factors, history, picked, explained_as, inverse)
    customer, slot = np.nonzero(picked >= 0)
    item = picked[customer, slot]
    reasons = _reasons(catalog, popularity, history, segment, customer, item, explained_as[customer, slot],
                       because[customer, slot])
    return Recommendations(customer, slot + 1, item, scores[customer, item], list(row_sources[customer, slot]), reasons)


def _because(catalog: Catalog, factors: Factors | None, history: History, picked: np.ndarray,
             sources: np.ndarray, inverse: np.ndarray | None) -> np.ndarray:
    """[B, N]: the position in the customer's history behind each pick (-1: none).

    ALS: the history item contributing most to the score, (1 + alpha * r_j) * y_i' A^-1 y_j.
    Content: the history item sharing most with the pick (category, then brand, then price band).
    """
    because = np.full(picked.shape, -1, dtype=np.int64)
    safe_pick = np.maximum(picked, 0)
    safe_hist = np.maximum(history.items, 0)
    valid = history.valid
    is_als = sources == ALS
    if factors is not None and inverse is not None and is_als.any():
        y_hist = factors.items[safe_hist]  # [B, L, r]
        contribution = (factors.items[safe_pick] @ inverse) @ y_hist.transpose(0, 2, 1)  # [B, N, L]
        contribution *= (1.0 + factors.alpha * history.strength)[:, None, :]
        contribution = np.where((valid & factors.known[safe_hist])[:, None, :], contribution, -np.inf)
        because = np.where(is_als, np.argmax(contribution, axis=2), because)
    is_content = sources == CONTENT
    if is_content.any():
        def same(attribute: np.ndarray) -> np.ndarray:
            return attribute[safe_pick][:, :, None] == attribute[safe_hist][:, None, :]

        similarity = (2.0 * same(catalog.category) + 1.0 * same(catalog.brand) + 0.5 * same(catalog.price_band)
                      + 1e-6 * history.strength[:, None, :])
        similarity = np.where(valid[:, None, :], similarity, -np.inf)
        because = np.where(is_content, np.argmax(similarity, axis=2), because)
    rows = np.arange(picked.shape[0])[:, None]
    return np.where(valid[rows, np.maximum(because, 0)] & (because >= 0), because, -1)


def _reasons(catalog: Catalog, popularity: Popularity, history: History, segment: np.ndarray,
             customer: np.ndarray, item: np.ndarray, source: np.ndarray, because: np.ndarray) -> list[str]:
    """A sentence per recommendation: the history item behind it, or the crowd it is popular with."""
    pos = np.maximum(because, 0)
    verbs = [KIND_VERBS[k] for k in history.kind[customer, pos].tolist()]
    names = catalog.name[history.items[customer, pos]].tolist()
    segment_names = [*popularity.segments, NO_SEGMENT_LABEL]  # index -1: no segment
    seg = segment[customer].tolist()
    out = []
    for n, (source_n, found) in enumerate(zip(source.tolist(), (because >= 0).tolist(), strict=True)):
        if source_n == ALS and found:
            out.append(f"because you {verbs[n]} {names[n]}")
        elif source_n == CONTENT and found:
            out.append(f"similar to {names[n]} you {verbs[n]}")
        elif source_n == POPULAR_IN_SEGMENT:
            out.append(f"popular with {segment_names[seg[n]]}")
        else:
            out.append("popular right now")
    return out
