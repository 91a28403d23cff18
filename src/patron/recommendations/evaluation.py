"""Offline evaluation on a time split: the protocol `patron recommendations evaluate` and the
benchmark share (ADR 0012).

Split: train = interactions before `train_end`, test = purchases on or after it. Items a
model can know are those with a training interaction; test purchases of other items are
left out (no method can rank them). Tasks:

- "new_items": users who bought in both periods; truth = items bought in test that the user
  did not buy in train; items bought in train are removed from the list before ranking.
- "repeat_allowed": the same users; truth = every item bought in test; nothing removed.
- "bought_together": every test basket (order) with at least 2 known items; one item,
  drawn with a fixed seed, is held out; the rest is the query; truth = the held-out item.

Metrics at each k: recall (hits / |truth|), precision (hits / k), NDCG (binary gain,
ideal = min(|truth|, k) hits on top), hit rate (at least one hit) averaged over users or
baskets, and catalog coverage (distinct items recommended to anyone / known items).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from patron.recommendations import algorithms as alg
from patron.recommendations import scoring
from patron.recommendations.dataset import Dataset, IntArray

KS = (10, 20)
TASKS = ("new_items", "repeat_allowed", "bought_together")
BATCH = 512
UserScorer = Callable[[IntArray], npt.NDArray[np.float64]]
BasketScorer = Callable[[sp.csr_matrix], npt.NDArray[np.float64]]


@dataclass(slots=True)
class Split:
    train: Dataset
    known: npt.NDArray[np.bool_]  # items with a training interaction
    users: IntArray  # evaluated users (bought in train and in test)
    seen: sp.csr_matrix  # users (all) x items: bought in train (binary)
    truth_all: list[IntArray]  # per evaluated user
    truth_new: list[IntArray]
    queries: sp.csr_matrix  # test baskets x items (binary, held-out item removed)
    held_out: IntArray  # per query basket


def make_split(data: Dataset, train_end: float, *, seed: int = 0) -> Split:
    train = data.window(None, train_end)
    test = data.window(train_end, None)
    known = np.zeros(data.n_items, dtype=bool)
    known[train.p_item] = True
    known[train.v_item] = True
    seen = sp.csr_matrix(
        (np.ones(len(train.p_user)), (train.p_user, train.p_item)),
        shape=(data.n_users, data.n_items),
    )
    seen.sum_duplicates()
    seen.data[:] = 1.0
    ok = known[test.p_item]
    tu, ti = test.p_user[ok], test.p_item[ok]
    buyers = np.unique(train.p_user)
    users_all = np.intersect1d(np.unique(tu), buyers)
    order = np.lexsort((ti, tu))
    tu, ti = tu[order], ti[order]
    starts = np.searchsorted(tu, users_all, side="left")
    ends = np.searchsorted(tu, users_all, side="right")
    truth_all = [np.unique(ti[a:b]) for a, b in zip(starts, ends, strict=True)]
    truth_new = []
    for u, t in zip(users_all.tolist(), truth_all, strict=True):
        own = seen.indices[seen.indptr[u] : seen.indptr[u + 1]]
        truth_new.append(np.setdiff1d(t, own, assume_unique=True))
    # bought together: baskets in test with >= 2 distinct known items
    tb = test.p_basket[ok]
    bi = test.p_item[ok]
    pairs = np.unique(np.stack([tb, bi], axis=1), axis=0) if len(tb) else np.zeros((0, 2), int)
    b_keys, b_start, b_count = np.unique(pairs[:, 0], return_index=True, return_counts=True)
    multi = b_count >= 2
    rng = np.random.default_rng(seed)
    rows: list[int] = []
    cols: list[int] = []
    held: list[int] = []
    for q, (a, c) in enumerate(zip(b_start[multi], b_count[multi], strict=True)):
        items = pairs[a : a + c, 1]
        h = int(rng.integers(c))
        held.append(int(items[h]))
        rest = np.delete(items, h)
        rows.extend([q] * len(rest))
        cols.extend(rest.tolist())
    nq = len(held)
    queries = sp.csr_matrix(
        (np.ones(len(rows)), (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))),
        shape=(nq, data.n_items),
    )
    _ = b_keys
    return Split(
        train=train,
        known=known,
        users=users_all.astype(np.int64),
        seen=seen,
        truth_all=truth_all,
        truth_new=truth_new,
        queries=queries,
        held_out=np.asarray(held, dtype=np.int64),
    )


class _Acc:
    """Accumulates per-list metrics at every k."""

    def __init__(self, n_items: int, ks: Sequence[int]) -> None:
        self.ks = tuple(ks)
        self.sums = {k: np.zeros(4) for k in self.ks}  # recall, precision, ndcg, hit
        self.items = {k: np.zeros(n_items, dtype=bool) for k in self.ks}
        self.n = 0
        self.disc = 1.0 / np.log2(np.arange(2, max(self.ks) + 2))

    def add(self, ranked: IntArray, truth: IntArray) -> None:
        if len(truth) == 0:
            return
        self.n += 1
        rel = np.isin(ranked, truth)
        for k in self.ks:
            r = rel[:k]
            hits = float(r.sum())
            dcg = float((r * self.disc[: len(r)]).sum())
            idcg = float(self.disc[: min(len(truth), k)].sum())
            self.sums[k] += (hits / len(truth), hits / k, dcg / idcg, float(hits > 0))
            self.items[k][ranked[:k]] = True

    def result(self, n_known: int) -> dict[str, float | int]:
        out: dict[str, float | int] = {"lists": self.n}
        for k in self.ks:
            s = self.sums[k] / max(self.n, 1)
            out[f"recall@{k}"] = round(float(s[0]), 4)
            out[f"precision@{k}"] = round(float(s[1]), 4)
            out[f"ndcg@{k}"] = round(float(s[2]), 4)
            out[f"hit_rate@{k}"] = round(float(s[3]), 4)
            out[f"coverage@{k}"] = round(float(self.items[k].sum()) / max(n_known, 1), 4)
        return out


def _top(scores: npt.NDArray[np.float64], k: int) -> IntArray:
    k = min(k, scores.shape[1])
    idx = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, idx, axis=1), axis=1, kind="stable")
    return np.asarray(np.take_along_axis(idx, order, axis=1), dtype=np.int64)


def evaluate_users(
    split: Split, scorer: UserScorer, *, task: str, ks: Sequence[int] = KS
) -> dict[str, float | int]:
    """Metrics of one user scorer on "new_items" or "repeat_allowed"."""
    acc = _Acc(len(split.known), ks)
    kmax = max(ks)
    truths = split.truth_new if task == "new_items" else split.truth_all
    for a in range(0, len(split.users), BATCH):
        users = split.users[a : a + BATCH]
        s = np.array(scorer(users), dtype=np.float64)
        s[:, ~split.known] = -np.inf
        if task == "new_items":
            seen = split.seen[users].tocoo()
            s[seen.row, seen.col] = -np.inf
        for row, ranked in enumerate(_top(s, kmax)):
            ok = np.isfinite(s[row, ranked])
            acc.add(ranked[ok], truths[a + row])
    return acc.result(int(split.known.sum()))


def evaluate_baskets(
    split: Split, scorer: BasketScorer, *, ks: Sequence[int] = KS
) -> dict[str, float | int]:
    """Metrics of one basket scorer on "bought_together" (query items never count)."""
    acc = _Acc(len(split.known), ks)
    kmax = max(ks)
    for a in range(0, split.queries.shape[0], BATCH):
        q = split.queries[a : a + BATCH]
        s = np.array(scorer(q), dtype=np.float64)
        s[:, ~split.known] = -np.inf
        qc = q.tocoo()
        s[qc.row, qc.col] = -np.inf
        for row, ranked in enumerate(_top(s, kmax)):
            ok = np.isfinite(s[row, ranked])
            acc.add(ranked[ok], split.held_out[a + row : a + row + 1])
    return acc.result(int(split.known.sum()))


# --- the built-in methods ------------------------------------------------------------------


def popularity_scorer(split: Split) -> UserScorer:
    pop = alg.popularity(split.train, now=split.train.last_time, half_life_days=np.inf)

    def score(users: IntArray) -> npt.NDArray[np.float64]:
        return np.tile(pop, (len(users), 1))

    return score


def history_popularity_scorer(split: Split) -> UserScorer:
    """The customer's own purchase counts first, then popularity (the repeat reference)."""
    pop = alg.popularity(split.train, now=split.train.last_time, half_life_days=np.inf)
    pop = pop / max(float(pop.max()), 1e-12)
    h = alg.user_item(split.train, now=split.train.last_time, half_life_days=np.inf,
                      view_weight=0.0)  # fmt: skip

    def score(users: IntArray) -> npt.NDArray[np.float64]:
        return np.asarray(h[users].toarray(), dtype=np.float64) + pop[None, :]

    return score


def item_knn_scorer(split: Split, *, top_k: int = 200) -> UserScorer:
    x = alg.binarize(alg.user_item(split.train, now=split.train.last_time,
                                   half_life_days=np.inf, view_weight=0.0))  # fmt: skip
    sim = alg.fit_cosine(x, top_k=top_k)

    def score(users: IntArray) -> npt.NDArray[np.float64]:
        return np.asarray((x[users] @ sim).toarray(), dtype=np.float64)

    return score


def patron_scorer(split: Split, model: scoring.Model, *, repeat: bool) -> UserScorer:
    x, h = scoring.user_vectors(split.train, split.users, now=split.train.last_time,
                                params=model.params)  # fmt: skip
    pos = {int(u): i for i, u in enumerate(split.users)}

    def score(users: IntArray) -> npt.NDArray[np.float64]:
        rows = np.asarray([pos[int(u)] for u in users], dtype=np.int64)
        return scoring.for_you_scores(model, x[rows], h[rows], repeat=repeat)

    return score


def trending_scorer(model: scoring.Model) -> UserScorer:
    """The "trending" kind on its own: 14-day decayed popularity, the same for everyone."""

    def score(users: IntArray) -> npt.NDArray[np.float64]:
        return np.tile(model.trending, (len(users), 1))

    return score


def similar_scorer(split: Split, model: scoring.Model) -> UserScorer:
    """The "similar" kind on its own: content similarity to what the customer bought."""
    x, _ = scoring.user_vectors(split.train, split.users, now=split.train.last_time,
                                params=model.params)  # fmt: skip
    pos = {int(u): i for i, u in enumerate(split.users)}

    def score(users: IntArray) -> npt.NDArray[np.float64]:
        rows = np.asarray([pos[int(u)] for u in users], dtype=np.int64)
        profile = x[rows] @ model.content
        return np.asarray((profile @ model.content.T).toarray(), dtype=np.float64)

    return score


def popularity_basket_scorer(split: Split) -> BasketScorer:
    pop = alg.popularity(split.train, now=split.train.last_time, half_life_days=np.inf)

    def score(q: sp.csr_matrix) -> npt.NDArray[np.float64]:
        return np.tile(pop, (q.shape[0], 1))

    return score


def cosine_basket_scorer(split: Split) -> BasketScorer:
    """Plain cosine association over baskets, no minimum support (the reference)."""
    s, _ = alg.fit_association(alg.baskets(split.train), min_support=1, alpha=0.5, top_k=500)

    def score(q: sp.csr_matrix) -> npt.NDArray[np.float64]:
        return np.asarray((q @ s).toarray(), dtype=np.float64)

    return score


def patron_basket_scorer(model: scoring.Model) -> BasketScorer:
    def score(q: sp.csr_matrix) -> npt.NDArray[np.float64]:
        return scoring.together_scores(model, q)

    return score


def evaluate(
    data: Dataset,
    *,
    train_end: float,
    params: scoring.Params | None = None,
    ks: Sequence[int] = KS,
    seed: int = 0,
    extra_users: dict[str, Callable[[Split], UserScorer]] | None = None,
    extra_baskets: dict[str, Callable[[Split], BasketScorer]] | None = None,
    catalog: scoring.Catalog | None = None,
) -> dict[str, Any]:
    """Every built-in method (and `extra_*`, e.g. the bench's `implicit` ALS) on one split.

    "patron" is what "for you" and "bought together" serve; "trending" and "similar" are
    those kinds on their own (content needs `catalog`: titles, categories, brands).
    """
    split = make_split(data, train_end, seed=seed)
    started = time.perf_counter()
    model = scoring.fit(split.train, params, catalog)
    train_seconds = time.perf_counter() - started
    out: dict[str, Any] = {
        "train_end": train_end,
        "train": {
            "purchases": int(len(split.train.p_user)),
            "views": int(len(split.train.v_user)),
            "customers": int(len(np.unique(split.train.p_user))),
            "known_items": int(split.known.sum()),
        },
        "test": {"customers": int(len(split.users)), "baskets": int(split.queries.shape[0])},
        "patron": {
            "method": model.method,
            "params": model.params.as_dict(),
            "train_seconds": round(train_seconds, 3),
        },  # fmt: skip
        "tasks": {},
    }
    if len(split.users) == 0 and split.queries.shape[0] == 0:
        out["tasks"] = {t: {} for t in TASKS}
        return out
    users: dict[str, Callable[[Split], UserScorer]] = {
        "popularity": popularity_scorer,
        "item_knn": item_knn_scorer,
        **(extra_users or {}),
    }
    for task in ("new_items", "repeat_allowed"):
        res: dict[str, Any] = {}
        makers = dict(users)
        if task == "repeat_allowed":
            makers["history_popularity"] = history_popularity_scorer
        for name, make in makers.items():
            res[name] = evaluate_users(split, make(split), task=task, ks=ks)
        res["trending"] = evaluate_users(split, trending_scorer(model), task=task, ks=ks)
        res["similar"] = evaluate_users(split, similar_scorer(split, model), task=task, ks=ks)
        res["patron"] = evaluate_users(
            split, patron_scorer(split, model, repeat=task == "repeat_allowed"), task=task, ks=ks
        )
        out["tasks"][task] = res
    baskets: dict[str, Callable[[Split], BasketScorer]] = {
        "popularity": popularity_basket_scorer,
        "cosine": cosine_basket_scorer,
        **(extra_baskets or {}),
    }
    res = {name: evaluate_baskets(split, make(split), ks=ks) for name, make in baskets.items()}
    res["patron"] = evaluate_baskets(split, patron_basket_scorer(model), ks=ks)
    out["tasks"]["bought_together"] = res
    return out
