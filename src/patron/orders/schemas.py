"""Order and cart shapes as other domains see them.

`OrderIn`, `RefundIn`, `CartIn` are the bulk inputs of `orders.service.upsert_orders`,
`add_refunds` and `upsert_carts`: slotted dataclasses, validated by whichever edge builds
them (API pydantic models, the importers, the event projection, the webhooks). Money is
integer minor units of the order's `currency`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from patron.catalog.schemas import ProductRef
from patron.customers.schemas import IdentityKey
from patron.store.schemas import Channel


class OrderStatus(StrEnum):
    PLACED = "placed"
    PAID = "paid"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"


class CartStatus(StrEnum):
    OPEN = "open"
    CHECKOUT = "checkout"  # checkout started
    CONVERTED = "converted"  # became an order
    ABANDONED = "abandoned"  # set by the abandonment job (later issues)


@dataclass(slots=True)
class CustomerRefIn:
    """Who placed the order: identifiers resolved through the identity graph.

    A guest checkout whose email is already known lands on the existing profile.
    `customer_id` short-cuts resolution when the caller has already resolved it.
    """

    keys: list[IdentityKey] = field(default_factory=list)
    traits: dict[str, Any] = field(default_factory=dict)
    customer_id: int | None = None


@dataclass(slots=True)
class OrderLineIn:
    product: ProductRef
    quantity: int
    unit_price: int
    discount: int = 0  # line discount, minor units, total for the line
    variant_external_id: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RefundIn:
    external_id: str
    amount: int
    refunded_at: datetime
    reason: str | None = None
    # [{"sku" | "product_external_id": ..., "quantity": n, "amount": minor}]
    lines: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class OrderIn:
    """One order from one source, matched by (source, external_id): upserts are idempotent.

    `total` None means subtotal - discount + shipping + tax. `status` None keeps the stored
    status (or `placed` for a new order).
    """

    external_id: str
    placed_at: datetime
    currency: str
    customer: CustomerRefIn
    lines: list[OrderLineIn] = field(default_factory=list)
    channel: str = "web"
    number: str | None = None
    status: OrderStatus | None = None
    discount_total: int = 0
    shipping_total: int = 0
    tax_total: int = 0
    total: int | None = None
    coupon_codes: list[str] = field(default_factory=list)
    cancelled_at: datetime | None = None
    refunds: list[RefundIn] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    # The same order as another source knows it, [(source_id, external_id)]: an order first
    # seen there gains this source's external id instead of becoming a second order.
    same_as: list[tuple[int, str]] = field(default_factory=list)


@dataclass(slots=True)
class CartLineIn:
    product: ProductRef
    quantity: int
    unit_price: int = 0


@dataclass(slots=True)
class CartIn:
    """A cart or checkout, matched by (source, external_id) (Segment's cart_id/checkout_id)."""

    external_id: str
    customer: CustomerRefIn
    updated_at: datetime
    channel: str = "web"
    currency: str | None = None
    status: CartStatus | None = None
    lines: list[CartLineIn] | None = None  # None: leave lines as they are
    value: int | None = None
    checkout_url: str | None = None


@dataclass(slots=True)
class CartItemChangeIn:
    """One item added to (quantity > 0) or removed from (quantity < 0) a cart, as the
    Segment "Product Added" / "Product Removed" events report them."""

    cart_external_id: str
    customer: CustomerRefIn
    product: ProductRef
    quantity: int
    at: datetime
    unit_price: int = 0
    currency: str | None = None
    channel: str = "web"


@dataclass(slots=True)
class UpsertSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    ids: list[int] = field(default_factory=list)  # in input order


class OrderLineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    product_id: int | None
    variant_id: int | None
    sku: str | None
    title: str
    quantity: int
    unit_price: int
    discount: int
    total: int
    properties: dict[str, Any]


class RefundRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    external_id: str
    amount: int
    currency: str
    reason: str | None
    lines: list[dict[str, Any]]
    refunded_at: datetime


class OrderRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int | None
    source_id: int | None
    number: str | None
    channel: str
    status: OrderStatus
    currency: str
    subtotal: int
    discount_total: int
    shipping_total: int
    tax_total: int
    total: int
    refunded_total: int
    base_total: int
    coupon_codes: list[str]
    properties: dict[str, Any]
    placed_at: datetime
    cancelled_at: datetime | None
    created_at: datetime
    updated_at: datetime
    external_ids: list[dict[str, Any]] = []
    lines: list[OrderLineRead] = []
    refunds: list[RefundRead] = []


class OrderPage(BaseModel):
    items: list[OrderRead]
    next_cursor: str | None


class CartLineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    product_id: int | None
    sku: str | None
    title: str
    quantity: int
    unit_price: int


class CartRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int | None
    source_id: int | None
    external_id: str
    channel: str
    status: CartStatus
    currency: str | None
    value: int
    item_count: int
    checkout_url: str | None
    converted_order_id: int | None
    created_at: datetime
    updated_at: datetime
    checkout_started_at: datetime | None
    converted_at: datetime | None
    lines: list[CartLineRead] = []


# --- API request bodies (validated here, converted to the dataclasses above) -------------


class CustomerBody(BaseModel):
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)
    external_id: str | None = Field(default=None, min_length=1, max_length=320)
    customer_id: int | None = None
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    locale: str | None = Field(default=None, max_length=16)
    country: str | None = Field(default=None, min_length=2, max_length=2)
    city: str | None = Field(default=None, max_length=200)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v is None:
            return None
        local, _, domain = v.strip().partition("@")
        if not local or "." not in domain:
            raise ValueError("is not a valid email address")
        return v.strip().lower()


class LineBody(BaseModel):
    sku: str | None = Field(default=None, min_length=1, max_length=128)
    product_external_id: str | None = Field(default=None, min_length=1, max_length=128)
    title: str | None = Field(default=None, max_length=500)
    quantity: int = Field(gt=0)
    unit_price: int = Field(ge=0, description="minor units of the order currency")
    discount: int = Field(default=0, ge=0)
    properties: dict[str, Any] = Field(default_factory=dict)


class RefundCreate(BaseModel):
    external_id: str | None = Field(default=None, min_length=1, max_length=128)
    amount: int = Field(gt=0, description="minor units of the order currency")
    reason: str | None = Field(default=None, max_length=500)
    refunded_at: datetime | None = None
    lines: list[dict[str, Any]] = Field(default_factory=list)


class OrderCreate(BaseModel):
    source: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    external_id: str = Field(min_length=1, max_length=128)
    number: str | None = Field(default=None, max_length=64)
    channel: Channel = Channel.WEB
    status: OrderStatus | None = None
    currency: str = Field(min_length=3, max_length=3)
    placed_at: datetime | None = None
    customer: CustomerBody
    lines: list[LineBody] = Field(min_length=1)
    discount_total: int = Field(default=0, ge=0)
    shipping_total: int = Field(default=0, ge=0)
    tax_total: int = Field(default=0, ge=0)
    total: int | None = Field(default=None, ge=0)
    coupon_codes: list[str] = Field(default_factory=list)
    properties: dict[str, Any] = Field(default_factory=dict)


class OrderUpdate(BaseModel):
    """PATCH: `status`; `properties` keys set to null are removed."""

    status: OrderStatus | None = None
    properties: dict[str, Any] | None = None


class CancelBody(BaseModel):
    cancelled_at: datetime | None = None


class CartPage(BaseModel):
    items: list[CartRead]
    next_cursor: str | None
