"""The learning math, on NumPy / SciPy sparse matrices only (no database, no ORM).

Every model is an item-by-item weight matrix S (sparse, top-k per row) plus vectors:
scores for a user (or a cart) = x @ S, where x is the user's (or cart's) weighted item
vector. That one shape serves every kind in well under a millisecond and stores as a
sparse .npz artifact. See ADR 0012 for why these methods.

- `fit_ease`: EASE (Steck 2019), closed-form linear item-item model: B = I - P / diag(P),
  P = (X'X + lambda I)^-1. Used for "for you" (on time-decayed purchases plus views) when
  the catalog is small enough to invert its Gram matrix; `fit_cosine` (item-kNN) otherwise.
- `fit_association`: co-purchase association over baskets (orders) with a minimum support,
  scored with an asymmetric cosine c_ij / (c_i^a c_j^(1-a)): "frequently bought together".
- `popularity`: time-decayed purchase counts (trending, fallback, the baseline).
- `history`: a user's own time-decayed count of orders holding each item (the
  repeat-purchase component), weighted by `rebuy_rate`, the item's repurchase propensity.
"""

from __future__ import annotations

import bisect
import re
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.linalg import lapack

from patron.recommendations.dataset import DAY, Dataset, FloatArray, IntArray

EASE_MAX_ITEMS = 12_000  # a dense n x n inverse: 12k items = 0.6 GB float32; above, item-kNN
EASE_SMALL_CATALOG = 2_000  # up to this many items, every item enters EASE (cheap anyway)


def decay(times: FloatArray, now: float, half_life_days: float) -> FloatArray:
    """exp-decay weights: 1 at `now`, 0.5 one half-life earlier (inf = no decay)."""
    if not np.isfinite(half_life_days) or half_life_days <= 0:
        return np.ones(len(times))
    age = np.maximum(now - times, 0.0) / DAY
    return np.asarray(np.exp2(-age / half_life_days), dtype=np.float64)


def user_item(
    data: Dataset, *, now: float, half_life_days: float, view_weight: float
) -> sp.csr_matrix:
    """Users x items: time-decayed purchase occasions (one per order line) plus views.

    Quantities are ignored (a wholesaler's 48 units are one decision); a product bought in
    many orders counts each time, so `binarize` callers see repeat-purchase strength.
    """
    w = decay(data.p_time, now, half_life_days)
    rows, cols, vals = [data.p_user], [data.p_item], [w]
    if view_weight > 0 and len(data.v_user):
        rows.append(data.v_user)
        cols.append(data.v_item)
        vals.append(view_weight * decay(data.v_time, now, half_life_days))
    m = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(data.n_users, data.n_items),
        dtype=np.float64,
    )
    m.sum_duplicates()
    return m


def history(data: Dataset, *, now: float, half_life_days: float) -> sp.csr_matrix:
    """Users x items: time-decayed count of the orders holding the item (purchase occasions).

    Two lines of one product in one order are one occasion, so the count is how many
    times the customer decided to buy the item, what the repeat-purchase component needs.
    """
    if len(data.p_user) == 0:
        return sp.csr_matrix((data.n_users, data.n_items), dtype=np.float64)
    pair = data.p_user * data.n_items + data.p_item
    order = np.lexsort((data.p_basket, pair))
    p, b = pair[order], data.p_basket[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (p[1:] != p[:-1]) | (b[1:] != b[:-1])
    first = order[new]  # one line per (customer, item, order)
    w = decay(data.p_time[first], now, half_life_days)
    m = sp.csr_matrix(
        (w, (data.p_user[first], data.p_item[first])),
        shape=(data.n_users, data.n_items),
        dtype=np.float64,
    )
    m.sum_duplicates()
    return m


def binarize(m: sp.csr_matrix, cap: float = 1.0) -> sp.csr_matrix:
    out = m.copy()
    out.data = np.minimum(out.data, cap)
    return out


def top_k_rows(dense: npt.NDArray[np.floating[Any]], k: int) -> sp.csr_matrix:
    """Keep the k largest positive entries of each row (a sparse serving model)."""
    n, m = dense.shape
    k = min(k, m)
    if k <= 0:
        return sp.csr_matrix((n, m), dtype=np.float32)
    idx = np.argpartition(-dense, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(dense, idx, axis=1)
    keep = vals > 0
    rows = np.repeat(np.arange(n), k).reshape(n, k)[keep]
    out = sp.csr_matrix(
        (vals[keep].astype(np.float32), (rows, idx[keep])), shape=(n, m), dtype=np.float32
    )
    out.sort_indices()
    return out


def fit_ease(x: sp.csr_matrix, *, lam: float, top_k: int, min_users: int = 1) -> sp.csr_matrix:
    """EASE item-item weights from users x items `x` (binary or weighted).

    In catalogs over EASE_SMALL_CATALOG items, only items with at least `min_users` users
    enter the model (rarer ones cannot be learnt and only make the inverse bigger). The
    inverse is a float32 Cholesky (the Gram matrix plus lambda I is positive definite).
    """
    n = x.shape[1]
    users = np.diff(x.tocsc().indptr)
    floor = max(min_users, 1) if n > EASE_SMALL_CATALOG else 1
    keep = np.flatnonzero(users >= floor)
    if len(keep) == 0:
        return sp.csr_matrix((n, n), dtype=np.float32)
    xs = x[:, keep]
    g = np.asarray((xs.T @ xs).toarray(), dtype=np.float32)
    g[np.diag_indices(len(keep))] += np.float32(lam)
    c, info = lapack.spotrf(g, lower=1, overwrite_a=1)
    if info != 0:  # not positive definite in float32: fall back to a general inverse
        p = np.linalg.inv(np.asarray((xs.T @ xs).toarray()) + lam * np.eye(len(keep)))
    else:
        p, info = lapack.spotri(c, lower=1, overwrite_c=1)
        p = np.tril(p) + np.tril(p, -1).T
    b = p / (-np.diag(p))[None, :]  # float32: half the memory traffic of float64
    b[np.diag_indices(len(keep))] = 0.0
    small = top_k_rows(b, top_k).tocoo()
    out = sp.csr_matrix(
        (small.data, (keep[small.row], keep[small.col])), shape=(n, n), dtype=np.float32
    )
    out.sort_indices()
    return out


def fit_cosine(x: sp.csr_matrix, *, top_k: int, shrink: float = 10.0) -> sp.csr_matrix:
    """Item-kNN: cosine similarity between item columns, shrunk for rare items."""
    xc = x.tocsc()
    g = (xc.T @ xc).tocsr().astype(np.float64)
    norms = np.sqrt(np.asarray(xc.multiply(xc).sum(axis=0)).ravel())
    g = g.tocoo()
    denom = norms[g.row] * norms[g.col] + shrink
    vals = np.where(g.row == g.col, 0.0, g.data / np.maximum(denom, 1e-12))
    sim = sp.csr_matrix((vals, (g.row, g.col)), shape=g.shape)
    return _sparse_top_k(sim, top_k)


def _sparse_top_k(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    m = m.tocsr()
    m.eliminate_zeros()
    indptr, indices, data = m.indptr, m.indices, m.data
    rows: list[IntArray] = []
    cols: list[IntArray] = []
    vals: list[FloatArray] = []
    for r in range(m.shape[0]):
        a, b = indptr[r], indptr[r + 1]
        if a == b:
            continue
        d = data[a:b]
        c = indices[a:b]
        if b - a > k:
            sel = np.argpartition(-d, k - 1)[:k]
            d, c = d[sel], c[sel]
        pos = d > 0
        rows.append(np.full(int(pos.sum()), r, dtype=np.int64))
        cols.append(c[pos].astype(np.int64))
        vals.append(d[pos])
    if not rows:
        return sp.csr_matrix(m.shape, dtype=np.float32)
    out = sp.csr_matrix(
        (np.concatenate(vals).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))),
        shape=m.shape,
    )
    out.sort_indices()
    return out


def baskets(data: Dataset) -> sp.csr_matrix:
    """Baskets (orders) x items, 1 if the item is in the basket."""
    _, b = np.unique(data.p_basket, return_inverse=True)
    nb = int(b.max()) + 1 if len(b) else 0
    m = sp.csr_matrix(
        (np.ones(len(b)), (b, data.p_item)), shape=(nb, data.n_items), dtype=np.float64
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def fit_association(
    b: sp.csr_matrix, *, min_support: int, alpha: float, top_k: int
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """(scores, support): asymmetric-cosine association of items bought in one basket.

    support[i, j] = baskets holding both; pairs below `min_support` are dropped (one
    coincidence is not a pair). score[i, j] = c_ij / (c_i^alpha * c_j^(1-alpha)): alpha 0.5
    is cosine; alpha > 0.5 favours j that often accompany i even when j is popular.
    """
    bc = b.tocsc()
    c = (bc.T @ bc).tocoo()
    count = np.asarray(bc.sum(axis=0)).ravel()
    keep = (c.row != c.col) & (c.data >= min_support)
    r, q, v = c.row[keep], c.col[keep], c.data[keep]
    score = v / (np.power(count[r], alpha) * np.power(count[q], 1.0 - alpha))
    s = _sparse_top_k(sp.csr_matrix((score, (r, q)), shape=c.shape), top_k)
    support = sp.csr_matrix((v, (r, q)), shape=c.shape, dtype=np.float64)
    # support restricted to the kept top-k pairs, for reasons ("bought together 12 times")
    mask = s.copy()
    mask.data[:] = 1.0
    support = support.multiply(mask).tocsr().astype(np.float32)
    support.sort_indices()
    return s, support


def popularity(data: Dataset, *, now: float, half_life_days: float) -> FloatArray:
    """Time-decayed purchase occasions per item (distinct buyers weigh, not units)."""
    w = decay(data.p_time, now, half_life_days)
    return np.bincount(data.p_item, weights=w, minlength=data.n_items).astype(np.float64)


def popularity_by(
    data: Dataset, groups: IntArray, n_groups: int, *, now: float, half_life_days: float
) -> sp.csr_matrix:
    """groups x items decayed popularity, `groups` per purchase (-1 = none)."""
    w = decay(data.p_time, now, half_life_days)
    ok = groups >= 0
    m = sp.csr_matrix(
        (w[ok], (groups[ok], data.p_item[ok])), shape=(n_groups, data.n_items), dtype=np.float64
    )
    m.sum_duplicates()
    return m


# --- content (similar items, cold start) ---------------------------------------------------

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_TOKEN_WEIGHT = {"c:": 2.0, "b:": 1.0}  # a shared category counts double


def tokens(title: str | None, category: str | None, brand: str | None) -> list[str]:
    """Content tokens: title words, every category-path prefix, the brand."""
    out = [w for w in _WORD.findall((title or "").lower()) if len(w) > 1 and not w.isdigit()]
    if category:
        parts = [p.strip().lower() for p in category.split(">") if p.strip()]
        out += ["c:" + " > ".join(parts[: i + 1]) for i in range(len(parts))]
    if brand:
        out.append("b:" + brand.strip().lower())
    return sorted(set(out))


def content_matrix(docs: list[list[str]]) -> tuple[sp.csr_matrix, list[str], FloatArray]:
    """Items x vocabulary TF-IDF rows (binary tf, smooth idf), L2-normalised."""
    vocab = sorted({t for d in docs for t in d})
    index = {t: i for i, t in enumerate(vocab)}
    rows = np.repeat(np.arange(len(docs)), [len(d) for d in docs])
    cols = np.asarray([index[t] for d in docs for t in d], dtype=np.int64)
    tf = np.asarray([_TOKEN_WEIGHT.get(t[:2], 1.0) for d in docs for t in d])
    m = sp.csr_matrix((tf, (rows, cols)), shape=(len(docs), len(vocab)), dtype=np.float64)
    df = np.bincount(cols, minlength=len(vocab)).astype(np.float64)
    idf = np.log((1.0 + len(docs)) / (1.0 + df)) + 1.0
    return _l2_rows(m @ sp.diags(idf)), vocab, idf


def _l2_rows(m: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    return sp.csr_matrix(sp.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ m)


def content_vector(toks: list[str], vocab: list[str], idf: FloatArray) -> sp.csr_matrix:
    """One L2-normalised row for a product the model has not seen (cold start)."""
    pairs = [(i, _TOKEN_WEIGHT.get(t[:2], 1.0)) for t in toks if (i := _bisect(vocab, t)) >= 0]
    cols = np.asarray([i for i, _ in pairs], dtype=np.int64)
    w = np.asarray([w for _, w in pairs], dtype=np.float64)
    v = sp.csr_matrix(
        (w * idf[cols], (np.zeros(len(cols), dtype=np.int64), cols)), shape=(1, len(vocab))
    )
    return _l2_rows(v)


def _bisect(vocab: list[str], t: str) -> int:
    i = bisect.bisect_left(vocab, t)
    return i if i < len(vocab) and vocab[i] == t else -1


def rebuy_rate(data: Dataset, *, prior_weight: float) -> FloatArray:
    """Per item: of the buyers who ordered again after first buying it, the share who bought
    it again (in another order), shrunk toward the store-wide share by `prior_weight` buyers.

    Unlike `repeat_rate`, a buyer whose only order held the item had no chance to buy it
    again and is not counted: one-order customers do not make an item look "durable".
    """
    n = data.n_items
    if len(data.p_user) == 0:
        return np.zeros(n)
    nb = int(data.p_basket.max()) + 1
    orders, order_of = np.unique(data.p_user * nb + data.p_basket, return_inverse=True)
    order_of = order_of.ravel()
    placed = np.full(len(orders), np.inf)
    np.minimum.at(placed, order_of, data.p_time)  # an order's time: its first line's
    _, rank = np.unique(placed, return_inverse=True)  # times as integers, for one sort key
    rank = rank.ravel()
    span = int(rank.max()) + 2
    order_key = np.sort((orders // nb) * span + rank)
    pairs, pair_of = np.unique(data.p_user * n + data.p_item, return_inverse=True)
    pair_of = pair_of.ravel()
    first = np.full(len(pairs), np.iinfo(np.int64).max)
    np.minimum.at(first, pair_of, rank[order_of])
    in_orders = np.unique(pair_of * len(orders) + order_of) // len(orders)
    bought_in = np.bincount(in_orders, minlength=len(pairs))
    user, item = pairs // n, pairs % n
    # the buyer's orders at or after their first order with the item (that one included)
    after = np.searchsorted(order_key, user * span + span - 1, side="right") - np.searchsorted(
        order_key, user * span + first, side="left"
    )
    chance = np.bincount(item, weights=after >= 2, minlength=n)
    again = np.bincount(item, weights=bought_in >= 2, minlength=n)
    prior = float(again.sum() / chance.sum()) if chance.sum() > 0 else 0.0
    return np.asarray((again + prior_weight * prior) / np.maximum(chance + prior_weight, 1e-12))


def repeat_rate(data: Dataset, item_group: IntArray, n_groups: int) -> FloatArray:
    """Per group (category): share of (customer, item) pairs bought in 2+ different orders."""
    if len(data.p_user) == 0 or n_groups == 0:
        return np.zeros(n_groups)
    triples = np.unique(np.stack([data.p_user, data.p_item, data.p_basket], axis=1), axis=0)
    pairs, counts = np.unique(triples[:, :2], axis=0, return_counts=True)
    group = item_group[pairs[:, 1]]
    ok = group >= 0
    total = np.bincount(group[ok], minlength=n_groups).astype(np.float64)
    again = np.bincount(group[ok], weights=(counts[ok] >= 2), minlength=n_groups)
    return np.asarray(again / np.maximum(total, 1.0), dtype=np.float64)
