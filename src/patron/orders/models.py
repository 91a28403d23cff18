"""Orders with lines and refunds; carts and checkouts (for abandonment)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from patron.db import Base, BigId, Json, UTCDateTime


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_customer_placed", "customer_id", "placed_at"),
        Index("ix_orders_placed", "placed_at", "id"),
        Index("ix_orders_updated", "updated_at"),  # segments: incremental watermark
        # analytics: the KPI window is an index-only range scan (ADR 16)
        Index(
            "ix_orders_placed_kpi",
            "placed_at",
            "customer_id",
            "prev_placed_at",
            "base_total",
            "base_refunded_total",
            "status",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"))
    number: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))  # web, app, marketplace, pos, social
    # placed, paid, fulfilled, cancelled, refunded, partially_refunded
    status: Mapped[str] = mapped_column(String(20), default="placed")
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[int] = mapped_column(BigInteger, default=0)
    discount_total: Mapped[int] = mapped_column(BigInteger, default=0)
    shipping_total: Mapped[int] = mapped_column(BigInteger, default=0)
    tax_total: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_total: Mapped[int] = mapped_column(BigInteger, default=0)
    # total converted to the store's base currency at placement (for stats and KPIs).
    base_total: Mapped[int] = mapped_column(BigInteger, default=0)
    # refunded_total in the base currency: the same share of base_total (placement-day FX).
    base_refunded_total: Mapped[int] = mapped_column(BigInteger, default=0)
    coupon_codes: Mapped[list[str]] = mapped_column(Json, default=list)
    properties: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # placed_at of the same customer's previous counted order (by placed_at, then id); null
    # on a customer's first counted order and on cancelled orders. Kept by refresh_stats for
    # the customer's orders whenever they change; read by analytics KPIs (ADR 16).
    prev_placed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Digest of the last input this order was written from: a replay that matches is skipped.
    fingerprint: Mapped[str | None] = mapped_column(String(40))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OrderExternalId(Base):
    __tablename__ = "order_external_ids"
    __table_args__ = (UniqueConstraint("source_id", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    external_id: Mapped[str] = mapped_column(String(128))


class OrderLine(Base):
    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"), index=True)
    variant_id: Mapped[int | None] = mapped_column(ForeignKey("product_variants.id"))
    sku: Mapped[str | None] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(BigInteger)
    discount: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger)
    properties: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (UniqueConstraint("order_id", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(128))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str | None] = mapped_column(String(500))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    refunded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Cart(Base):
    """A cart or checkout. open -> checkout -> converted; abandonment is found by age."""

    __tablename__ = "carts"
    __table_args__ = (
        UniqueConstraint("source_id", "external_id"),
        Index("ix_carts_status_updated", "status", "updated_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"))
    external_id: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open")
    currency: Mapped[str | None] = mapped_column(String(3))
    value: Mapped[int] = mapped_column(BigInteger, default=0)
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    checkout_url: Mapped[str | None] = mapped_column(String(1000))
    converted_order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    checkout_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    converted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CartLine(Base):
    __tablename__ = "cart_lines"
    __table_args__ = (UniqueConstraint("cart_id", "item_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id"))
    item_key: Mapped[str] = mapped_column(String(128))  # product_id / sku from the event
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    sku: Mapped[str | None] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(500), default="")
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(BigInteger, default=0)


class OrderDayMark(Base):
    """A UTC placement day ('YYYY-MM-DD') whose counted orders may have changed: written by
    database triggers on `orders` (orders/day_marks.py), so every write path leaves one,
    and consumed by the analytics order-day summary's refresh (ADR 25)."""

    __tablename__ = "order_day_marks"
    __table_args__ = (Index("ix_order_day_marks_day", "day"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    day: Mapped[str] = mapped_column(String(10))
