"""The tracking API's inbox (ADR 20): accepted request bodies wait here for the worker.

The gateway (`/v1/*`) validates a request completely (every error a 400 naming the message
and field, as before), stores its body as one row and answers. The worker's inbox poller
takes the oldest rows, several requests at a time, and processes them with
`service.ingest` in one transaction that also deletes them: a crash rolls both back, so a
request is applied once, and a request replayed by its client adds nothing (messageId).

A batch that cannot be processed (a bug, not bad input: that was refused at the door) is
retried alone, so it does not hold up the others, and kept as dead with its error after
`MAX_ATTEMPTS`; `retry_dead` queues such rows again once the cause is fixed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from patron.core.errors import PayloadTooLarge, ValidationError
from patron.core.time import parse_datetime, utcnow
from patron.customers import service as customers_service
from patron.db import table_of
from patron.events.models import InboxBatch
from patron.events.normalize import Message, normalize
from patron.events.schemas import InboxResult, InboxStats, IngestResult, MessageType

Ingest = Callable[[Session, list[Message], int], IngestResult]

MAX_ATTEMPTS = 5
# Messages per processing transaction: large enough that the statements per transaction
# (about 50, whatever the count) cost little per event, small enough that a SQLite writer
# lock is held for a fraction of a second.
TAKE_MESSAGES = 2000
_TRAITS_CHECKED = (MessageType.IDENTIFY, MessageType.TRACK, MessageType.PAGE, MessageType.SCREEN)


def parse_body(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"the body is not valid JSON: {exc}", field="body") from None


def read_request(
    body: Any,
    *,
    kind: MessageType | None,
    received_at: datetime,
    max_event_bytes: int | None = None,
) -> list[Message]:
    """Validate a parsed body: `{"batch": [...], "sentAt": ...}` for /v1/batch (`kind`
    None), one message for the single calls. Raises ValidationError naming `batch[i].x`
    (or `body.x`) for the first bad message; `max_event_bytes` checks each message's size."""
    if kind is None:
        if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
            raise ValidationError("batch must be a list of messages", field="batch")
        raw_messages, prefix = body["batch"], "batch"
        sent = body.get("sentAt")
        batch_sent_at = parse_datetime(sent, field="sentAt") if sent else None
    else:
        raw_messages, prefix, batch_sent_at = [body], "", None
    out: list[Message] = []
    for i, raw in enumerate(raw_messages):
        where = f"{prefix}[{i}]" if prefix else "body"
        if max_event_bytes is not None and len(orjson.dumps(raw)) > max_event_bytes:
            limit = max_event_bytes // 1024
            raise PayloadTooLarge(f"{where} is larger than {limit} KB", field=where)
        m = normalize(
            raw, where=where, received_at=received_at, batch_sent_at=batch_sent_at,
            forced_type=kind,
        )  # fmt: skip
        if m.traits and m.type in _TRAITS_CHECKED:
            customers_service.clean_traits(m.traits, prefix=f"{where}.traits")  # raises if bad
        out.append(m)
    return out


def accept(
    session: Session,
    *,
    source_id: int,
    body: bytes,
    kind: MessageType | None,
    received_at: datetime,
    messages: int,
) -> int:
    """Keep a validated request for the poller; returns the inbox row's id."""
    # One Core statement with fixed parameters on the session's connection: the ORM's
    # per-statement work was half of this call (0.7 ms of CPU per request).
    values = {
        "source_id": source_id, "received_at": received_at,
        "kind": kind.value if kind else None, "body": body, "messages": messages,
        "status": "queued", "attempts": 0,
    }  # fmt: skip
    return int(session.connection().execute(_ACCEPT, values).scalar_one())


_ACCEPT = insert(table_of(InboxBatch)).returning(table_of(InboxBatch).c.id)


@dataclass(slots=True)
class Taken:
    id: int
    source_id: int
    received_at: datetime
    kind: str | None
    body: bytes
    messages: int
    attempts: int


def _take(session: Session, max_messages: int) -> list[Taken]:
    """The oldest queued rows, up to `max_messages` messages (at least one row). PostgreSQL:
    locked with SKIP LOCKED, so two pollers take disjoint rows."""
    t = InboxBatch
    head = session.execute(
        select(t.id, t.messages).where(t.status == "queued").order_by(t.id).limit(500)
    ).all()
    ids: list[int] = []
    total = 0
    for row_id, n in head:
        if ids and total + n > max_messages:
            break
        ids.append(row_id)
        total += n
    if not ids:
        return []
    stmt = (
        select(t.id, t.source_id, t.received_at, t.kind, t.body, t.messages, t.attempts)
        .where(t.id.in_(ids), t.status == "queued")
        .order_by(t.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return [Taken(*row) for row in session.execute(stmt).all()]


def _decode(row: Taken) -> list[Message]:
    kind = MessageType(row.kind) if row.kind else None
    return read_request(parse_body(row.body), kind=kind, received_at=row.received_at)


def _ingest_rows(
    session: Session,
    ingest: Ingest,
    rows: Sequence[Taken],
    decoded: dict[int, list[Message]],
    result: InboxResult,
) -> None:
    """Ingest the rows' messages, consecutive rows of one source together."""
    start = 0
    while start < len(rows):
        end = start
        while end < len(rows) and rows[end].source_id == rows[start].source_id:
            end += 1
        messages = [m for row in rows[start:end] for m in decoded[row.id]]
        done = ingest(session, messages, rows[start].source_id)
        result.accepted += done.accepted
        result.duplicates += done.duplicates
        start = end


@dataclass(slots=True)
class Outcome:
    """What `apply` did: the rows to delete, the rows that failed (with their error)."""

    result: InboxResult
    done: list[Taken]
    failed: list[tuple[Taken, str]]


def take(session: Session, *, max_messages: int = TAKE_MESSAGES) -> list[Taken]:
    """The oldest queued requests, up to `max_messages` messages (read from the spool)."""
    return _take(session, max_messages)


def apply(session: Session, rows: Sequence[Taken], *, ingest: Ingest) -> Outcome:
    """Apply `rows` with `ingest` in the caller's (main database) transaction. A row that
    fails is retried alone, so the others go through; it is reported in `failed`."""
    result = InboxResult(batches=len(rows))
    decoded: dict[int, list[Message]] = {}
    good: list[Taken] = []
    failed: list[tuple[Taken, str]] = []
    for row in rows:
        try:
            decoded[row.id] = _decode(row)
            good.append(row)
        except ValidationError as exc:  # refused at the door before: a changed rule
            failed.append((row, f"{exc.field}: {exc.message}"))
        except Exception as exc:  # noqa: BLE001 - e.g. a kind this version does not know
            failed.append((row, f"{type(exc).__name__}: {exc}"))
    try:
        with session.begin_nested():
            _ingest_rows(session, ingest, good, decoded, result)
        done = good
    except DBAPIError:
        raise  # contention or a lost connection: the whole transaction is retried
    except Exception:  # noqa: BLE001 - find the row at fault; the others go through
        result.accepted = result.duplicates = 0
        done = []
        for row in good:
            try:
                with session.begin_nested():
                    _ingest_rows(session, ingest, [row], decoded, result)
                done.append(row)
            except DBAPIError:
                raise
            except Exception as exc:  # noqa: BLE001 - recorded on the row
                failed.append((row, f"{type(exc).__name__}: {exc}"))
    result.messages = sum(r.messages for r in done)
    result.failed = len(failed)
    result.dead = sum(1 for row, _ in failed if row.attempts + 1 >= MAX_ATTEMPTS)
    session.flush()
    return Outcome(result=result, done=done, failed=failed)


def settle(session: Session, outcome: Outcome) -> None:
    """Delete the applied rows and record the failures, in the spool's transaction (the
    main database's own when it is the spool: then both commit together)."""
    if outcome.done:
        session.execute(
            delete(InboxBatch)
            .where(InboxBatch.id.in_([r.id for r in outcome.done]))
            .execution_options(synchronize_session=False)
        )
    for row, error in outcome.failed:
        dead = row.attempts + 1 >= MAX_ATTEMPTS
        session.execute(
            update(InboxBatch)
            .where(InboxBatch.id == row.id)
            .values(
                attempts=row.attempts + 1,
                last_error=error[:2000],
                status="dead" if dead else "queued",
            )  # fmt: skip
            .execution_options(synchronize_session=False)
        )
    session.flush()


def process(session: Session, *, ingest: Ingest, max_messages: int = TAKE_MESSAGES) -> InboxResult:
    """Take, apply and settle in one transaction (the main database is the spool): a crash
    rolls everything back. `batches` 0 means none waited."""
    rows = take(session, max_messages=max_messages)
    if not rows:
        return InboxResult()
    outcome = apply(session, rows, ingest=ingest)
    settle(session, outcome)
    return outcome.result


def stats(session: Session) -> InboxStats:
    """What waits in the inbox: queued and dead requests and messages, the oldest's age."""
    t = InboxBatch
    rows = session.execute(
        select(
            t.status, func.count(), func.coalesce(func.sum(t.messages), 0), func.min(t.received_at)
        ).group_by(t.status)
    ).all()
    by = {r[0]: r for r in rows}
    queued, dead = by.get("queued"), by.get("dead")
    oldest = queued[3] if queued else None
    return InboxStats(
        queued_batches=int(queued[1]) if queued else 0,
        queued_messages=int(queued[2]) if queued else 0,
        dead_batches=int(dead[1]) if dead else 0,
        dead_messages=int(dead[2]) if dead else 0,
        oldest_queued_at=oldest,
        lag_seconds=None if oldest is None else round((utcnow() - oldest).total_seconds(), 3),
    )


def dead(session: Session, *, limit: int = 50) -> list[tuple[int, datetime, int, str | None]]:
    """Dead requests, oldest first: (id, received_at, messages, last error)."""
    t = InboxBatch
    rows = session.execute(
        select(t.id, t.received_at, t.messages, t.last_error)
        .where(t.status == "dead").order_by(t.id).limit(limit)
    ).all()  # fmt: skip
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def retry_dead(session: Session) -> int:
    """Queue every dead request again (attempts reset); returns how many."""
    result = session.execute(
        update(InboxBatch)
        .where(InboxBatch.status == "dead")
        .values(status="queued", attempts=0)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
