"""Segments, their current members and the history of every entry and exit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from patron.db import Base, BigId, Json, UTCDateTime


class Segment(Base):
    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(String(1000), default="")
    kind: Mapped[str] = mapped_column(String(10))  # dynamic | static
    query: Mapped[str | None] = mapped_column(Text)  # dynamic segments only
    # Built-in lifecycle segments carry their key (new, repeat, ...); None for the store's own.
    builtin: Mapped[str | None] = mapped_column(String(32), unique=True)
    # Whether the query has relative-time bounds (-60d, within = 30d): checked every tick.
    time_based: Mapped[bool] = mapped_column(default=False)
    member_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Membership is exact as of `refreshed_at` (full or incremental; ADR 13).
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    full_refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SegmentMember(Base):
    """The current members. No foreign keys: ids come from the customers table itself (a
    refresh's member set, or a static list resolved against it), and the per-row key checks
    were a third of the cost of a segment's first population (ADR 13). segments.service
    deletes a segment's rows with it."""

    __tablename__ = "segment_members"
    __table_args__ = (Index("ix_segment_members_customer", "customer_id"),)

    segment_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SegmentHistory(Base):
    """One stay of a customer in a segment: entered_at, and exited_at once they left (no
    foreign keys, as for members)."""

    __tablename__ = "segment_history"
    __table_args__ = (
        Index("ix_segment_history_segment_customer", "segment_id", "customer_id", "exited_at"),
        Index("ix_segment_history_customer", "customer_id", "entered_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    segment_id: Mapped[int] = mapped_column(BigId)
    customer_id: Mapped[int] = mapped_column(BigId)
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    exited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # full | incremental | time | manual | import
    reason: Mapped[str] = mapped_column(String(16), default="full")


class SegmentSettings(Base):
    """Store-wide segment settings (lifecycle thresholds, tick interval): one JSON row."""

    __tablename__ = "segment_settings"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(Json)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
