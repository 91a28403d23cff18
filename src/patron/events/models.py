"""Tracking events as received (Segment-compatible), exactly once by messageId."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from patron.db import SPOOL_METADATA, Base, BigId, Json, UTCDateTime


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("source_id", "message_id"),
        Index("ix_events_customer_time", "customer_id", "timestamp"),
        Index("ix_events_name_time", "name", "timestamp"),
        # Incremental readers (segments, stored sessions) follow when a row was stored: the
        # worker applies a request after it was received (ADR 20), seconds or more later.
        Index("ix_events_stored", "stored_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    message_id: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(16))  # track, identify, page, screen, group, alias
    name: Mapped[str | None] = mapped_column(String(200))  # event name, page/screen name
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    anonymous_id: Mapped[str | None] = mapped_column(String(128))
    user_id: Mapped[str | None] = mapped_column(String(128))
    channel: Mapped[str | None] = mapped_column(String(16))
    # `timestamp` is skew-corrected: receivedAt - (sentAt - originalTimestamp).
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    original_timestamp: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when the worker applied it
    properties: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    traits: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    context: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)


class InboxBatch(Base):
    """A tracking request accepted and not yet processed (ADR 20): the gateway validates it,
    stores its body here and answers; the worker's inbox poller turns bodies into events,
    identities, timeline entries and commerce records, and deletes the row in the same
    transaction. A body that fails `max` times is kept as dead, with its error."""

    __tablename__ = "event_inbox"
    __table_args__ = (Index("ix_event_inbox_status", "status", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # None for /v1/batch (the body is {"batch": [...], "sentAt": ...}); else the single call
    kind: Mapped[str | None] = mapped_column(String(16))
    body: Mapped[bytes] = mapped_column(LargeBinary)  # JSON, as received (gzip undone)
    messages: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(8), default="queued")  # queued | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


# The same table in the spool's own database (a SQLite store's `-spool.db` file; see
# patron.db.SPOOL_METADATA), without the key to `sources`, which lives in the main file.
SPOOL_INBOX = Table(
    InboxBatch.__tablename__,
    SPOOL_METADATA,
    *(
        Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
        for c in InboxBatch.__table__.columns
    ),
    Index("ix_event_inbox_status", "status", "id"),
)
