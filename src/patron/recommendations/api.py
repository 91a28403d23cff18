"""Recommendations over HTTP.

Lists need recommendations:read (owner, marketer, analyst); support may read "for you" of a
customer (recommendations:customer) to suggest products in a conversation. Training,
rolling back a model and category rules need recommendations:train (owner, analyst).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from patron.auth.guards import Reader, Writer, require
from patron.auth.schemas import Permission, Principal
from patron.core.errors import ValidationError
from patron.recommendations import service
from patron.recommendations.schemas import (
    MAX_LIMIT,
    CategoryRule,
    ModelInfo,
    RecommendationList,
)

router = APIRouter(prefix="/api/recommendations", tags=["recommendations"])
CanRead = Annotated[Principal, Depends(require(Permission.RECOMMENDATIONS_READ))]
CanReadCustomer = Annotated[Principal, Depends(require(Permission.RECOMMENDATIONS_CUSTOMER))]
CanTrain = Annotated[Principal, Depends(require(Permission.RECOMMENDATIONS_TRAIN))]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


def _ids(text: str | None) -> list[int]:
    if not text:
        return []
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValidationError(
            "product_ids must be comma-separated integers", field="product_ids"
        ) from None


@router.get("/together", response_model=RecommendationList)
def together(
    session: Reader,
    _: CanRead,
    product_ids: str | None = Query(default=None, description="comma-separated product ids"),
    cart_id: int | None = None,
    customer_id: int | None = None,
    limit: Limit = 10,
) -> RecommendationList:
    return service.together(session, product_ids=_ids(product_ids), cart_id=cart_id,
                            customer_id=customer_id, limit=limit)  # fmt: skip


@router.get("/for-you/{customer_id}", response_model=RecommendationList)
def for_you(
    customer_id: int,
    session: Reader,
    _: CanReadCustomer,
    cart_id: int | None = None,
    limit: Limit = 10,
) -> RecommendationList:
    return service.for_you(session, customer_id=customer_id, cart_id=cart_id, limit=limit)


@router.get("/upsell", response_model=RecommendationList)
def upsell(
    session: Reader,
    _: CanRead,
    product_id: int | None = None,
    customer_id: int | None = None,
    limit: Limit = 10,
) -> RecommendationList:
    return service.upsell(session, product_id=product_id, customer_id=customer_id, limit=limit)


@router.get("/trending", response_model=RecommendationList)
def trending(
    session: Reader,
    _: CanRead,
    category: str | None = Query(default=None, max_length=500),
    country: str | None = Query(default=None, max_length=2),
    customer_id: int | None = None,
    limit: Limit = 10,
) -> RecommendationList:
    return service.trending(session, category=category, country=country,
                            customer_id=customer_id, limit=limit)  # fmt: skip


@router.get("/similar/{product_id}", response_model=RecommendationList)
def similar(
    product_id: int,
    session: Reader,
    _: CanRead,
    customer_id: int | None = None,
    limit: Limit = 10,
) -> RecommendationList:
    return service.similar(session, product_id=product_id, customer_id=customer_id, limit=limit)


@router.post("/train", status_code=202)
def train(session: Writer, _: CanTrain) -> dict[str, int | None]:
    """Queue a training job (the worker runs it); `job_id` None: one is already queued."""
    return {"job_id": service.request_training(session)}


@router.get("/models", response_model=list[ModelInfo])
def models(session: Reader, _: CanRead) -> list[ModelInfo]:
    return service.models(session)


@router.post("/models/{version}/activate", response_model=ModelInfo)
def activate(version: int, session: Writer, _: CanTrain) -> ModelInfo:
    return service.activate(session, version=version)


@router.get("/category-rules", response_model=list[CategoryRule])
def list_rules(session: Reader, _: CanRead) -> list[CategoryRule]:
    return service.list_category_rules(session)


@router.put("/category-rules", response_model=CategoryRule)
def set_rule(body: CategoryRule, session: Writer, _: CanTrain) -> CategoryRule:
    return service.set_category_rule(session, rule=body)


@router.delete("/category-rules", status_code=204)
def delete_rule(
    session: Writer, _: CanTrain, category_path: str = Query(min_length=1, max_length=500)
) -> None:
    service.delete_category_rule(session, category_path=category_path)
