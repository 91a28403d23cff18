"""Each kind: score with the in-memory model, then apply the business rules and give reasons.

Rules on every list (counts of what each removed are returned in `excluded`):
inactive (status not active), out_of_stock (stock 0), in_cart, refunded (the customer
returned it), already_bought (durable categories only; consumables may be bought again),
query (the products the list is about), diversity (at most `max_per_family` products of one
family, e.g. the colours of one design).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from patron.recommendations import algorithms as alg
from patron.recommendations import scoring
from patron.recommendations.context import Customer, Product, index_of, now_for
from patron.recommendations.dataset import Dataset
from patron.recommendations.schemas import ReasonCode, RecommendedItem, RepeatPolicy

MAX_PER_FAMILY = 2
UPSELL_MIN_STEP = 1.2  # a higher band: at least 20 % dearer ...
UPSELL_MAX_STEP = 4.0  # ... and not a different class of product
Scores = npt.NDArray[np.float64]


@dataclass(slots=True)
class Candidate:
    index: int
    score: float
    code: ReasonCode
    because: int | None = None  # model index of the product the reason names
    detail: str = ""


Explain = Callable[[int, float], Candidate]


@dataclass(slots=True)
class Rules:
    exclude: set[int] = field(default_factory=set)  # product ids of the query itself
    customer: Customer | None = None
    policy: Callable[[str | None], RepeatPolicy | None] = lambda _: None
    max_per_family: int = MAX_PER_FAMILY


def repeat_policy(
    model: scoring.Model, index: int, rules: Callable[[str | None], RepeatPolicy | None]
) -> RepeatPolicy:
    """The store's rule for the item's category, else what the data says."""
    c = int(model.item_category[index])
    path = model.categories[c] if c >= 0 else None
    chosen = rules(path)
    if chosen is not None:
        return chosen
    rate = model.category_repeat[c] if c >= 0 else model.item_repeat[index]
    consumable = rate >= model.params.consumable_repeat_rate
    return RepeatPolicy.CONSUMABLE if consumable else RepeatPolicy.DURABLE


def ranked(
    model: scoring.Model,
    scores: Scores,
    rules: Rules,
    limit: int,
    explain: Callable[[int, float], Candidate],
    fetch: Callable[[list[int]], dict[int, Product]],
) -> tuple[list[RecommendedItem], dict[str, int]]:
    """Walk the scores best first, drop what the rules forbid, explain what is kept."""
    excluded: dict[str, int] = {}
    order = np.argsort(-scores, kind="stable")
    order = order[np.isfinite(scores[order]) & (scores[order] > 0)]
    c = rules.customer
    bought = c.bought_ids if c else set()
    kept: list[tuple[Product, Candidate]] = []
    per_family: dict[int, int] = {}
    step = max(limit * 4, 40)
    for start in range(0, len(order), step):
        chunk = order[start : start + step]
        ids = [int(model.item_ids[i]) for i in chunk]
        fresh = fetch(ids)
        for i, pid in zip(chunk.tolist(), ids, strict=True):
            why = _excluded(model, i, pid, fresh.get(pid), rules, c, bought)
            if why is None:
                fam = int(model.item_family[i])
                if per_family.get(fam, 0) >= rules.max_per_family:
                    why = "diversity"
                else:
                    per_family[fam] = per_family.get(fam, 0) + 1
            if why is not None:
                excluded[why] = excluded.get(why, 0) + 1
                continue
            kept.append((fresh[pid], explain(i, float(scores[i]))))
            if len(kept) >= limit:
                return _items(model, kept, fetch), excluded
    return _items(model, kept, fetch), excluded


def _excluded(
    model: scoring.Model,
    i: int,
    pid: int,
    p: Product | None,
    rules: Rules,
    c: Customer | None,
    bought: set[int],
) -> str | None:
    if pid in rules.exclude:
        return "query"
    if p is None or p.status != "active":
        return "inactive"
    if p.stock is not None and p.stock <= 0:
        return "out_of_stock"
    if c is None:
        return None
    if pid in c.in_cart:
        return "in_cart"
    if pid in c.refunded:
        return "refunded"
    if pid in bought and repeat_policy(model, i, rules.policy) is RepeatPolicy.DURABLE:
        return "already_bought"
    return None


def _items(
    model: scoring.Model,
    kept: list[tuple[Product, Candidate]],
    fetch: Callable[[list[int]], dict[int, Product]],
) -> list[RecommendedItem]:
    """The response items; the products the reasons name are read in one query."""
    named = sorted({int(model.item_ids[c.because]) for _, c in kept if c.because is not None})
    titles = {pid: p.title for pid, p in fetch(named).items()} if named else {}
    out = []
    for p, cand in kept:
        because = None if cand.because is None else int(model.item_ids[cand.because])
        name = "" if because is None else titles.get(because, f"product {because}")
        out.append(
            RecommendedItem(
                product_id=p.id,
                title=p.title,
                sku=p.sku,
                category_path=p.category_path,
                brand=p.brand,
                price=p.price,
                currency=p.currency,
                score=round(cand.score, 6),
                reason_code=cand.code,
                reason=_reason(cand, name),
                because_of=because,
            )
        )
    return out


def _reason(c: Candidate, name: str) -> str:
    match c.code:
        case ReasonCode.BOUGHT_WITH:
            return f"bought with {name}" + (f" ({c.detail})" if c.detail else "")
        case ReasonCode.CUSTOMERS_ALSO if c.detail == "viewed":
            return f"because you viewed {name}"
        case ReasonCode.CUSTOMERS_ALSO:
            return f"customers who bought {name} also bought this"
        case ReasonCode.BUY_AGAIN:
            return "you buy this again" + (f" ({c.detail})" if c.detail else "")
        case ReasonCode.UPGRADE:
            return f"a step up from {name}"
        case ReasonCode.SIMILAR:
            return f"similar to {name or c.detail}"
        case ReasonCode.TRENDING:
            return f"popular in {c.detail}" if c.detail else "trending now"
        case _:
            return "popular now"


def _best(model: scoring.Model, which: str, j: int, weights: dict[int, float]) -> tuple[int, float]:
    """The query item i with the largest m[i, j] * weight (the reason's "X"), and that value."""
    rows, vals = model.column(which, j)
    best, top = -1, 0.0
    for i, v in zip(rows.tolist(), vals.tolist(), strict=True):
        w = weights.get(i)
        if w is not None and v * w > top:
            best, top = i, v * w
    return best, top


# --- the kinds -----------------------------------------------------------------------------


def together(model: scoring.Model, query: set[int]) -> tuple[Scores, Explain]:
    q_idx = index_of(model, query)
    q = sp.csr_matrix(
        (np.ones(len(q_idx)), (np.zeros(len(q_idx), dtype=np.int64), q_idx)),
        shape=(1, model.n_items),
    )
    scores = scoring.together_scores(model, q)[0]
    # only items with a co-purchase signal: no popularity filler in "bought together"
    signal = np.asarray((q @ model.assoc + q @ model.sim + q @ model.basket_sim).toarray()).ravel()
    scores[~np.isfinite(scores) | (signal <= 0)] = 0.0

    ones = {int(i): 1.0 for i in q_idx}

    def explain(j: int, s: float) -> Candidate:
        src, n = _best(model, "support", j, ones)
        if n >= model.params.min_support:
            return Candidate(j, s, ReasonCode.BOUGHT_WITH, src, f"{int(n)} orders")
        for which in ("basket", "sim"):
            src, w = _best(model, which, j, ones)
            if w > 0:
                return Candidate(j, s, ReasonCode.CUSTOMERS_ALSO, src)
        return Candidate(j, s, ReasonCode.POPULAR)

    return scores, explain


def _customer_rows(model: scoring.Model, c: Customer) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """The customer's CF input and own history rows, as in training (scoring.user_vectors)."""
    bought = [(int(k), t, o) for (p, t, o) in c.bought for k in index_of(model, {p})]
    viewed = [(int(k), t) for (p, t) in c.viewed for k in index_of(model, {p})]
    empty = np.zeros(0, dtype=np.int64)
    data = Dataset(
        user_ids=np.zeros(1, dtype=np.int64),
        item_ids=model.item_ids,
        p_user=np.zeros(len(bought), dtype=np.int64),
        p_item=np.asarray([b[0] for b in bought], dtype=np.int64) if bought else empty,
        p_basket=np.asarray([b[2] for b in bought], dtype=np.int64) if bought else empty,
        p_time=np.asarray([b[1] for b in bought], dtype=np.float64),
        p_quantity=np.ones(len(bought)),
        v_user=np.zeros(len(viewed), dtype=np.int64),
        v_item=np.asarray([v[0] for v in viewed], dtype=np.int64) if viewed else empty,
        v_time=np.asarray([v[1] for v in viewed], dtype=np.float64),
    )
    return scoring.user_vectors(data, np.zeros(1, dtype=np.int64), now=now_for(model, c),
                                params=model.params)  # fmt: skip


def for_you(model: scoring.Model, c: Customer) -> tuple[Scores, Explain]:
    x, h = _customer_rows(model, c)
    if x.nnz == 0:
        return trending(model, country=c.country, category=None)
    scores = scoring.for_you_scores(model, x, h, repeat=True)[0]
    weights = dict(zip(x.indices.tolist(), x.data.tolist(), strict=True))
    hist = set(h.indices.tolist())
    orders: dict[int, set[int]] = {}  # the orders holding each item (as the history counts)
    for p, _, o in c.bought:
        for k in index_of(model, {p}).tolist():
            orders.setdefault(k, set()).add(o)
    counts = {k: len(v) for k, v in orders.items()}

    def explain(j: int, s: float) -> Candidate:
        if j in hist:
            n = counts.get(j, 0)
            return Candidate(j, s, ReasonCode.BUY_AGAIN, None,
                             f"bought {n} times" if n > 1 else "bought before")  # fmt: skip
        src, w = _best(model, "sim", j, weights)
        if w > 0:
            return Candidate(
                j, s, ReasonCode.CUSTOMERS_ALSO, src, "" if src in counts else "viewed"
            )
        return Candidate(j, s, ReasonCode.POPULAR)

    return scores, explain


def trending(
    model: scoring.Model, *, country: str | None, category: str | None
) -> tuple[Scores, Explain]:
    where = ""
    scores = model.trending.copy()
    if country and country in model.countries:
        row = model.countries.index(country)
        scores = np.asarray(model.trending_country[row].toarray()).ravel().astype(np.float64)
        where = country
    if category:
        scores = scores * _in_category(model, category)
        where = category if not where else f"{category} in {where}"

    def explain(j: int, s: float) -> Candidate:
        return Candidate(j, s, ReasonCode.TRENDING, None, where)

    return scores, explain


def _in_category(model: scoring.Model, category: str) -> npt.NDArray[np.float64]:
    want = category.strip().lower()
    ok = np.asarray(
        [c.lower() == want or c.lower().startswith(want + " > ") for c in model.categories],
        dtype=bool,
    )
    mask = np.zeros(model.n_items)
    has = model.item_category >= 0
    mask[has] = ok[model.item_category[has]] if len(ok) else 0.0
    return mask


def similar(model: scoring.Model, p: Product) -> tuple[Scores, Explain]:
    idx = index_of(model, {p.id})
    if len(idx):
        v = model.content[int(idx[0])]
        src: int | None = int(idx[0])
    else:  # a product newer than the model: its content vector from the catalog row
        v = alg.content_vector(alg.tokens(p.title, p.category_path, p.brand),
                               model.vocab, model.idf)  # fmt: skip
        src = None
    scores = np.asarray((v @ model.content.T).toarray()).ravel().astype(np.float64)
    # ties between equally similar items: the more popular first
    pop = model.popularity / max(float(model.popularity.max(initial=0.0)), 1e-12)
    scores = np.where(scores > 0, scores + 1e-3 * pop, 0.0)
    name_src = src

    def explain(j: int, s: float) -> Candidate:
        return Candidate(j, s, ReasonCode.SIMILAR, name_src, p.title)

    return scores, explain


def upsell(model: scoring.Model, sources: list[int]) -> tuple[Scores, Explain]:
    """Higher tier of the same kind: same category and currency, a title word in common (the
    kind: "mug"), 1.2x to 4x the price, bought before (ranked by decayed popularity and
    content closeness); for several source products, the best source per item."""
    n = model.n_items
    best = np.zeros(n)
    origin = np.full(n, -1, dtype=np.int64)
    pop = model.popularity
    is_word = np.asarray([not t.startswith(("c:", "b:")) for t in model.vocab], dtype=bool)
    words = model.content[:, np.flatnonzero(is_word)].tocsr()
    for i in sources:
        cat, price = int(model.item_category[i]), float(model.item_price[i])
        if cat < 0 or not np.isfinite(price) or price <= 0:
            continue
        same = (model.item_category == cat) & (model.item_currency == model.item_currency[i])
        band = (model.item_price >= price * UPSELL_MIN_STEP) & (
            model.item_price <= price * UPSELL_MAX_STEP
        )
        ok = same & band & (pop > 0)
        if not ok.any():
            continue
        close = np.asarray((model.content[i] @ model.content.T).toarray()).ravel()
        kind = np.asarray((words[i] @ words.T).toarray()).ravel() > 0  # a shared title word
        s = np.where(ok & kind, np.log1p(pop) * (0.5 + close), 0.0)
        better = s > best
        best[better] = s[better]
        origin[better] = i

    def explain(j: int, s: float) -> Candidate:
        return Candidate(j, s, ReasonCode.UPGRADE, int(origin[j]) if origin[j] >= 0 else None)

    return best, explain
