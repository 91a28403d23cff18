"""Event shapes as other domains and the API see them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict


class MessageType(StrEnum):
    TRACK = "track"
    IDENTIFY = "identify"
    PAGE = "page"
    SCREEN = "screen"
    GROUP = "group"
    ALIAS = "alias"


@dataclass(slots=True)
class IngestResult:
    accepted: int = 0  # new events stored
    duplicates: int = 0  # messageIds already seen: nothing applied
    customer_ids: list[int] = field(default_factory=list)


@dataclass(slots=True)
class InboxResult:
    """One pass of the inbox poller."""

    batches: int = 0  # requests taken (processed, or failed and kept)
    messages: int = 0  # messages of the requests processed
    accepted: int = 0  # new events stored
    duplicates: int = 0  # messageIds already seen
    failed: int = 0  # requests that failed and stay (to retry, or dead)
    dead: int = 0  # of which dead now


class InboxStats(BaseModel):
    """What waits in the tracking API's inbox (ADR 20)."""

    queued_batches: int
    queued_messages: int
    dead_batches: int
    dead_messages: int
    oldest_queued_at: datetime | None
    lag_seconds: float | None  # how long the oldest queued request has waited


class EventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    source_id: int
    message_id: str
    type: MessageType
    name: str | None
    customer_id: int | None
    anonymous_id: str | None
    user_id: str | None
    channel: str | None
    timestamp: datetime
    original_timestamp: datetime | None
    sent_at: datetime | None
    received_at: datetime
    properties: dict[str, Any]
    traits: dict[str, Any]
    context: dict[str, Any]


class EventPage(BaseModel):
    items: list[EventRead]
    next_cursor: str | None
