"""Profiles, the identity graph, merges (with undo) and the timeline."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from patron.db import Base, BigId, Json, UTCDateTime


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        # (column, id): lookups, and the sorted, keyset-paginated list (browse.py).
        Index("ix_customers_email", "email", "id"),
        Index("ix_customers_phone", "phone"),
        Index("ix_customers_last_name", "last_name", "id"),
        Index("ix_customers_created", "created_at", "id"),
        Index("ix_customers_last_order", "last_order_at", "id"),
        Index("ix_customers_orders", "orders_count", "id"),
        Index("ix_customers_spent", "total_spent", "id"),
        # Segments: incremental watermark and time-based "new customer" conditions.
        Index("ix_customers_updated", "updated_at"),
        Index("ix_customers_first_order", "first_order_at"),
        # The tag filter (`tags @> '["vip"]'`) on PostgreSQL; SQLite keeps no such index
        # (a partial index over no rows: nothing to write).
        Index(
            "ix_customers_tags",
            "tags",
            postgresql_using="gin",
            postgresql_ops={"tags": "jsonb_path_ops"},
            sqlite_where=text("0"),
        ),
        # Search: name prefixes (LIKE 'Prefix%' on PostgreSQL, a range on SQLite; browse.py).
        Index(
            "ix_customers_first_name",
            "first_name",
            postgresql_ops={"first_name": "text_pattern_ops"},
        ),
        Index(
            "ix_customers_last_name_prefix",
            "last_name",
            postgresql_ops={"last_name": "text_pattern_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    is_anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    birthday: Mapped[date | None] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(String(32))
    locale: Mapped[str | None] = mapped_column(String(16))
    timezone: Mapped[str | None] = mapped_column(String(64))
    country: Mapped[str | None] = mapped_column(String(2))
    city: Mapped[str | None] = mapped_column(String(200))
    tags: Mapped[list[str]] = mapped_column(Json, default=list)
    properties: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Derived stats, kept current by the orders domain (base currency, minor units).
    orders_count: Mapped[int] = mapped_column(Integer, default=0)
    total_spent: Mapped[int] = mapped_column(BigInteger, default=0)
    first_order_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_order_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    channels: Mapped[list[str]] = mapped_column(Json, default=list)
    # Set when this profile was merged into another; the row stays so the merge can be undone.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)


class Identity(Base):
    """One identifier of a customer. `source` is '' for global kinds (email, phone, anonymous)."""

    __tablename__ = "customer_identities"
    __table_args__ = (
        UniqueConstraint("kind", "source", "value"),
        # Search: an external id of any source, an email prefix, a phone (browse.py).
        Index(
            "ix_customer_identities_value", "value", postgresql_ops={"value": "text_pattern_ops"}
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # email, phone, external, anonymous, device
    source: Mapped[str] = mapped_column(String(64), default="")
    value: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Merge(Base):
    """Evidence of a merge and what moved, so that it can be undone exactly."""

    __tablename__ = "customer_merges"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    winner_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    loser_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    reason: Mapped[str] = mapped_column(String(64))
    evidence: Mapped[dict[str, Any]] = mapped_column(Json)
    moved: Mapped[dict[str, Any]] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TimelineEntry(Base):
    """One thing on a customer's timeline: an event, an order, a merge, (later) a message."""

    __tablename__ = "timeline_entries"
    __table_args__ = (Index("ix_timeline_customer_time", "customer_id", "occurred_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(32))  # event, order, refund, merge, unmerge, ...
    channel: Mapped[str | None] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    ref_type: Mapped[str | None] = mapped_column(String(32))
    ref_id: Mapped[int | None] = mapped_column(BigInteger)
    data: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
