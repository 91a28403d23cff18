"""The tracking API, compatible with Segment's HTTP API (/v1/*), and /api/events.

Authenticated by a write key sent as the HTTP Basic username, as Segment's and RudderStack's
clients send it. Limits as Segment's: 32 KB per message, 500 KB per request (after gzip is
undone); a bad or oversized message gets a 400 naming it (`batch[3]`, `batch[3].event`) and
nothing of that request is stored. Every accepted message is stored once by messageId.
"""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from patron.auth.guards import Reader, require
from patron.auth.schemas import Permission, Principal
from patron.config import get_settings
from patron.core.errors import PatronError, PayloadTooLarge, ValidationError
from patron.core.time import parse_datetime, utcnow
from patron.db import run_transaction
from patron.events import service
from patron.events.schemas import EventPage, MessageType

router = APIRouter(tags=["events"])
CanIngest = Annotated[Principal, Depends(require(Permission.INGEST))]
CanRead = Annotated[Principal, Depends(require(Permission.EVENTS_READ))]
_OK = {"success": True}


async def _body(request: Request, limit: int) -> Any:
    raw = await request.body()
    if "gzip" in request.headers.get("content-encoding", "").lower():
        inflater = zlib.decompressobj(wbits=31)
        try:
            raw = inflater.decompress(raw, limit + 1)
        except zlib.error:
            raise ValidationError("the body is not valid gzip", field="body") from None
    if len(raw) > limit:
        raise PayloadTooLarge(f"the request is larger than {limit // 1024} KB", field="body")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"the body is not valid JSON: {exc}", field="body") from None


def _check_size(message: Any, where: str, limit: int) -> None:
    if len(orjson.dumps(message)) > limit:
        raise PayloadTooLarge(f"{where} is larger than {limit // 1024} KB", field=where)


def _store(messages: list[Any], source_id: int, received_at: datetime) -> None:
    run_transaction(
        lambda session: service.ingest(
            session, messages=messages, source_id=source_id, received_at=received_at
        )
    )


async def _accept(
    request: Request, principal: Principal, forced: MessageType | None
) -> JSONResponse:
    settings = get_settings()
    received_at = utcnow()
    try:
        if principal.source_id is None:
            raise ValidationError("this write key has no source", field="Authorization")
        body = await _body(request, settings.max_batch_bytes)
        if forced is None:
            if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
                raise ValidationError("batch must be a list of messages", field="batch")
            raw_messages, prefix = body["batch"], "batch"
            sent = body.get("sentAt")
            batch_sent_at = parse_datetime(sent, field="sentAt") if sent else None
        else:
            raw_messages, prefix, batch_sent_at = [body], "", None
        for i, m in enumerate(raw_messages):
            _check_size(m, f"{prefix}[{i}]" if prefix else "body", settings.max_event_bytes)
        messages = service.normalize_batch(
            raw_messages, received_at=received_at, batch_sent_at=batch_sent_at,
            prefix=prefix, forced_type=forced,
        )  # fmt: skip
    except PatronError as exc:
        return JSONResponse(exc.to_dict(), status_code=400)
    await run_in_threadpool(_store, messages, principal.source_id, received_at)
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
