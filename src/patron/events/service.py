"""Tracking events: ingestion exactly once by messageId, identity, timeline, projection."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from patron.core.errors import ValidationError
from patron.core.pagination import clamp_limit, decode_cursor, encode_cursor
from patron.core.time import as_utc, utcnow
from patron.customers import service as customers_service
from patron.customers.schemas import (
    IdentityKey,
    IdentityKind,
    ResolveRequest,
    TimelineEntryIn,
    TimelineKind,
)
from patron.customers.service import MergeHook
from patron.db import insert_rows_with_ids, table_of
from patron.events import commerce, inbox
from patron.events.inbox import accept, parse_body, read_request, retry_dead
from patron.events.models import Event
from patron.events.normalize import Message, normalize
from patron.events.schemas import (
    EventPage,
    EventRead,
    InboxResult,
    InboxStats,
    IngestResult,
    MessageType,
)
from patron.store import service as store_service

__all__ = [
    "MERGE_HOOKS",
    "InboxResult",
    "IngestResult",
    "accept",
    "inbox_stats",
    "ingest",
    "list_events",
    "parse_body",
    "process_inbox",
    "read_request",
    "retry_dead",
]

_CHUNK = 500
_EVENT_COLUMNS = (
    "source_id", "message_id", "type", "name", "customer_id", "anonymous_id", "user_id",
    "channel", "timestamp", "original_timestamp", "sent_at", "received_at", "stored_at",
    "properties", "traits", "context",
)  # fmt: skip


def _chunks(items: list[Any], size: int = _CHUNK) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# A join with the array, not `= ANY(array)`: the planner probes the unique index once per id
# instead of comparing every id with every row of a table it has no statistics for yet.
_PG_EXISTING = sa.text(
    "SELECT e.message_id FROM unnest(CAST(:m AS text[])) AS m(id)"
    " JOIN events e ON e.source_id = :s AND e.message_id = m.id"
)


def _existing(session: Session, source_id: int, message_ids: list[str]) -> set[str]:
    if session.get_bind().dialect.name == "postgresql":  # one array parameter, one plan
        return set(session.scalars(_PG_EXISTING, {"s": source_id, "m": message_ids}))
    seen: set[str] = set()
    for chunk in _chunks(message_ids):
        seen.update(
            session.scalars(
                select(Event.message_id).where(
                    Event.source_id == source_id, Event.message_id.in_(chunk)
                )
            )
        )
    return seen


def _request(m: Message, where: str, source_key: str, source_id: int) -> ResolveRequest:
    keys: list[IdentityKey] = []
    if m.user_id:
        keys.append(IdentityKey.of(IdentityKind.EXTERNAL, m.user_id, source_key))
    if m.anonymous_id:
        keys.append(IdentityKey.of(IdentityKind.ANONYMOUS, m.anonymous_id))
    if m.type is MessageType.ALIAS and m.previous_id:
        keys.append(IdentityKey.of(IdentityKind.ANONYMOUS, m.previous_id))
    traits: dict[str, Any] = {}
    if m.traits and m.type in (MessageType.IDENTIFY, MessageType.TRACK, MessageType.PAGE,
                               MessageType.SCREEN):  # fmt: skip
        traits = customers_service.clean_traits(m.traits, prefix=f"{where}.traits")
        if traits.get("email"):
            keys.append(IdentityKey.of(IdentityKind.EMAIL, traits["email"]))
        if traits.get("phone"):
            keys.append(IdentityKey.of(IdentityKind.PHONE, traits["phone"]))
        if m.type is not MessageType.IDENTIFY:
            traits = {}  # context traits identify; only identify rewrites the profile
    return ResolveRequest(
        keys=keys, traits=traits, source_id=source_id, seen_at=m.timestamp, channel=m.channel
    )


def _title(m: Message) -> str:
    if m.type is MessageType.TRACK:
        return m.name or "Event"
    if m.type is MessageType.PAGE:
        what = m.name or m.properties.get("url") or m.properties.get("path") or ""
        return f"Viewed page {what}".strip()
    if m.type is MessageType.SCREEN:
        return f"Viewed screen {m.name or ''}".strip()
    if m.type is MessageType.IDENTIFY:
        return "Identified"
    if m.type is MessageType.GROUP:
        return f"Joined group {m.group_id or ''}".strip()
    return "Alias"


def ingest(
    session: Session,
    *,
    messages: Sequence[dict[str, Any]] | Sequence[Message],
    source_id: int,
    received_at: datetime,
) -> IngestResult:
    """Store Segment-spec messages exactly once by (source, messageId), resolve identities,
    write the timeline and project e-commerce events into catalog, carts and orders.

    `messages` are raw dicts (validated here) or already normalised Messages. A replayed
    batch, or a message repeated inside one batch, stores and applies nothing again.
    """
    received_at = as_utc(received_at)
    normalized = [
        m if isinstance(m, Message) else normalize(m, where=f"batch[{i}]", received_at=received_at)
        for i, m in enumerate(messages)
    ]
    first: dict[str, int] = {}
    for i, m in enumerate(normalized):
        first.setdefault(m.message_id, i)
    seen = _existing(session, source_id, list(first))
    fresh = [i for mid, i in first.items() if mid not in seen]
    result = IngestResult(duplicates=len(normalized) - len(fresh))
    if not fresh:
        return result
    source = store_service.get_source(session, source_id=source_id)
    requests = [_request(normalized[i], f"batch[{i}]", source.key, source_id) for i in fresh]
    customer_ids = customers_service.resolve_many(session, requests)
    channels = [normalized[i].channel or source.channel.value for i in fresh]
    stored_at = utcnow()
    rows = [
        (source_id, m.message_id, m.type.value, m.name, cid, m.anonymous_id, m.user_id, channel,
         m.timestamp, m.original_timestamp, m.sent_at, m.received_at, stored_at, m.properties,
         m.traits, m.context)
        for m, cid, channel in zip(
            (normalized[i] for i in fresh), customer_ids, channels, strict=True
        )
    ]  # fmt: skip
    # Straight through the driver (COPY on PostgreSQL) with ids taken first: a multi-row
    # INSERT ... ON CONFLICT ... RETURNING cost 4x as much. The messageIds were checked
    # above; one a concurrent writer stored since fails the transaction on the unique key,
    # and the boundary runs it again (`run_transaction`), which then finds it stored.
    event_ids = insert_rows_with_ids(session, table_of(Event), _EVENT_COLUMNS, rows)
    entries: list[TimelineEntryIn] = []
    projectable: list[commerce.CommerceEvent] = []
    for i, event_id, cid, channel in zip(fresh, event_ids, customer_ids, channels, strict=True):
        m = normalized[i]
        result.accepted += 1
        result.customer_ids.append(cid)
        if m.type is MessageType.TRACK and m.name in commerce.COMMERCE_EVENTS:
            projectable.append(commerce.CommerceEvent(
                name=m.name, properties=m.properties, customer_id=cid,
                at=m.timestamp, channel=channel, where=f"batch[{i}]",
            ))  # fmt: skip
        if m.name in commerce.TIMELINE_OWNED_EVENTS and m.type is MessageType.TRACK:
            continue
        data: dict[str, Any] = {"type": m.type.value}
        for key in ("url", "product_id", "sku", "category", "value", "currency", "query"):
            if key in m.properties and isinstance(m.properties[key], str | int | float):
                data[key] = m.properties[key]
        entries.append(TimelineEntryIn(
            customer_id=cid, occurred_at=m.timestamp, kind=TimelineKind.EVENT,
            title=_title(m), channel=channel, ref_type="event", ref_id=event_id, data=data,
        ))  # fmt: skip
    customers_service.add_timeline_entries(session, entries)
    if projectable:
        currency = store_service.cached_settings(session).base_currency
        commerce.project(session, events=projectable, source_id=source_id, currency=currency)
    session.flush()
    return result


def _ingest_normalized(session: Session, messages: list[Message], source_id: int) -> IngestResult:
    if not messages:
        return IngestResult()
    return ingest(
        session, messages=messages, source_id=source_id, received_at=messages[0].received_at
    )


INBOX_TAKE_MESSAGES = inbox.TAKE_MESSAGES


def process_inbox(session: Session, *, max_messages: int = inbox.TAKE_MESSAGES) -> InboxResult:
    """Turn the oldest accepted tracking requests into events, identities, timeline and
    commerce records, and delete them, in the caller's transaction (ADR 20)."""
    return inbox.process(session, ingest=_ingest_normalized, max_messages=max_messages)


def apply_inbox(session: Session, rows: Sequence[inbox.Taken]) -> inbox.Outcome:
    """Apply requests taken from a spool of its own (`inbox.take`); the caller settles them
    there after this transaction commits (ADR 20)."""
    return inbox.apply(session, rows, ingest=_ingest_normalized)


def inbox_stats(session: Session) -> InboxStats:
    return inbox.stats(session)


def list_events(
    session: Session,
    *,
    customer_id: int | None = None,
    name: str | None = None,
    type: MessageType | None = None,  # noqa: A002 - the field's name
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> EventPage:
    """Events newest first (by id), keyset-paginated."""
    limit = clamp_limit(limit)
    stmt = select(Event)
    if customer_id is not None:
        stmt = stmt.where(Event.customer_id == customer_id)
    if name:
        stmt = stmt.where(Event.name == name)
    if type is not None:
        stmt = stmt.where(Event.type == type.value)
    if since is not None:
        stmt = stmt.where(Event.timestamp >= since)
    if until is not None:
        stmt = stmt.where(Event.timestamp < until)
    if cursor:
        (last,) = decode_cursor(cursor, arity=1)
        if not isinstance(last, int):
            raise ValidationError("cursor is not valid", field="cursor")
        stmt = stmt.where(Event.id < last)
    rows = session.scalars(stmt.order_by(Event.id.desc()).limit(limit + 1)).all()
    items = [EventRead.model_validate(r) for r in rows[:limit]]
    return EventPage(
        items=items, next_cursor=encode_cursor([items[-1].id]) if len(rows) > limit else None
    )


class _EventsFollowCustomer:
    """Events follow a customer through a merge and back (customers' MergeHook port)."""

    name = "events"

    def move(self, session: Session, *, loser_id: int, winner_id: int) -> list[int]:
        return list(
            session.scalars(
                sa.update(Event)
                .where(Event.customer_id == loser_id)
                .values(customer_id=winner_id)
                .returning(Event.id)
                .execution_options(synchronize_session=False)
            )
        )

    def restore(self, session: Session, *, ids: list[int], loser_id: int) -> None:
        for chunk in _chunks(ids):
            session.execute(
                sa.update(Event)
                .where(Event.id.in_(chunk))
                .values(customer_id=loser_id)
                .execution_options(synchronize_session=False)
            )

    def refresh(self, session: Session, *, customer_ids: list[int]) -> None:
        """Nothing derived from events is stored on the profile yet."""


# Merge hook for events (customers.identity.MergeHook), wired in patron.wiring.
MERGE_HOOKS: list[MergeHook] = [_EventsFollowCustomer()]


def events_table() -> Table:
    """The events table (Core), for other domains' read-only aggregate SQL."""
    return table_of(Event)
