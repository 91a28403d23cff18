"""Customer profiles, identities, merges and the timeline, as the API and other domains see them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from patron.core.ids import normalize_email, normalize_phone


class IdentityKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    EXTERNAL = "external"  # an id in a source system (shopify, woocommerce, pos, userId)
    ANONYMOUS = "anonymous"
    DEVICE = "device"


# Stronger kinds decide which profile wins a merge and which key an event is attributed by.
KIND_STRENGTH = {
    IdentityKind.EXTERNAL: 4,
    IdentityKind.EMAIL: 3,
    IdentityKind.PHONE: 2,
    IdentityKind.DEVICE: 1,
    IdentityKind.ANONYMOUS: 0,
}
# A person has at most one of these per source: two profiles holding different values of
# one of them are two people, and a shared weaker key does not merge them.
EXCLUSIVE_KINDS = {IdentityKind.EXTERNAL, IdentityKind.EMAIL}


@dataclass(frozen=True, slots=True)
class IdentityKey:
    kind: IdentityKind
    value: str
    source: str = ""

    @staticmethod
    def of(kind: IdentityKind, value: str, source: str = "") -> IdentityKey:
        if kind is IdentityKind.EMAIL:
            value = normalize_email(value)
        elif kind is IdentityKind.PHONE:
            value = normalize_phone(value)
        else:
            value = value.strip()
        return IdentityKey(kind, value, source if kind is IdentityKind.EXTERNAL else "")


@dataclass(slots=True)
class ResolveRequest:
    """One profile to find or create from its identifiers (an event, an order, a row)."""

    keys: list[IdentityKey]
    traits: dict[str, Any] = field(default_factory=dict)
    source_id: int | None = None
    seen_at: datetime | None = None
    channel: str | None = None


class ExternalIdIn(BaseModel):
    source: str = Field(min_length=1, max_length=64)
    id: str = Field(min_length=1, max_length=320)


class _ProfileFields(BaseModel):
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    birthday: date | None = None
    gender: str | None = Field(default=None, max_length=32)
    locale: str | None = Field(default=None, max_length=16)
    timezone: str | None = Field(default=None, max_length=64)
    country: str | None = Field(default=None, min_length=2, max_length=2)
    city: str | None = Field(default=None, max_length=200)

    @field_validator("country")
    @classmethod
    def _upper_country(cls, v: str | None) -> str | None:
        return v.upper() if v else v


class CustomerCreate(_ProfileFields):
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)
    tags: list[str] = Field(default_factory=list)
    properties: dict[str, Any] = Field(default_factory=dict)
    external_ids: list[ExternalIdIn] = Field(default_factory=list)
    source: str | None = Field(default=None, max_length=64)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = normalize_email(v)
        local, _, domain = v.partition("@")
        if not local or "." not in domain:
            raise ValueError("is not a valid email address")
        return v

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = normalize_phone(v)
        if len(v.lstrip("+")) < 5:
            raise ValueError("is not a valid phone number")
        return v


class CustomerUpdate(CustomerCreate):
    """Patch: fields left out stay; `properties` keys set to null are removed; `tags` replace."""

    tags: list[str] | None = None  # type: ignore[assignment]
    properties: dict[str, Any] | None = None  # type: ignore[assignment]


class IdentityRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: IdentityKind
    source: str
    value: str
    created_at: datetime


class CustomerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    is_anonymous: bool
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    birthday: date | None
    gender: str | None
    locale: str | None
    timezone: str | None
    country: str | None
    city: str | None
    tags: list[str]
    properties: dict[str, Any]
    source_id: int | None
    created_at: datetime
    updated_at: datetime
    last_seen_at: datetime | None
    orders_count: int
    total_spent: int
    first_order_at: datetime | None
    last_order_at: datetime | None
    channels: list[str]

    @property
    def aov(self) -> int:
        return self.total_spent // self.orders_count if self.orders_count else 0


class CustomerStats(BaseModel):
    """Derived stats, computed by the orders domain and stored on the profile."""

    customer_id: int
    orders_count: int
    total_spent: int
    first_order_at: datetime | None
    last_order_at: datetime | None
    channels: list[str]


class MergeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    winner_id: int
    loser_id: int
    reason: str
    evidence: dict[str, Any]
    created_at: datetime
    undone_at: datetime | None


class TimelineKind(StrEnum):
    EVENT = "event"
    ORDER = "order"
    REFUND = "refund"
    CANCELLATION = "cancellation"
    MERGE = "merge"
    UNMERGE = "unmerge"
    PROFILE = "profile"
    MESSAGE = "message"
    SEGMENT = "segment"
    PREDICTION = "prediction"


@dataclass(slots=True)
class TimelineEntryIn:
    customer_id: int
    occurred_at: datetime
    kind: TimelineKind
    title: str
    channel: str | None = None
    ref_type: str | None = None
    ref_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


class TimelineEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    occurred_at: datetime
    kind: str
    channel: str | None
    title: str
    ref_type: str | None
    ref_id: int | None
    data: dict[str, Any]


class TimelinePage(BaseModel):
    items: list[TimelineEntryRead]
    next_cursor: str | None


class CustomerPage(BaseModel):
    items: list[CustomerRead]
    next_cursor: str | None


class Customer360(CustomerRead):
    aov_minor: int
    currency: str
    identities: list[IdentityRead]
    merges: list[MergeRead]
    timeline: TimelinePage
    # Sections registered by higher layers (ProfileExtension, wired in patron.wiring).
    predictions: dict[str, Any] | None = Field(
        default=None,
        description="the customer's latest scores (predictive: CLV, churn risk, next order);"
        " null until scored",
    )


class CustomerSort(StrEnum):
    """Columns the customer list can be sorted by (`browse`): each has an (x, id) index."""

    CREATED = "created"
    NAME = "name"  # last name
    EMAIL = "email"
    ORDERS = "orders"
    SPENT = "spent"
    LAST_ORDER = "last_order"


class CustomerBrowsePage(BaseModel):
    """One page of `browse`: cursors to the pages after and before it (None at either end)."""

    items: list[CustomerRead]
    next_cursor: str | None
    prev_cursor: str | None
