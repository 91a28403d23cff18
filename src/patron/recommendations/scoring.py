"""Trained model state and how it scores: one code path for serving and for evaluation.

`fit` turns a `Dataset` (the training window) into a `Model`; `for_you_scores` and
`together_scores` score users or baskets with it. The API and the evaluator both call
these functions, so what is measured is what is served.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from patron.recommendations import algorithms as alg
from patron.recommendations.dataset import Dataset, FloatArray, IntArray


@dataclass(slots=True)
class Params:
    """Hyper-parameters (chosen on a validation split cut from training data; ADR 0012)."""

    # for you (collaborative filtering)
    half_life_days: float = 30.0
    view_weight: float = 0.3
    ease_lambda: float = 200.0
    ease_min_users: int = 3
    top_k: int = 200
    # repeat-purchase component: own history, weighted against the CF score. The history is
    # the time-decayed count of the customer's orders holding the item, n; an item scores
    # n ** repeat_count_exponent (diminishing returns: the 10th order of an item says less
    # than the 2nd) x (its rebuy rate + 0.01) ** repeat_item_gamma, the rebuy rate being
    # the share of its buyers who bought it again among those who ordered again, shrunk
    # toward the store's share by repeat_prior_weight buyers (algorithms.rebuy_rate)
    history_half_life_days: float = 730.0
    repeat_weight: float = 3.0
    repeat_count_exponent: float = 0.5
    repeat_item_gamma: float = 0.5
    repeat_prior_weight: float = 3.0
    # weight of decayed popularity added to the normalised CF score
    pop_weight: float = 0.0
    # weight of content similarity (title, category, brand) to the customer's items (hybrid)
    content_weight: float = 0.3
    # a category whose share of (customer, product) pairs bought again is at least this is
    # "consumable" (bought-again allowed) unless a category rule says otherwise
    consumable_repeat_rate: float = 0.15
    # frequently bought together: association plus the for-you item weights
    min_support: int = 2
    assoc_alpha: float = 0.4
    assoc_top_k: int = 100
    together_cf_weight: float = 10.0
    # ... blended (weight below) with EASE fitted on baskets: items bought in one order
    basket_lambda: float = 20.0
    together_assoc_weight: float = 0.3
    # trending
    trend_half_life_days: float = 14.0
    popularity_half_life_days: float = 30.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Catalog:
    """What the content model and the rules know of each item (aligned with item_ids)."""

    titles: list[str]
    categories: list[str | None]
    brands: list[str | None]
    prices: FloatArray  # minor units, nan = unknown
    currencies: list[str | None]
    families: list[str]  # diversity key: variants of one design share it

    @classmethod
    def empty(cls, n: int) -> Catalog:
        return cls(["" for _ in range(n)], [None] * n, [None] * n, np.full(n, np.nan),
                   [None] * n, [str(i) for i in range(n)])  # fmt: skip


def _index(values: list[str | None]) -> tuple[IntArray, list[str]]:
    names = sorted({v for v in values if v})
    pos = {v: i for i, v in enumerate(names)}
    return np.asarray([pos[v] if v else -1 for v in values], dtype=np.int64), names


@dataclass(slots=True)
class Model:
    item_ids: IntArray
    sim: sp.csr_matrix  # for you: items x items
    assoc: sp.csr_matrix  # bought together: items x items
    basket_sim: sp.csr_matrix  # bought together: EASE on baskets x items
    support: sp.csr_matrix  # baskets holding both items (for the kept pairs)
    popularity: FloatArray  # decayed purchases per item
    item_repeat: FloatArray  # share of an item's buyers who bought it in 2+ orders (rules)
    item_rebuy: FloatArray  # of its buyers who ordered again, the share who rebought it
    trending: FloatArray  # fast-decayed purchases per item
    trending_country: sp.csr_matrix  # countries x items
    countries: list[str]
    trained_until: float  # epoch seconds of the newest interaction used
    method: str
    item_category: IntArray  # index into categories, -1 = none
    categories: list[str]
    category_repeat: FloatArray  # learned repeat-purchase rate per category
    item_price: FloatArray
    item_currency: IntArray
    currencies: list[str]
    item_family: IntArray
    content: sp.csr_matrix  # items x vocabulary
    vocab: list[str]
    idf: FloatArray
    params: Params = field(default_factory=Params)
    # transposes for column reads when explaining (derived on load, not stored)
    sim_t: sp.csr_matrix | None = None
    support_t: sp.csr_matrix | None = None
    basket_t: sp.csr_matrix | None = None
    content_self: FloatArray | None = None  # each item's content similarity to itself

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def column(self, which: str, j: int) -> tuple[IntArray, FloatArray]:
        """(rows i, values) of the non-zero m[i, j] of `sim`, `basket_sim` or `support`."""
        name = {"sim": "sim_t", "basket": "basket_t", "support": "support_t"}[which]
        t = getattr(self, name)
        if t is None:
            src = {"sim": self.sim, "basket": self.basket_sim, "support": self.support}[which]
            t = src.T.tocsr()
            setattr(self, name, t)
        a, b = t.indptr[j], t.indptr[j + 1]
        return t.indices[a:b].astype(np.int64), t.data[a:b].astype(np.float64)


def fit(data: Dataset, params: Params | None = None, catalog: Catalog | None = None) -> Model:
    p = params or Params()
    cat = catalog or Catalog.empty(data.n_items)
    now = data.last_time
    x = alg.user_item(data, now=now, half_life_days=p.half_life_days, view_weight=p.view_weight)
    x = alg.binarize(x, cap=1.0)
    if data.n_items <= alg.EASE_MAX_ITEMS:
        sim = alg.fit_ease(x, lam=p.ease_lambda, top_k=p.top_k, min_users=p.ease_min_users)
        method = "ease"
    else:
        sim, method = alg.fit_cosine(x, top_k=p.top_k), "item_knn"
    baskets = alg.baskets(data)
    assoc, support = alg.fit_association(
        baskets, min_support=p.min_support, alpha=p.assoc_alpha, top_k=p.assoc_top_k
    )
    if data.n_items <= alg.EASE_MAX_ITEMS:
        basket_sim = alg.fit_ease(baskets, lam=p.basket_lambda, top_k=p.top_k,
                                  min_users=p.ease_min_users)  # fmt: skip
    else:
        basket_sim = alg.fit_cosine(baskets, top_k=p.top_k)
    no_country = np.full(len(data.p_user), -1, dtype=np.int64)
    country = data.user_country[data.p_user] if len(data.user_country) else no_country
    item_category, categories = _index(cat.categories)
    item_currency, currencies = _index(cat.currencies)
    item_family, _ = _index(list(cat.families))
    content, vocab, idf = alg.content_matrix(
        [
            alg.tokens(t, c, b)
            for t, c, b in zip(cat.titles, cat.categories, cat.brands, strict=True)
        ]  # fmt: skip
    )
    return Model(
        item_ids=data.item_ids,
        sim=sim,
        assoc=assoc,
        basket_sim=basket_sim,
        support=support,
        popularity=alg.popularity(data, now=now, half_life_days=p.popularity_half_life_days),
        item_repeat=alg.repeat_rate(data, np.arange(data.n_items), data.n_items),
        item_rebuy=alg.rebuy_rate(data, prior_weight=p.repeat_prior_weight),
        trending=alg.popularity(data, now=now, half_life_days=p.trend_half_life_days),
        trending_country=alg.popularity_by(
            data,
            country,
            max(len(data.countries), 1),
            now=now,
            half_life_days=p.trend_half_life_days,
        ),  # fmt: skip
        countries=list(data.countries),
        trained_until=now,
        method=method,
        item_category=item_category,
        categories=categories,
        category_repeat=alg.repeat_rate(data, item_category, len(categories)),
        item_price=np.asarray(cat.prices, dtype=np.float64),
        item_currency=item_currency,
        currencies=currencies,
        item_family=item_family,
        content=content,
        vocab=vocab,
        idf=idf,
        params=p,
    )


def user_vectors(
    data: Dataset, users: IntArray, *, now: float, params: Params
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """(cf input, own purchase history) rows for `users`, from `data` (their interactions).

    The history counts orders (purchase occasions), decayed with `history_half_life_days`.
    """
    x = alg.user_item(data, now=now, half_life_days=params.half_life_days,
                      view_weight=params.view_weight)  # fmt: skip
    h = alg.history(data, now=now, half_life_days=params.history_half_life_days)
    return alg.binarize(x, 1.0)[users], h[users]


def _row_max_normalise(m: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    top = m.max(axis=1, keepdims=True)
    return np.asarray(m / np.where(top > 0, top, 1.0), dtype=np.float64)


def for_you_scores(
    model: Model, x: sp.csr_matrix, history: sp.csr_matrix, *, repeat: bool
) -> npt.NDArray[np.float64]:
    """Dense scores (rows of x) x items: CF plus content similarity to the customer's items,
    popularity as a tie-breaker, and (repeat) the customer's own history."""
    cf = _row_max_normalise(np.asarray((x @ model.sim).toarray(), dtype=np.float64))
    if model.params.content_weight > 0 and model.content.shape[1] > 0:
        near = np.asarray(((x @ model.content) @ model.content.T).toarray(), dtype=np.float64)
        if model.content_self is None:
            model.content_self = np.asarray(
                model.content.multiply(model.content).sum(axis=1), dtype=np.float64
            ).ravel()
        # an item is not "similar to what you bought" because you bought it (as EASE's
        # zero diagonal): the own-history part scores bought items
        near = np.maximum(near - x.toarray() * model.content_self[None, :], 0.0)
        cf = cf + model.params.content_weight * _row_max_normalise(near)
    pop = model.popularity / max(float(model.popularity.max()), 1e-12)
    scores = cf + (model.params.pop_weight + 1e-3) * pop[None, :]
    if repeat and model.params.repeat_weight > 0:
        scores = scores + model.params.repeat_weight * _row_max_normalise(
            repeat_scores(model, history)
        )
    return scores


def repeat_scores(model: Model, history: sp.csr_matrix) -> npt.NDArray[np.float64]:
    """The repeat-purchase component before scaling: n ** a x (item rebuy rate + 0.01) ** g
    for the customer's decayed order count n of each item (0 for items never bought)."""
    p = model.params
    own = np.asarray(history.toarray(), dtype=np.float64)
    if p.repeat_count_exponent != 1.0:
        own = np.power(own, p.repeat_count_exponent)
    if p.repeat_item_gamma > 0:
        own = own * np.power(model.item_rebuy + 0.01, p.repeat_item_gamma)
    return own


def together_scores(model: Model, queries: sp.csr_matrix) -> npt.NDArray[np.float64]:
    """Dense scores per basket (rows of `queries`, binary items) x items; query items -inf.

    Basket EASE, plus (weighted) the association and the for-you weights, each scaled to
    its row maximum.
    """
    p = model.params
    s = _row_max_normalise(np.asarray((queries @ model.basket_sim).toarray(), dtype=np.float64))
    pair = np.asarray((queries @ model.assoc).toarray(), dtype=np.float64)
    if p.together_cf_weight > 0:
        pair = pair + p.together_cf_weight * np.asarray(
            (queries @ model.sim).toarray(), dtype=np.float64
        )
    s = s + p.together_assoc_weight * _row_max_normalise(pair)
    pop = model.popularity / max(float(model.popularity.max()), 1e-12)
    s = s + 1e-6 * pop[None, :]
    q = queries.tocoo()
    s[q.row, q.col] = -np.inf
    return s


# --- artifact payload: one .npz of arrays (never pickle) -----------------------------------


def _put(arrays: dict[str, Any], name: str, m: sp.csr_matrix) -> None:
    m = m.tocsr()
    arrays[f"{name}_data"] = m.data.astype(np.float32)
    arrays[f"{name}_indices"] = m.indices.astype(np.int32)
    arrays[f"{name}_indptr"] = m.indptr.astype(np.int64)
    arrays[f"{name}_shape"] = np.asarray(m.shape, dtype=np.int64)


def _get(z: Any, name: str) -> sp.csr_matrix:
    shape = tuple(int(v) for v in z[f"{name}_shape"])
    return sp.csr_matrix(
        (z[f"{name}_data"], z[f"{name}_indices"], z[f"{name}_indptr"]), shape=shape
    )


def dumps(model: Model) -> bytes:
    arrays: dict[str, Any] = {
        "item_ids": model.item_ids,
        "popularity": model.popularity,
        "item_repeat": model.item_repeat,
        "item_rebuy": model.item_rebuy,
        "trending": model.trending,
        "countries": np.asarray(model.countries, dtype=np.str_),
        "trained_until": np.asarray([model.trained_until]),
        "method": np.asarray([model.method], dtype=np.str_),
        "item_category": model.item_category,
        "categories": np.asarray(model.categories, dtype=np.str_),
        "category_repeat": model.category_repeat,
        "item_price": model.item_price,
        "item_currency": model.item_currency,
        "currencies": np.asarray(model.currencies, dtype=np.str_),
        "item_family": model.item_family,
        "vocab": np.asarray(model.vocab, dtype=np.str_),
        "idf": model.idf,
    }
    for name in ("sim", "assoc", "basket_sim", "support", "trending_country", "content"):
        _put(arrays, name, getattr(model, name))
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def loads(payload: bytes, params: dict[str, Any]) -> Model:
    with np.load(io.BytesIO(payload), allow_pickle=False) as z:
        return Model(
            item_ids=z["item_ids"].astype(np.int64),
            sim=_get(z, "sim"),
            assoc=_get(z, "assoc"),
            basket_sim=_get(z, "basket_sim"),
            support=_get(z, "support"),
            popularity=z["popularity"].astype(np.float64),
            item_repeat=z["item_repeat"].astype(np.float64),
            # versions stored before the rebuy rate scored repeats with the repeat rate
            item_rebuy=z["item_rebuy" if "item_rebuy" in z else "item_repeat"].astype(np.float64),
            trending=z["trending"].astype(np.float64),
            trending_country=_get(z, "trending_country"),
            countries=[str(c) for c in z["countries"]],
            trained_until=float(z["trained_until"][0]),
            method=str(z["method"][0]),
            item_category=z["item_category"].astype(np.int64),
            categories=[str(c) for c in z["categories"]],
            category_repeat=z["category_repeat"].astype(np.float64),
            item_price=z["item_price"].astype(np.float64),
            item_currency=z["item_currency"].astype(np.int64),
            currencies=[str(c) for c in z["currencies"]],
            item_family=z["item_family"].astype(np.int64),
            content=_get(z, "content"),
            vocab=[str(c) for c in z["vocab"]],
            idf=z["idf"].astype(np.float64),
            params=Params(**{k: v for k, v in params.items() if k in Params.__slots__}),
        )
