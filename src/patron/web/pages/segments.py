"""Segments in the browser: the list, the builder with a live preview, members, history,
CSV export and static lists (CSV upload, removal).

Every route calls `patron.segments.service`; the builder's preview is an htmx fragment
(POST /segments/preview) that answers 200 either way, so htmx swaps errors in too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, runtime_checkable

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from patron.auth.schemas import Permission, WebUser
from patron.core.errors import Conflict, NotFound, PatronError, ValidationError
from patron.customers import service as customers_service
from patron.db import unit_of_work
from patron.segments import service
from patron.segments.schemas import (
    MembersChange,
    MembersChanged,
    SegmentCreate,
    SegmentKind,
    SegmentRead,
    SegmentUpdate,
)
from patron.web import i18n
from patron.web.deps import PageForbidden, ReadDb, WriteDb, page
from patron.web.templating import N_, activate_for, render

router = APIRouter()

Reader = Annotated[WebUser, Depends(page(Permission.SEGMENTS_READ))]
Writer = Annotated[WebUser, Depends(page(Permission.SEGMENTS_WRITE))]
Exporter = Annotated[WebUser, Depends(page(Permission.EXPORT))]

MAX_NAME, MAX_DESCRIPTION, MAX_QUERY = 200, 1000, 10_000
MAX_UPLOAD = 20 * 1024 * 1024
SAMPLE = 10
# The live count answers within about this; what takes longer is estimated (segments/preview.py).
PREVIEW_BUDGET_MS = 400.0
HISTORY = 20

# Field kinds as the help panel names them (msgids).
KIND_LABELS = {
    "text": N_("text"),
    "date": N_("date"),
    "time": N_("time"),
    "number": N_("number"),
    "money": N_("money"),
    "list": N_("list"),
    "json": N_("custom property"),
}


# How a member entered (history reason), as the history table names it (msgids).
REASONS = {
    "full": N_("Refresh"),
    "incremental": N_("Update"),
    "time": N_("Time passed"),
    "manual": N_("Added by hand"),
    "import": N_("CSV import"),
}


@dataclass(frozen=True)
class Example:
    label: str  # msgid
    query: str  # the language is the same in every locale


EXAMPLES = [
    Example(N_("Repeat buyers who have not ordered for 60 days"),
            "orders_count >= 2 AND last_order_at < -60d"),
    Example(N_("New customers of the last 30 days"), "first_order_at > -30d"),
    Example(N_("Viewed products this week but never ordered"),
            'did("Product Viewed", within = 7d) AND orders_count = 0'),
    Example(N_("Abandoned a cart in the last 7 days"), "abandoned_cart(within = 7d, idle = 1h)"),
    Example(N_("Champions or tagged VIP"), 'rfm_group = "Champions" OR has_tag("vip")'),
]  # fmt: skip


FUNCTIONS = [
    ('did("Product Viewed", within = 30d)',
     N_("tracked events, with property filters and a count")),
    ('ordered(category = "Shoes", within = 90d)',
     N_("orders, by product, category, brand or channel")),
    ("abandoned_cart(within = 7d)", N_("a cart not turned into an order")),
    ('in_segment("Name")', N_("member of another segment")),
    ('has_tag("vip")', N_("has this tag")),
]  # fmt: skip


@dataclass(frozen=True)
class QueryProblem:
    """A query error placed for a person: the message, line and column, and a caret."""

    message: str
    line: int | None = None
    column: int | None = None
    source_line: str = ""
    caret: str = ""


def _normalise(query: str) -> str:
    return query.replace("\r\n", "\n").replace("\r", "\n")


@runtime_checkable
class Phrase(Protocol):
    """A message the domain composes (the segment language's errors, and a
    SegmentQueryError itself): an English `str.format` template, marked for the `segments`
    catalogs (web/catalogs.py DOMAIN_MESSAGES), and its parameters."""

    @property
    def template(self) -> str: ...

    @property
    def params(self) -> Mapping[str, object]: ...


def say(phrase: Phrase) -> str:
    """`phrase` in the user's language: its template translated, then filled in. A parameter
    that is a phrase (what was expected, ...) is translated too; the others (what the user
    typed, field names, numbers) are shown as they are."""
    params = {k: say(v) if isinstance(v, Phrase) else str(v) for k, v in phrase.params.items()}
    translated = i18n.gettext(phrase.template)
    if not params:
        return translated
    try:
        return translated.format(**params)
    except (KeyError, IndexError, ValueError):  # a translation with other fields: English
        return phrase.template.format(**params)


def message_of(exc: PatronError) -> str:
    """A domain error's message in the user's language when the domain composed it as a
    phrase (segments.service, the segment language); otherwise its message as it is."""
    phrase = exc if isinstance(exc, Phrase) else exc.phrase
    return say(phrase) if isinstance(phrase, Phrase) else exc.message


def locate(query: str, exc: PatronError) -> QueryProblem:
    """Where a SegmentQueryError points (its 1-based position counts every character of the
    query, newlines included), as line, column and a caret under the spot; its message in
    the user's language."""
    position = getattr(exc, "position", None)
    if isinstance(exc, Phrase) or isinstance(exc.phrase, Phrase):
        detail = message_of(exc)
    else:
        detail = str(getattr(exc, "detail", "") or exc.message)
    if not isinstance(position, int):
        return QueryProblem(message=detail)
    offset = max(0, min(position - 1, len(query)))
    start = query.rfind("\n", 0, offset) + 1
    end = query.find("\n", offset)
    source_line = query[start : end if end >= 0 else len(query)]
    column = offset - start + 1
    pad = "".join("\t" if ch == "\t" else " " for ch in source_line[: column - 1])
    return QueryProblem(
        message=detail,
        line=query.count("\n", 0, offset) + 1,
        column=column,
        source_line=source_line,
        caret=pad + "^",
    )


# The built-in lifecycle segments' names and descriptions (as `segments.builtins` saves
# them): shown translated while the marketer keeps them; a renamed one shows as typed.
BUILTIN_TEXTS = [
    N_("New customers"), N_("First order within one purchase cycle"),
    N_("Repeat customers"), N_("Two orders or more"),
    N_("One-time buyers"), N_("Exactly one order"),
    N_("High-value customers"), N_("Spent at least the high-value percentile"),
    N_("At risk"), N_("No order in at-risk cycles, not yet lapsed"),
    N_("Inactive (lapsed)"), N_("No order in lapsed cycles"),
    N_("Cart abandoners"), N_("Left a cart or checkout with items"),
    N_("VIP"), N_("Top spenders with several orders, or tagged vip"),
]  # fmt: skip


def shown(segment: SegmentRead, text: str) -> str:
    """A segment's name or description as this user reads it."""
    return i18n.gettext(text) if segment.builtin and text else text


def kind_of(segment: SegmentRead) -> str:
    if segment.builtin:
        return "builtin"
    return segment.kind.value


def _fields() -> list[tuple[str, str]]:
    out = []
    for name, kind in service.fields().items():
        out.append((f"{name}.<name>" if kind == "json" else name, KIND_LABELS.get(kind, kind)))
    return out


def _render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    user: WebUser,
    session: Session,
    status: int = 200,
) -> Response:
    context = {"shown": shown, "kind_of": kind_of, **context}
    return render(request, template, context, user=user, session=session, status=status)


def _segment(session: Session, segment_id: int) -> SegmentRead:
    return service.get(session, segment_id=segment_id)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


# --- the list ---------------------------------------------------------------------------


@router.get("/segments")
def segments_list(
    request: Request, session: ReadDb, user: Reader, cursor: str | None = None
) -> Response:
    found = service.list(session, cursor=cursor, limit=50)
    return _render(
        request,
        "segments/list.html",
        {
            "segments": found.items,
            "next_cursor": found.next_cursor,
            "first_page": not cursor,
            "deleted": request.query_params.get("deleted") == "1",
            "builtins": request.query_params.get("builtins") == "1",
        },
        user=user,
        session=session,
    )


@router.post("/segments/builtins")
def install_builtins(session: WriteDb, user: Writer) -> Response:
    """Create (or bring up to date) the lifecycle segments; a job computes their members."""
    service.install_builtins(session)
    return RedirectResponse("/segments?builtins=1", status_code=303)


# --- the builder ------------------------------------------------------------------------


def _form(
    request: Request,
    session: Session,
    user: WebUser,
    *,
    values: dict[str, str],
    segment: SegmentRead | None = None,
    errors: dict[str, str] | None = None,
    problem: QueryProblem | None = None,
    status: int = 200,
) -> Response:
    return _render(
        request,
        "segments/form.html",
        {
            "segment": segment,
            "values": values,
            "errors": errors or {},
            "problem": problem,
            "fields": _fields(),
            "examples": EXAMPLES,
            "functions": FUNCTIONS,
        },
        user=user,
        session=session,
        status=status,
    )


@router.get("/segments/new")
def new_segment(
    request: Request, session: ReadDb, user: Writer, kind: str = "dynamic", query: str = ""
) -> Response:
    kind = "static" if kind == "static" else "dynamic"
    values = {"name": "", "description": "", "query": query[:MAX_QUERY], "kind": kind}
    return _form(request, session, user, values=values)


def _checked(values: dict[str, str], *, with_query: bool) -> dict[str, str]:
    """Translated messages, by field, for what the form can tell without the database."""
    errors: dict[str, str] = {}
    if not values["name"].strip():
        errors["name"] = i18n.gettext("Give the segment a name.")
    elif len(values["name"]) > MAX_NAME:
        errors["name"] = i18n.gettext("The name is longer than 200 characters.")
    if len(values["description"]) > MAX_DESCRIPTION:
        errors["description"] = i18n.gettext("The description is longer than 1,000 characters.")
    if with_query and not values["query"].strip():
        errors["query"] = i18n.gettext("Write the query that selects the members.")
    elif len(values["query"]) > MAX_QUERY:
        errors["query"] = i18n.gettext("The query is longer than 10,000 characters.")
    return errors


def _save_failed(
    request: Request,
    session: Session,
    user: WebUser,
    exc: PatronError,
    *,
    values: dict[str, str],
    segment: SegmentRead | None = None,
) -> Response:
    session.rollback()
    field = exc.field if exc.field in ("name", "description", "query") else "name"
    problem = locate(values["query"], exc) if field == "query" else None
    errors = {field: problem.message if problem else message_of(exc)}
    return _form(
        request, session, user, values=values, segment=segment, errors=errors,
        problem=problem, status=422,
    )  # fmt: skip


@router.post("/segments/new")
def create_segment(
    request: Request,
    session: WriteDb,
    user: Writer,
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    query: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "dynamic",
) -> Response:
    activate_for(session, user, request)  # messages below are in the user's language
    static = kind == "static"
    values = {
        "name": name,
        "description": description,
        "query": "" if static else _normalise(query),
        "kind": "static" if static else "dynamic",
    }
    errors = _checked(values, with_query=not static)
    if errors:
        return _form(request, session, user, values=values, errors=errors, status=422)
    data = SegmentCreate(
        name=name.strip(),
        description=description.strip(),
        kind=SegmentKind.STATIC if static else SegmentKind.DYNAMIC,
        query=None if static else values["query"],
    )
    try:
        created = service.create(session, data=data)
    except (ValidationError, Conflict) as exc:
        return _save_failed(request, session, user, exc, values=values)
    return RedirectResponse(f"/segments/{created.id}", status_code=303)


@router.post("/segments/preview")
def preview(
    request: Request, session: ReadDb, user: Reader, query: Annotated[str, Form()] = ""
) -> Response:
    """The builder's live answer: count and sample, or where the query goes wrong."""
    activate_for(session, user, request)
    query = _normalise(query)
    context: dict[str, Any] = {"result": None, "problem": None, "empty": not query.strip()}
    if len(query) > MAX_QUERY:
        context["problem"] = QueryProblem(
            i18n.gettext("The query is longer than 10,000 characters.")
        )
    elif query.strip():
        try:
            context["result"] = service.preview(
                session, query=query, sample=SAMPLE, budget_ms=PREVIEW_BUDGET_MS
            )
        except ValidationError as exc:
            context["problem"] = locate(query, exc)
    return _render(request, "segments/_preview.html", context, user=user, session=session)


@router.get("/segments/{segment_id}/edit")
def edit_segment(request: Request, session: ReadDb, user: Writer, segment_id: int) -> Response:
    seg = _segment(session, segment_id)
    values = {
        "name": seg.name,
        "description": seg.description,
        "query": seg.query or "",
        "kind": seg.kind.value,
    }
    return _form(request, session, user, values=values, segment=seg)


@router.post("/segments/{segment_id}/edit")
def update_segment(
    request: Request,
    session: WriteDb,
    user: Writer,
    segment_id: int,
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    query: Annotated[str, Form()] = "",
) -> Response:
    seg = _segment(session, segment_id)
    activate_for(session, user, request)
    static = seg.kind is SegmentKind.STATIC
    values = {
        "name": name,
        "description": description,
        "query": "" if static else _normalise(query),
        "kind": seg.kind.value,
    }
    errors = _checked(values, with_query=not static)
    if errors:
        return _form(request, session, user, values=values, segment=seg, errors=errors, status=422)
    data = SegmentUpdate(name=name.strip(), description=description.strip())
    if not static:
        data.query = values["query"]
    try:
        service.update(session, segment_id=segment_id, data=data)
    except (ValidationError, Conflict) as exc:
        return _save_failed(request, session, user, exc, values=values, segment=seg)
    return RedirectResponse(f"/segments/{segment_id}", status_code=303)


# --- one segment ------------------------------------------------------------------------


def _detail(
    request: Request,
    session: Session,
    user: WebUser,
    seg: SegmentRead,
    *,
    cursor: str | None = None,
    imported: MembersChanged | None = None,
    error: str = "",
    status: int = 200,
) -> Response:
    members = service.members(session, segment_id=seg.id, cursor=cursor, limit=50)
    history = service.history(session, segment_id=seg.id, limit=HISTORY)
    q = request.query_params
    return _render(
        request,
        "segments/detail.html",
        {
            "segment": seg,
            "kind": kind_of(seg),
            "members": members.items,
            "next_cursor": members.next_cursor,
            "first_page": not cursor,
            "history": history,
            "people": customers_service.get_many(
                session, customer_ids=[h.customer_id for h in history]
            ),
            "reasons": REASONS,
            "imported": imported,
            "error": error,
            "refreshed": (_int(q.get("entered")), _int(q.get("exited")))
            if q.get("refreshed") == "1"
            else None,
            "removed": _int(q.get("removed")),
            "saved": q.get("saved") == "1",
        },
        user=user,
        session=session,
        status=status,
    )


@router.get("/segments/{segment_id}")
def segment_page(
    request: Request, session: ReadDb, user: Reader, segment_id: int, cursor: str | None = None
) -> Response:
    return _detail(request, session, user, _segment(session, segment_id), cursor=cursor)


@router.post("/segments/{segment_id}/refresh")
def refresh_segment(request: Request, session: WriteDb, user: Writer, segment_id: int) -> Response:
    try:
        result = service.refresh(session, segment_id=segment_id, mode="full")
    except ValidationError as exc:  # a static list (the page offers no refresh for one)
        session.rollback()
        activate_for(session, user, request)
        seg = _segment(session, segment_id)
        return _detail(request, session, user, seg, error=message_of(exc), status=422)
    return RedirectResponse(
        f"/segments/{segment_id}?refreshed=1&entered={result.entered}&exited={result.exited}",
        status_code=303,
    )


@router.get("/segments/{segment_id}/delete")
def confirm_delete(request: Request, session: ReadDb, user: Writer, segment_id: int) -> Response:
    seg = _segment(session, segment_id)
    return _render(
        request, "segments/delete.html", {"segment": seg, "error": ""}, user=user, session=session
    )


@router.post("/segments/{segment_id}/delete")
def delete_segment(request: Request, session: WriteDb, user: Writer, segment_id: int) -> Response:
    seg = _segment(session, segment_id)
    try:
        service.delete(session, segment_id=segment_id)
    except Conflict as exc:
        session.rollback()
        activate_for(session, user, request)
        return _render(
            request, "segments/delete.html", {"segment": seg, "error": message_of(exc)},
            user=user, session=session, status=409,
        )  # fmt: skip
    return RedirectResponse("/segments?deleted=1", status_code=303)


def _filename(seg: SegmentRead) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", seg.name.lower()).strip("-")[:60]
    return f"segment-{seg.id}{'-' + slug if slug else ''}.csv"


@router.get("/segments/{segment_id}/members.csv")
def export_members(session: ReadDb, user: Exporter, segment_id: int) -> Response:
    """Every member as CSV, streamed in keyset batches from a session of its own."""
    if not user.can(Permission.SEGMENTS_READ):
        raise PageForbidden(Permission.SEGMENTS_READ)
    seg = _segment(session, segment_id)

    def rows() -> Iterator[str]:
        with unit_of_work(readonly=True) as s:
            yield from service.export_rows(s, segment_id=segment_id)

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{_filename(seg)}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


# --- static lists -----------------------------------------------------------------------


@router.post("/segments/{segment_id}/import")
def import_members(
    request: Request,
    session: WriteDb,
    user: Writer,
    segment_id: int,
    file: Annotated[UploadFile | None, File()] = None,
    text: Annotated[str, Form()] = "",
) -> Response:
    """Add the customers of an uploaded CSV (or pasted lines) to a static list."""
    activate_for(session, user, request)
    seg = _segment(session, segment_id)
    raw = file.file.read(MAX_UPLOAD + 1) if file is not None and file.filename else b""
    error = ""
    if len(raw) > MAX_UPLOAD:
        error = i18n.gettext("The file is larger than 20 MB; split it into smaller files.")
    else:
        try:
            body = raw.decode("utf-8") if raw else text
        except UnicodeDecodeError:
            body, error = "", i18n.gettext("The file must be UTF-8 text (CSV).")
        if not error and not body.strip():
            error = i18n.gettext("Choose a CSV file or paste emails or customer ids.")
        if not error:
            try:
                result = service.import_list(session, segment_id=segment_id, text=body)
            except ValidationError as exc:
                session.rollback()
                error = message_of(exc)
            else:
                seg = _segment(session, segment_id)
                return _detail(request, session, user, seg, imported=result)
    return _detail(request, session, user, seg, error=error, status=422)


@router.post("/segments/{segment_id}/members/remove")
def remove_members(
    request: Request,
    session: WriteDb,
    user: Writer,
    segment_id: int,
    customer_id: Annotated[list[str] | None, Form()] = None,
) -> Response:
    activate_for(session, user, request)
    seg = _segment(session, segment_id)
    ids = sorted({int(v) for v in customer_id or [] if v.isdigit()})
    if not ids:
        error = i18n.gettext("Select the members to remove.")
        return _detail(request, session, user, seg, error=error, status=422)
    try:
        result = service.remove_members(
            session, segment_id=segment_id, change=MembersChange(customer_ids=ids)
        )
    except (ValidationError, NotFound) as exc:
        session.rollback()
        return _detail(request, session, user, seg, error=message_of(exc), status=422)
    return RedirectResponse(f"/segments/{segment_id}?removed={result.removed}", status_code=303)
