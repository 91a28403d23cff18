"""Segments over HTTP: CRUD, preview, members, refresh, static lists, CSV, lifecycle."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from patron.auth.guards import Reader, Writer, require
from patron.auth.schemas import Permission, Principal
from patron.core.errors import PayloadTooLarge, ValidationError
from patron.db import unit_of_work
from patron.segments import service
from patron.segments.schemas import (
    LifecycleSettings,
    MemberPage,
    MembersChange,
    MembersChanged,
    Preview,
    PreviewIn,
    RefreshResult,
    SegmentCreate,
    SegmentHistoryRead,
    SegmentKind,
    SegmentPage,
    SegmentRead,
    SegmentUpdate,
    Thresholds,
)

router = APIRouter(prefix="/api/segments", tags=["segments"])
CanRead = Annotated[Principal, Depends(require(Permission.SEGMENTS_READ))]
CanWrite = Annotated[Principal, Depends(require(Permission.SEGMENTS_WRITE))]
CanExport = Annotated[Principal, Depends(require(Permission.EXPORT))]
MAX_IMPORT_BYTES = 20 * 1024 * 1024


@router.get("", response_model=SegmentPage)
def list_segments(
    session: Reader,
    _: CanRead,
    kind: SegmentKind | None = None,
    cursor: str | None = None,
    limit: int = Query(default=50, ge=1, le=200),
) -> SegmentPage:
    return service.list(session, kind=kind, cursor=cursor, limit=limit)


@router.post("", response_model=SegmentRead, status_code=201)
def create_segment(
    body: SegmentCreate, session: Writer, _: CanWrite, refresh: bool = False
) -> SegmentRead:
    """Save a segment; `refresh=true` computes its members before answering."""
    return service.create(session, data=body, refresh_now=refresh)


@router.post("/preview", response_model=Preview)
def preview(body: PreviewIn, session: Reader, _: CanRead) -> Preview:
    """Count and sample members of a query without saving it."""
    return service.preview(session, query=body.query, sample=body.sample)


@router.get("/fields")
def fields(_: CanRead) -> dict[str, str]:
    """Every field of the language and its kind (text, number, money, time, list, ...)."""
    return service.fields()


@router.get("/settings", response_model=Thresholds)
def get_settings(session: Reader, _: CanRead) -> Thresholds:
    """Lifecycle settings and the thresholds derived from the store's purchase cycle."""
    return service.thresholds(session)


@router.put("/settings", response_model=LifecycleSettings)
def put_settings(body: LifecycleSettings, session: Writer, _: CanWrite) -> LifecycleSettings:
    return service.update_settings(session, settings=body)


@router.post("/builtins", response_model=list[SegmentRead])
def install_builtins(session: Writer, _: CanWrite, refresh: bool = False) -> list[SegmentRead]:
    """Create or update the lifecycle segments with thresholds derived now."""
    return service.install_builtins(session, refresh_now=refresh)


@router.get("/{segment_id}", response_model=SegmentRead)
def get_segment(segment_id: int, session: Reader, _: CanRead) -> SegmentRead:
    return service.get(session, segment_id=segment_id)


@router.patch("/{segment_id}", response_model=SegmentRead)
def update_segment(
    segment_id: int, body: SegmentUpdate, session: Writer, _: CanWrite, refresh: bool = False
) -> SegmentRead:
    return service.update(session, segment_id=segment_id, data=body, refresh_now=refresh)


@router.delete("/{segment_id}", status_code=204)
def delete_segment(segment_id: int, session: Writer, _: CanWrite) -> Response:
    service.delete(session, segment_id=segment_id)
    return Response(status_code=204)


@router.get("/{segment_id}/members", response_model=MemberPage)
def members(
    segment_id: int,
    session: Reader,
    _: CanRead,
    cursor: str | None = None,
    limit: int = Query(default=50, ge=1, le=1000),
) -> MemberPage:
    return service.members(session, segment_id=segment_id, cursor=cursor, limit=limit)


@router.get("/{segment_id}/members.csv")
def export_members(
    segment_id: int, session: Reader, _: CanRead, __: CanExport
) -> StreamingResponse:
    """Every member as CSV, streamed."""
    seg = service.get(session, segment_id=segment_id)

    def rows() -> Iterator[str]:
        with unit_of_work(readonly=True) as s:
            yield from service.export_rows(s, segment_id=segment_id)

    filename = f"segment-{seg.id}.csv"
    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/{segment_id}/history", response_model=list[SegmentHistoryRead])
def history(
    segment_id: int,
    session: Reader,
    _: CanRead,
    customer_id: int | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[SegmentHistoryRead]:
    service.get(session, segment_id=segment_id)
    return service.history(session, segment_id=segment_id, customer_id=customer_id, limit=limit)


@router.post("/{segment_id}/refresh", response_model=RefreshResult)
def refresh(
    segment_id: int,
    session: Writer,
    _: CanWrite,
    mode: str = Query(default="full", pattern="^(full|incremental)$"),
) -> RefreshResult:
    return service.refresh(session, segment_id=segment_id, mode=mode)


@router.post("/{segment_id}/members", response_model=MembersChanged)
def add_members(
    segment_id: int, body: MembersChange, session: Writer, _: CanWrite
) -> MembersChanged:
    """Static lists: add customers by id or email."""
    return service.add_members(session, segment_id=segment_id, change=body)


@router.post("/{segment_id}/members/remove", response_model=MembersChanged)
def remove_members(
    segment_id: int, body: MembersChange, session: Writer, _: CanWrite
) -> MembersChanged:
    return service.remove_members(session, segment_id=segment_id, change=body)


@router.post("/{segment_id}/import", response_model=MembersChanged)
async def import_list(segment_id: int, request: Request, _: CanWrite) -> MembersChanged:
    """Static lists: the request body is a CSV (text/csv) of emails or customer ids."""
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_IMPORT_BYTES:
            raise PayloadTooLarge("the CSV is larger than 20 MB; split it", field="file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("the CSV must be UTF-8 text", field="file") from None
    from fastapi.concurrency import run_in_threadpool

    def work() -> MembersChanged:
        with unit_of_work() as session:
            return service.import_list(session, segment_id=segment_id, text=text)

    return await run_in_threadpool(work)
