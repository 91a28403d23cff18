"""The tracking API, compatible with Segment's HTTP API (/v1/*), and /api/events.

Authenticated by a write key sent as the HTTP Basic username, as Segment's and RudderStack's
clients send it. Limits as Segment's: 32 KB per message, 500 KB per request (after gzip is
undone); a bad or oversized message gets a 400 naming it (`batch[3]`, `batch[3].event`) and
nothing of that request is stored. A valid request is kept in the inbox and answered; the
worker applies it, every message once by messageId (ADR 20).
"""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from patron.auth.guards import Reader, require
from patron.auth.schemas import Permission, Principal
from patron.config import get_settings
from patron.core.errors import PatronError, PayloadTooLarge, ValidationError
from patron.core.time import utcnow
from patron.db import spool_unit_of_work
from patron.events import service
from patron.events.schemas import EventPage, InboxStats, MessageType

router = APIRouter(tags=["events"])
CanIngest = Annotated[Principal, Depends(require(Permission.INGEST))]
CanRead = Annotated[Principal, Depends(require(Permission.EVENTS_READ))]
CanManage = Annotated[Principal, Depends(require(Permission.JOBS))]
_OK = {"success": True}


async def _body(request: Request, limit: int) -> bytes:
    raw = await request.body()
    if "gzip" in request.headers.get("content-encoding", "").lower():
        inflater = zlib.decompressobj(wbits=31)
        try:
            raw = inflater.decompress(raw, limit + 1)
        except zlib.error:
            raise ValidationError("the body is not valid gzip", field="body") from None
    if len(raw) > limit:
        raise PayloadTooLarge(f"the request is larger than {limit // 1024} KB", field="body")
    return raw


def _keep(source_id: int, raw: bytes, kind: MessageType | None, received_at: datetime,
          count: int) -> None:  # fmt: skip
    with spool_unit_of_work() as session:
        service.accept(
            session, source_id=source_id, body=raw, kind=kind, received_at=received_at,
            messages=count,
        )  # fmt: skip


async def _accept(
    request: Request, principal: Principal, forced: MessageType | None
) -> JSONResponse:
    """Validate the whole request, keep it in the inbox and answer; the worker applies it
    (ADR 20). A 200 means the request is stored durably and will be applied exactly once."""
    settings = get_settings()
    received_at = utcnow()
    try:
        if principal.source_id is None:
            raise ValidationError("this write key has no source", field="Authorization")
        raw = await _body(request, settings.max_batch_bytes)
        messages = service.read_request(
            service.parse_body(raw), kind=forced, received_at=received_at,
            max_event_bytes=settings.max_event_bytes,
        )  # fmt: skip
    except PatronError as exc:
        return JSONResponse(exc.to_dict(), status_code=400)
    if messages:
        await run_in_threadpool(_keep, principal.source_id, raw, forced, received_at, len(messages))
    return JSONResponse(_OK)


def _single(kind: MessageType) -> Any:
    async def endpoint(request: Request, principal: CanIngest) -> JSONResponse:
        return await _accept(request, principal, kind)

    endpoint.__name__ = f"v1_{kind.value}"
    endpoint.__doc__ = f"Segment-compatible `{kind.value}` call (write key as Basic username)."
    return endpoint


for _kind in MessageType:
    router.add_api_route(f"/v1/{_kind.value}", _single(_kind), methods=["POST"])


@router.post("/v1/batch")
async def v1_batch(request: Request, principal: CanIngest) -> JSONResponse:
    """Segment-compatible batch: `{"batch": [messages], "sentAt": ...}`, up to 500 KB."""
    return await _accept(request, principal, None)


@router.get("/api/events", response_model=EventPage)
def list_events(
    session: Reader,
    _: CanRead,
    customer_id: int | None = None,
    name: str | None = Query(default=None, max_length=200),
    type: MessageType | None = None,  # noqa: A002 - the field's name
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = Query(default=50, ge=1, le=200),
) -> EventPage:
    return service.list_events(
        session, customer_id=customer_id, name=name, type=type, since=since, until=until,
        cursor=cursor, limit=limit,
    )  # fmt: skip


@router.get("/api/events/inbox", response_model=InboxStats)
def inbox_stats(_: CanRead) -> InboxStats:
    """Accepted tracking requests not yet applied, and dead ones (ADR 20)."""
    with spool_unit_of_work(readonly=True) as session:
        return service.inbox_stats(session)


@router.post("/api/events/inbox/retry")
def retry_dead(_: CanManage) -> dict[str, int]:
    """Queue the dead requests again (after the cause of their error is fixed)."""
    with spool_unit_of_work() as session:
        return {"queued": service.retry_dead(session)}
