"""Recommendations: the five kinds, training, evaluation and category rules. Public.

Every list is scored by the active model held in memory (`context.active_model`) and then
filtered by the business rules in `serving` (stock, status, cart, refunds, bought durables,
diversity), each item with a reason. Services flush; the caller commits.

The engine modules (context, scoring, serving, training, evaluation) are imported by the
functions that use them: they load SciPy (0.4 s), which a `patron` command that never
recommends should not wait for; a served process loads them before it starts (app.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from patron.artifacts import service as artifacts_service
from patron.core.errors import NotFound, ValidationError
from patron.core.time import utcnow
from patron.jobs import service as jobs_service
from patron.recommendations.models import CategoryRule as CategoryRuleRow
from patron.recommendations.schemas import (
    ARTIFACT_KIND,
    MAX_LIMIT,
    TRAIN_JOB,
    CategoryRule,
    Kind,
    ModelInfo,
    RecommendationList,
    RepeatPolicy,
    TrainResult,
)

if TYPE_CHECKING:
    from patron.recommendations import context, scoring

_list = list  # `list` is not a verb here, but keep the builtin safe


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"limit must be between 1 and {MAX_LIMIT}", field="limit")


def _policy(session: Session) -> Any:
    rules = dict(
        session.execute(sa.select(CategoryRuleRow.category_path, CategoryRuleRow.policy)).all()
    )
    lowered = {k.lower(): RepeatPolicy(v) for k, v in rules.items()}

    def lookup(path: str | None) -> RepeatPolicy | None:
        """The rule of the longest matching category prefix ("Food" covers "Food > Tea")."""
        if not path or not lowered:
            return None
        parts = [p.strip().lower() for p in path.split(">")]
        for n in range(len(parts), 0, -1):
            hit = lowered.get(" > ".join(parts[:n]))
            if hit is not None:
                return hit
        return None

    return lookup


def _run(
    session: Session,
    *,
    kind: Kind,
    model: scoring.Model,
    version: int,
    scored: tuple[Any, Any],
    limit: int,
    exclude: set[int],
    customer: context.Customer | None,
) -> RecommendationList:
    from patron.recommendations import context, serving

    scores, explain = scored
    rules = serving.Rules(exclude=exclude, customer=customer, policy=_policy(session))
    items, excluded = serving.ranked(
        model, np.asarray(scores, dtype=np.float64), rules, limit, explain,
        lambda ids: context.products(session, ids),
    )  # fmt: skip
    return RecommendationList(kind=kind, items=items, model_version=version, excluded=excluded)


def _customer(session: Session, customer_id: int | None, cart_id: int | None = None) -> Any:
    from patron.recommendations import context

    if customer_id is None:
        return None
    return context.customer(session, customer_id=customer_id, cart_id=cart_id)


def together(
    session: Session,
    *,
    product_ids: _list[int] | None = None,
    cart_id: int | None = None,
    customer_id: int | None = None,
    limit: int = 10,
) -> RecommendationList:
    """Frequently bought together with the given products, or with what is in a cart."""
    from patron.recommendations import context, serving

    _check_limit(limit)
    query = set(product_ids or [])
    if cart_id is not None:
        in_cart, owner = context.cart(session, cart_id=cart_id)
        query |= in_cart
        customer_id = customer_id if customer_id is not None else owner
    if not query:
        raise ValidationError("give product_ids or a cart_id with products", field="product_ids")
    for pid in query:
        context.product(session, pid)
    model, version = context.active_model(session)
    customer = _customer(session, customer_id, cart_id)
    return _run(session, kind=Kind.TOGETHER, model=model, version=version,
                scored=serving.together(model, query), limit=limit, exclude=query,
                customer=customer)  # fmt: skip


def for_you(
    session: Session, *, customer_id: int, cart_id: int | None = None, limit: int = 10
) -> RecommendationList:
    """Personalised next purchases: CF on purchases and views, plus consumables again."""
    from patron.recommendations import context, serving

    _check_limit(limit)
    customer = context.customer(session, customer_id=customer_id, cart_id=cart_id)
    model, version = context.active_model(session)
    return _run(session, kind=Kind.FOR_YOU, model=model, version=version,
                scored=serving.for_you(model, customer), limit=limit, exclude=set(),
                customer=customer)  # fmt: skip


def upsell(
    session: Session,
    *,
    product_id: int | None = None,
    customer_id: int | None = None,
    limit: int = 10,
) -> RecommendationList:
    """A higher tier of the same kind, for one product or for what a customer owns."""
    from patron.recommendations import context, serving

    _check_limit(limit)
    if product_id is None and customer_id is None:
        raise ValidationError("give product_id or customer_id", field="product_id")
    model, version = context.active_model(session)
    customer = _customer(session, customer_id)
    if product_id is not None:
        context.product(session, product_id)
        sources = {product_id}
    else:
        assert customer is not None
        recent = sorted(customer.bought, key=lambda b: -b[1])
        sources = {p for p, _, _ in recent[:20]}
    idx = [int(i) for i in context.index_of(model, sources)]
    return _run(session, kind=Kind.UPSELL, model=model, version=version,
                scored=serving.upsell(model, idx), limit=limit, exclude=sources,
                customer=customer)  # fmt: skip


def trending(
    session: Session,
    *,
    category: str | None = None,
    country: str | None = None,
    customer_id: int | None = None,
    limit: int = 10,
) -> RecommendationList:
    """Time-decayed popularity, optionally in one category (and its children) or country."""
    from patron.recommendations import context, serving

    _check_limit(limit)
    if country is not None and (len(country) != 2 or not country.isalpha()):
        raise ValidationError("country must be a 2-letter ISO code", field="country")
    model, version = context.active_model(session)
    customer = _customer(session, customer_id)
    scored = serving.trending(model, country=country.upper() if country else None,
                              category=category)  # fmt: skip
    return _run(session, kind=Kind.TRENDING, model=model, version=version, scored=scored,
                limit=limit, exclude=set(), customer=customer)  # fmt: skip


def similar(
    session: Session, *, product_id: int, customer_id: int | None = None, limit: int = 10
) -> RecommendationList:
    """Content-similar products (category, brand, title): works for brand-new products."""
    from patron.recommendations import context, serving

    _check_limit(limit)
    p = context.product(session, product_id)
    model, version = context.active_model(session)
    customer = _customer(session, customer_id)
    return _run(session, kind=Kind.SIMILAR, model=model, version=version,
                scored=serving.similar(model, p), limit=limit, exclude={product_id},
                customer=customer)  # fmt: skip


# --- training, models, evaluation ------------------------------------------------------------


def train(session: Session) -> TrainResult:
    """Train every kind on the loaded data now; the new version becomes active."""
    from patron.recommendations import training

    info = training.train(session)
    return TrainResult(version=info.version, card=info.card)


def request_training(session: Session) -> int | None:
    """Queue a training job (runs once the caller commits); None if one is already queued."""
    return jobs_service.enqueue(session, kind=TRAIN_JOB, payload={}, dedupe_key=TRAIN_JOB)


def models(session: Session) -> _list[ModelInfo]:
    return [
        ModelInfo(
            version=a.version,
            created_at=a.created_at,
            card=a.card,
            size_bytes=a.size_bytes,
            active=a.active,
        )  # fmt: skip
        for a in artifacts_service.list_versions(session, kind=ARTIFACT_KIND)
    ]


def activate(session: Session, *, version: int) -> ModelInfo:
    """Roll back (or forward) to a stored version."""
    a = artifacts_service.activate_version(session, kind=ARTIFACT_KIND, version=version)
    return ModelInfo(version=a.version, created_at=a.created_at, card=a.card,
                     size_bytes=a.size_bytes, active=a.active)  # fmt: skip


def evaluate(session: Session, *, train_end: datetime) -> dict[str, Any]:
    """Every method on a time split of the loaded data (protocol: `evaluation` module)."""
    from patron.recommendations import evaluation, training

    data, cat = training.load(session)
    if len(data.p_user) == 0:
        raise ValidationError("there are no purchases to evaluate on", field="train_end")
    first, last = float(data.p_time.min()), float(data.p_time.max())
    t = train_end.timestamp()
    if not first < t <= last:
        a, b = (datetime.fromtimestamp(v, UTC).date() for v in (first, last))
        raise ValidationError(
            f"train_end must fall inside the purchase history ({a} .. {b})", field="train_end"
        )
    report = evaluation.evaluate(data, train_end=t, catalog=cat)
    report["train_end"] = train_end.isoformat()
    return report


# --- category rules --------------------------------------------------------------------------


def list_category_rules(session: Session) -> _list[CategoryRule]:
    rows = session.execute(
        sa.select(CategoryRuleRow.category_path, CategoryRuleRow.policy).order_by(
            CategoryRuleRow.category_path
        )
    ).all()
    return [CategoryRule(category_path=p, policy=RepeatPolicy(v)) for p, v in rows]


def set_category_rule(session: Session, *, rule: CategoryRule) -> CategoryRule:
    path = " > ".join(p.strip() for p in rule.category_path.split(">") if p.strip())
    if not path:
        raise ValidationError("category_path must not be empty", field="category_path")
    row = session.get(CategoryRuleRow, path)
    if row is None:
        session.add(CategoryRuleRow(category_path=path, policy=rule.policy.value,
                                    updated_at=utcnow()))  # fmt: skip
    else:
        row.policy = rule.policy.value
        row.updated_at = utcnow()
    session.flush()
    return CategoryRule(category_path=path, policy=rule.policy)


def delete_category_rule(session: Session, *, category_path: str) -> None:
    row = session.get(CategoryRuleRow, category_path)
    if row is None:
        raise NotFound(f"no rule for category {category_path!r}", field="category_path")
    session.delete(row)
    session.flush()
