"""Recommendation shapes other domains (API, email blocks, flows) see."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

ARTIFACT_KIND = "recommendations"
TRAIN_JOB = "recommendations.train"
TRAIN_SCHEDULE = "recommendations.nightly"
MAX_LIMIT = 50


class Kind(StrEnum):
    TOGETHER = "together"
    FOR_YOU = "for_you"
    UPSELL = "upsell"
    TRENDING = "trending"
    SIMILAR = "similar"


class ReasonCode(StrEnum):
    BOUGHT_WITH = "bought_with"  # frequently bought together with a product of the query
    CUSTOMERS_ALSO = "customers_also"  # customers who bought/viewed X also bought this
    BUY_AGAIN = "buy_again"  # the customer buys this consumable regularly
    UPGRADE = "upgrade"  # a higher tier of a product in the query
    TRENDING = "trending"  # popular lately (in a category or a country)
    SIMILAR = "similar"  # same category / brand / title words
    POPULAR = "popular"  # fallback: popular with everyone


class RepeatPolicy(StrEnum):
    """May a customer be recommended a product of this category again after buying it?"""

    DURABLE = "durable"  # no: one is enough (a sofa)
    CONSUMABLE = "consumable"  # yes: bought again (coffee, gift wrap)


class RecommendedItem(BaseModel):
    product_id: int
    title: str
    sku: str | None
    category_path: str | None
    brand: str | None
    price: int | None
    currency: str | None
    score: float
    reason_code: ReasonCode
    reason: str  # for the UI: "bought with Red Mug", "popular in Kitchen"
    because_of: int | None = None  # the product the reason names


class RecommendationList(BaseModel):
    kind: Kind
    items: list[RecommendedItem]
    model_version: int | None  # None: no model trained yet (popularity from the database)
    excluded: dict[str, int] = Field(default_factory=dict)  # rule -> candidates it removed


class CategoryRule(BaseModel):
    category_path: str = Field(min_length=1, max_length=500)
    policy: RepeatPolicy


class ModelInfo(BaseModel):
    version: int
    created_at: datetime
    card: dict[str, Any]
    size_bytes: int
    active: bool


class TrainResult(BaseModel):
    version: int
    card: dict[str, Any]
