"""Tracking events: ingestion exactly once by messageId, identity, timeline, projection."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from patron.core.errors import ValidationError
from patron.core.pagination import clamp_limit, decode_cursor, encode_cursor
from patron.core.time import as_utc
from patron.customers import service as customers_service
from patron.customers.schemas import (
    IdentityKey,
    IdentityKind,
    ResolveRequest,
    TimelineEntryIn,
    TimelineKind,
)
from patron.customers.service import MergeHook
from patron.db import table_of
from patron.events import commerce
from patron.events.models import Event
from patron.events.normalize import Message, normalize
from patron.events.schemas import EventPage, EventRead, IngestResult, MessageType
from patron.store import service as store_service

__all__ = ["MERGE_HOOKS", "IngestResult", "ingest", "list_events", "normalize_batch"]

_CHUNK = 500


def normalize_batch(
    raw_messages: Sequence[Any],
    *,
    received_at: datetime,
    batch_sent_at: datetime | None = None,
    prefix: str = "batch",
    forced_type: MessageType | None = None,
) -> list[Message]:
    """Validate a batch; the first bad message raises ValidationError naming `batch[i].x`."""
    return [
        normalize(
            raw,
            where=f"{prefix}[{i}]" if prefix else "body",
            received_at=received_at,
            batch_sent_at=batch_sent_at,
            forced_type=forced_type,
        )
        for i, raw in enumerate(raw_messages)
    ]


def _chunks(items: list[Any], size: int = _CHUNK) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


_PG_EXISTING = sa.text(
    "SELECT message_id FROM events WHERE source_id = :s AND message_id = ANY(CAST(:m AS text[]))"
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
    rows: list[dict[str, Any]] = []
    for i, cid in zip(fresh, customer_ids, strict=True):
        m = normalized[i]
        rows.append({
            "source_id": source_id, "message_id": m.message_id, "type": m.type.value,
            "name": m.name, "customer_id": cid, "anonymous_id": m.anonymous_id,
            "user_id": m.user_id, "channel": m.channel or source.channel.value,
            "timestamp": m.timestamp, "original_timestamp": m.original_timestamp,
            "sent_at": m.sent_at, "received_at": received_at, "properties": m.properties,
            "traits": m.traits, "context": m.context,
        })  # fmt: skip
    dialect = session.get_bind().dialect.name
    ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(table_of(Event))
    stmt = ins.on_conflict_do_nothing(index_elements=["source_id", "message_id"]).returning(
        table_of(Event).c.id, table_of(Event).c.message_id
    )
    inserted = {mid: eid for eid, mid in session.execute(stmt, rows).all()}
    result.duplicates += len(rows) - len(inserted)  # a concurrent request stored them first
    entries: list[TimelineEntryIn] = []
    projectable: list[commerce.CommerceEvent] = []
    for i, row in zip(fresh, rows, strict=True):
        event_id = inserted.get(row["message_id"])
        if event_id is None:
            continue
        m = normalized[i]
        result.accepted += 1
        result.customer_ids.append(row["customer_id"])
        if m.type is MessageType.TRACK and m.name in commerce.COMMERCE_EVENTS:
            projectable.append(commerce.CommerceEvent(
                name=m.name, properties=m.properties, customer_id=row["customer_id"],
                at=m.timestamp, channel=row["channel"], where=f"batch[{i}]",
            ))  # fmt: skip
        if m.name in commerce.TIMELINE_OWNED_EVENTS and m.type is MessageType.TRACK:
            continue
        data: dict[str, Any] = {"type": m.type.value}
        for key in ("url", "product_id", "sku", "category", "value", "currency", "query"):
            if key in m.properties and isinstance(m.properties[key], str | int | float):
                data[key] = m.properties[key]
        entries.append(TimelineEntryIn(
            customer_id=row["customer_id"], occurred_at=m.timestamp, kind=TimelineKind.EVENT,
            title=_title(m), channel=row["channel"], ref_type="event", ref_id=event_id, data=data,
        ))  # fmt: skip
    customers_service.add_timeline_entries(session, entries)
    if projectable:
        currency = store_service.cached_settings(session).base_currency
        commerce.project(session, events=projectable, source_id=source_id, currency=currency)
    session.flush()
    return result


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
