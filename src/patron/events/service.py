"""Tracking events: ingestion, dedupe by messageId, identity, projection."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from patron.customers.service import MergeHook

# Merge hook for events (customers.identity.MergeHook), wired in patron.wiring.
MERGE_HOOKS: list[MergeHook] = []


@dataclass(slots=True)
class IngestResult:
    accepted: int = 0  # new events stored
    duplicates: int = 0  # messageIds already seen: nothing applied
    customer_ids: list[int] = field(default_factory=list)


def ingest(
    session: Session,
    *,
    messages: Sequence[dict[str, Any]],
    source_id: int,
    received_at: datetime,
) -> IngestResult:
    """Store Segment-spec messages exactly once by (source, messageId), resolve identities,
    write the timeline and project e-commerce events into catalog, carts and orders."""
    raise NotImplementedError
