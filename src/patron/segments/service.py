"""The segments domain: the query language, stored segments, membership and lifecycle.

Public to entry points and higher domains. Services flush; the caller commits.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core.errors import Conflict, NotFound, PatronError, ValidationError
from patron.core.ids import normalize_email
from patron.core.pagination import clamp_limit, decode_cursor, encode_cursor
from patron.core.time import utcnow
from patron.customers import service as customers_service
from patron.db import table_of
from patron.jobs import service as jobs_service
from patron.segments import builtins, membership
from patron.segments import preview as _preview
from patron.segments.compiler import EXTRA_FIELDS, ExtraField, describe_fields, register_field
from patron.segments.language import N_, BoolOp, Call, Node, Not, Param, Phrase
from patron.segments.language import parse as parse_query
from patron.segments.models import Segment, SegmentHistory, SegmentMember, SegmentSettings
from patron.segments.schemas import (
    REFRESH_JOB,
    TICK_JOB,
    LifecycleSettings,
    MemberPage,
    MemberRead,
    MembersChange,
    MembersChanged,
    Preview,
    RefreshResult,
    SegmentCreate,
    SegmentHistoryRead,
    SegmentKind,
    SegmentPage,
    SegmentRead,
    SegmentUpdate,
    Thresholds,
)

__all__ = [
    "EXTRA_FIELDS",
    "ExtraField",
    "create",
    "delete",
    "describe_fields",
    "get",
    "list",
    "members",
    "preview",
    "refresh",
    "register_field",
    "tick",
    "update",
]

_list = list  # `list` is a service verb here
_SETTINGS_KEY = "lifecycle"
_E = TypeVar("_E", bound=PatronError)


def _error(kind: type[_E], template: str, /, *, field: str, **params: Param) -> _E:
    """A `kind` error whose message is `template` (marked with N_) filled in: English for
    the API and the CLI, and carrying its Phrase so that the web app (which extracts the
    marked templates into its `segments` catalogs) says it in the reader's language."""
    phrase = Phrase(template, **params)
    return kind(str(phrase), field=field, phrase=phrase)


# --- the language -----------------------------------------------------------------------


def check(session: Session, *, query: str, name: str = "", now: datetime | None = None) -> bool:
    """Parse and compile `query` (SegmentQueryError naming the column); True if it has
    relative-time conditions."""
    compiled = membership.compile_for(session, query=query, now=now or utcnow(), name=name)
    return bool(compiled.atoms)


def _member_columns() -> Any:
    c = customers_service.customers_table().c
    return (
        c.id,
        c.email,
        c.first_name,
        c.last_name,
        c.orders_count,
        c.total_spent,
        c.last_order_at,
    )


def _member(row: Any, entered_at: datetime | None = None) -> MemberRead:
    return MemberRead(
        customer_id=row[0],
        email=row[1],
        first_name=row[2],
        last_name=row[3],
        orders_count=row[4],
        total_spent=row[5],
        last_order_at=row[6],
        entered_at=entered_at,
    )


def _profiles(session: Session, ids: _list[int]) -> _list[Any]:
    """Member columns for these customer ids, in the given order."""
    if not ids:
        return []
    c = customers_service.customers_table().c
    by_id = {r[0]: r for r in session.execute(select(*_member_columns()).where(c.id.in_(ids)))}
    return [by_id[i] for i in ids]


def preview(
    session: Session,
    *,
    query: str,
    sample: int = 10,
    now: datetime | None = None,
    budget_ms: float | None = None,
) -> Preview:
    """Count and a sample (newest customers first) for a query, without saving anything.
    With `budget_ms`, what does not finish in about that time is estimated from a sample
    of the customers (`estimated`; see segments/preview.py)."""
    started = time.perf_counter()
    if budget_ms is not None:
        got = _preview.count(
            session, query=query, sample=sample, now=now or utcnow(), budget_ms=budget_ms
        )
        return Preview(
            count=got.count,
            sample=[_member(r) for r in _profiles(session, got.member_ids)],
            time_based=got.time_based,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
            estimated=got.estimated,
            sampled_share=got.sampled_share,
        )
    compiled = membership.compile_for(session, query=query, now=now or utcnow())
    members = membership.member_select(compiled)
    c = customers_service.customers_table().c
    rows: _list[Any] = []
    if sample and session.get_bind().dialect.name == "postgresql":
        # Two statements: PostgreSQL counts in parallel and stops the sample at LIMIT.
        count = int(session.scalar(select(func.count()).select_from(members.subquery())) or 0)
        picked = session.execute(members.order_by(c.id.desc()).limit(sample)).all()
        rows = _profiles(session, [p[0] for p in picked])
    elif sample:
        # SQLite: one evaluation; the window count sees every match before LIMIT.
        picked = session.execute(
            members.add_columns(func.count().over().label("n")).order_by(c.id.desc()).limit(sample)
        ).all()
        count = int(picked[0].n) if picked else 0
        rows = _profiles(session, [p[0] for p in picked])
    else:
        count = int(session.scalar(select(func.count()).select_from(members.subquery())) or 0)
    return Preview(
        count=count,
        sample=[_member(r) for r in rows],
        time_based=bool(compiled.atoms),
        elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
    )


def referenced_segments(query: str) -> set[str]:
    """Names given to in_segment(...) in `query` (not following nested segments)."""
    out: set[str] = set()

    def walk(node: Node) -> None:
        if isinstance(node, BoolOp):
            for n in node.items:
                walk(n)
        elif isinstance(node, Not):
            walk(node.item)
        elif isinstance(node, Call) and node.name == "in_segment" and node.args:
            out.add(node.args[0].text)

    walk(parse_query(query))
    return out


# --- CRUD -------------------------------------------------------------------------------


def _row(session: Session, segment_id: int) -> Segment:
    row = session.get(Segment, segment_id)
    if row is None:
        raise _error(NotFound, N_("segment {id} not found"), field="segment_id", id=segment_id)
    return row


def _by_name_or_id(session: Session, ref: str) -> Segment:
    """CLI helper: a segment by id (digits) or by exact name."""
    row = session.scalar(select(Segment).where(Segment.name == ref))
    if row is None and ref.isdigit():
        row = session.get(Segment, int(ref))
    if row is None:
        raise _error(NotFound, N_("there is no segment named {name!r}"), field="segment", name=ref)
    return row


def get(session: Session, *, segment_id: int) -> SegmentRead:
    return SegmentRead.model_validate(_row(session, segment_id))


def find(session: Session, *, ref: str) -> SegmentRead:
    """By exact name, or by id."""
    return SegmentRead.model_validate(_by_name_or_id(session, ref))


def list(  # noqa: A001 - the service verb
    session: Session,
    *,
    kind: SegmentKind | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> SegmentPage:
    """Segments by id, keyset-paginated."""
    limit = clamp_limit(limit)
    stmt = select(Segment)
    if kind is not None:
        stmt = stmt.where(Segment.kind == kind.value)
    if cursor:
        (last,) = decode_cursor(cursor, arity=1)
        if not isinstance(last, int):
            raise _error(ValidationError, N_("cursor is not valid"), field="cursor")
        stmt = stmt.where(Segment.id > last)
    rows = session.scalars(stmt.order_by(Segment.id).limit(limit + 1)).all()
    items = [SegmentRead.model_validate(r) for r in rows[:limit]]
    nxt = encode_cursor([items[-1].id]) if len(rows) > limit else None
    return SegmentPage(items=items, next_cursor=nxt)


def _check_name(session: Session, name: str, own_id: int | None = None) -> str:
    name = name.strip()
    if not name:
        raise _error(ValidationError, N_("name must not be blank"), field="name")
    other = session.scalar(select(Segment.id).where(Segment.name == name))
    if other is not None and other != own_id:
        raise _error(Conflict, N_("a segment named {name!r} exists"), field="name", name=name)
    return name


def create(session: Session, *, data: SegmentCreate, refresh_now: bool = False) -> SegmentRead:
    """Save a segment. A dynamic one's query must compile (no cycles); its membership is
    computed by a refresh job (or at once with `refresh_now`)."""
    name = _check_name(session, data.name)
    now = utcnow()
    time_based = False
    if data.kind is SegmentKind.DYNAMIC:
        if not data.query or not data.query.strip():
            raise _error(ValidationError, N_("a dynamic segment needs a query"), field="query")
        time_based = check(session, query=data.query, name=name, now=now)
    elif data.query:
        raise _error(
            ValidationError, N_("a static list has no query; add members instead"), field="query"
        )
    row = Segment(
        name=name,
        description=data.description,
        kind=data.kind.value,
        query=data.query if data.kind is SegmentKind.DYNAMIC else None,
        builtin=None,
        time_based=time_based,
        member_count=0,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    if data.kind is SegmentKind.DYNAMIC:
        _after_change(session, row, refresh_now=refresh_now)
    return SegmentRead.model_validate(row)


def _after_change(session: Session, row: Segment, *, refresh_now: bool) -> None:
    if refresh_now:
        _refresh_row(session, row, mode="full", now=utcnow())
    else:
        jobs_service.enqueue(
            session,
            kind=REFRESH_JOB,
            payload={"segment_id": row.id},
            dedupe_key=f"segments.refresh:{row.id}",
        )


def update(
    session: Session, *, segment_id: int, data: SegmentUpdate, refresh_now: bool = False
) -> SegmentRead:
    row = _row(session, segment_id)
    given = data.model_dump(exclude_unset=True)
    if given.get("name") is not None:
        new_name = _check_name(session, given["name"], own_id=row.id)
        if new_name != row.name:
            users = _users_of(session, row.name, exclude=row.id)
            if users:
                raise _error(
                    Conflict,
                    N_("segments {names} refer to {name!r} by name; change them first"),
                    field="name",
                    names=", ".join(users),
                    name=row.name,
                )
            row.name = new_name
    if given.get("description") is not None:
        row.description = given["description"]
    changed_query = "query" in given and given["query"] != row.query
    if changed_query:
        if row.kind == SegmentKind.STATIC.value:
            raise _error(ValidationError, N_("a static list has no query"), field="query")
        if not given["query"] or not str(given["query"]).strip():
            raise _error(ValidationError, N_("a dynamic segment needs a query"), field="query")
        row.time_based = check(session, query=given["query"], name=row.name)
        row.query = given["query"]
        row.refreshed_at = None  # the next refresh, even an incremental one, is full
    row.updated_at = utcnow()
    session.flush()
    if changed_query:
        _after_change(session, row, refresh_now=refresh_now)
    return SegmentRead.model_validate(row)


def _users_of(session: Session, name: str, *, exclude: int | None = None) -> _list[str]:
    """Names of dynamic segments whose query says in_segment(name)."""
    out = []
    for sid, sname, query in session.execute(
        select(Segment.id, Segment.name, Segment.query).where(Segment.query.is_not(None))
    ):
        if sid != exclude and query and name in referenced_segments(query):
            out.append(sname)
    return sorted(out)


def delete(session: Session, *, segment_id: int) -> None:
    """Delete a segment: every member exits (recorded), then the segment goes."""
    row = _row(session, segment_id)
    users = _users_of(session, row.name, exclude=row.id)
    if users:
        raise _error(
            Conflict,
            N_("segments {names} use this segment; change them first"),
            field="segment_id",
            names=", ".join(users),
        )
    membership.clear(session, segment=row, now=utcnow())
    h = table_of(SegmentHistory)
    session.execute(h.delete().where(h.c.segment_id == row.id))
    m = table_of(SegmentMember)
    session.execute(m.delete().where(m.c.segment_id == row.id))
    session.delete(row)
    session.flush()


# --- members ----------------------------------------------------------------------------


def members(
    session: Session, *, segment_id: int, cursor: str | None = None, limit: int = 50
) -> MemberPage:
    """Current members by customer id, keyset-paginated."""
    _row(session, segment_id)
    limit = clamp_limit(limit, maximum=1000)
    m = table_of(SegmentMember).c
    c = customers_service.customers_table().c
    stmt = (
        select(*_member_columns(), m.entered_at)
        .join_from(
            table_of(SegmentMember), customers_service.customers_table(), c.id == m.customer_id
        )
        .where(m.segment_id == segment_id)
    )
    if cursor:
        (last,) = decode_cursor(cursor, arity=1)
        if not isinstance(last, int):
            raise _error(ValidationError, N_("cursor is not valid"), field="cursor")
        stmt = stmt.where(m.customer_id > last)
    rows = session.execute(stmt.order_by(m.customer_id).limit(limit + 1)).all()
    items = [_member(r, r[7]) for r in rows[:limit]]
    nxt = encode_cursor([items[-1].customer_id]) if len(rows) > limit else None
    return MemberPage(items=items, next_cursor=nxt)


EXPORT_COLUMNS = (
    "customer_id",
    "email",
    "first_name",
    "last_name",
    "orders_count",
    "total_spent",
    "last_order_at",
    "entered_at",
)


def export_rows(session: Session, *, segment_id: int, batch: int = 5000) -> Iterator[str]:
    """The members as CSV text (header first), streamed in keyset batches."""
    _row(session, segment_id)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    cursor: str | None = None
    while True:
        page = members(session, segment_id=segment_id, cursor=cursor, limit=min(batch, 1000))
        for it in page.items:
            writer.writerow(
                [
                    it.customer_id,
                    it.email or "",
                    it.first_name or "",
                    it.last_name or "",
                    it.orders_count,
                    it.total_spent,
                    it.last_order_at.isoformat() if it.last_order_at else "",
                    it.entered_at.isoformat() if it.entered_at else "",
                ]
            )
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def history(
    session: Session,
    *,
    segment_id: int | None = None,
    customer_id: int | None = None,
    limit: int = 100,
) -> _list[SegmentHistoryRead]:
    """Entries and exits, newest first."""
    limit = clamp_limit(limit, maximum=1000)
    stmt = select(SegmentHistory)
    if segment_id is not None:
        stmt = stmt.where(SegmentHistory.segment_id == segment_id)
    if customer_id is not None:
        stmt = stmt.where(SegmentHistory.customer_id == customer_id)
    rows = session.scalars(
        stmt.order_by(SegmentHistory.entered_at.desc(), SegmentHistory.id.desc()).limit(limit)
    )
    return [SegmentHistoryRead.model_validate(r) for r in rows]


def _static(session: Session, segment_id: int) -> Segment:
    row = _row(session, segment_id)
    if row.kind != SegmentKind.STATIC.value:
        raise _error(
            ValidationError,
            N_("members of a dynamic segment follow its query; use a static list"),
            field="segment_id",
        )
    return row


def _resolve_ids(session: Session, change: MembersChange) -> tuple[_list[int], _list[str]]:
    """Live customer ids for the given ids and emails, and the identifiers not found."""
    c = customers_service.customers_table().c
    found: set[int] = set()
    missing: _list[str] = []
    ids = sorted(set(change.customer_ids))
    for i in range(0, len(ids), 1000):
        chunk = ids[i : i + 1000]
        got = set(session.scalars(select(c.id).where(c.id.in_(chunk), c.merged_into_id.is_(None))))
        found |= got
        missing += [str(x) for x in chunk if x not in got]
    emails = sorted({normalize_email(e) for e in change.emails if e.strip()})
    for i in range(0, len(emails), 1000):
        batch = emails[i : i + 1000]
        got_rows = session.execute(
            select(c.email, c.id).where(c.email.in_(batch), c.merged_into_id.is_(None))
        ).all()
        by_email = {e: cid for e, cid in got_rows}
        found |= set(by_email.values())
        missing += [e for e in batch if e not in by_email]
    return sorted(found), missing


def add_members(
    session: Session, *, segment_id: int, change: MembersChange, reason: str = "manual"
) -> MembersChanged:
    row = _static(session, segment_id)
    ids, missing = _resolve_ids(session, change)
    diff = membership.add_static(
        session, segment=row, customer_ids=ids, now=utcnow(), reason=reason
    )
    _refresh_dependents(session, row)
    return MembersChanged(
        added=len(diff.entered),
        unchanged=len(ids) - len(diff.entered),
        not_found=missing[:100],
        not_found_count=len(missing),
    )


def remove_members(session: Session, *, segment_id: int, change: MembersChange) -> MembersChanged:
    row = _static(session, segment_id)
    ids, missing = _resolve_ids(session, change)
    diff = membership.remove_static(session, segment=row, customer_ids=ids, now=utcnow())
    _refresh_dependents(session, row)
    return MembersChanged(
        removed=len(diff.exited),
        unchanged=len(ids) - len(diff.exited),
        not_found=missing[:100],
        not_found_count=len(missing),
    )


def import_list(session: Session, *, segment_id: int, text: str) -> MembersChanged:
    """Add the customers of a CSV to a static list: a column `email`, `customer_id` or
    `id` (header required), or one column of emails / ids without a header."""
    rows = _list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise _error(ValidationError, N_("the file has no rows"), field="file")
    header = [h.strip().lower() for h in rows[0]]
    change = MembersChange()
    emails: _list[str] = []
    ids: _list[int] = []
    if "email" in header or "customer_id" in header or "id" in header:
        col_email = header.index("email") if "email" in header else None
        col_id = next((header.index(k) for k in ("customer_id", "id") if k in header), None)
        body = rows[1:]
    elif len(header) == 1:
        col_email = col_id = 0
        body = rows
    else:
        raise _error(
            ValidationError,
            N_("name a column email, customer_id or id in the first row"),
            field="file",
        )
    for n, r in enumerate(body, start=2 if body is not rows else 1):
        email = r[col_email].strip() if col_email is not None and col_email < len(r) else ""
        cid = r[col_id].strip() if col_id is not None and col_id < len(r) else ""
        if "@" in email:
            emails.append(email)
        elif cid.isdigit():
            ids.append(int(cid))
        elif email or cid:
            raise _error(
                ValidationError,
                N_("row {row}: {value!r} is neither an email nor a customer id"),
                field="file",
                row=n,
                value=email or cid,
            )
    change = MembersChange.model_construct(customer_ids=ids, emails=emails)
    return add_members(session, segment_id=segment_id, change=change, reason="import")


# --- refresh ----------------------------------------------------------------------------


def _refresh_row(session: Session, row: Segment, *, mode: str, now: datetime) -> RefreshResult:
    started = time.perf_counter()
    change, checked = membership.refresh(session, segment=row, now=now, mode=mode)
    return RefreshResult(
        segment_id=row.id,
        mode="full" if checked is None else mode,
        entered=len(change.entered),
        exited=len(change.exited),
        members=row.member_count,
        checked=checked,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
    )


def refresh(
    session: Session, *, segment_id: int, mode: str = "full", now: datetime | None = None
) -> RefreshResult:
    """Recompute one dynamic segment (full), or only customers touched since its last run
    and those whose time conditions may have flipped (incremental)."""
    if mode not in ("full", "incremental"):
        raise _error(ValidationError, N_("mode must be full or incremental"), field="mode")
    row = _row(session, segment_id)
    if row.kind != SegmentKind.DYNAMIC.value:
        raise _error(
            ValidationError,
            N_("a static list is not refreshed; it changes when you add or remove members"),
            field="segment_id",
        )
    return _refresh_row(session, row, mode=mode, now=now or utcnow())


def refresh_all(
    session: Session, *, mode: str = "full", now: datetime | None = None
) -> _list[RefreshResult]:
    now = now or utcnow()
    ids = session.scalars(
        select(Segment.id).where(Segment.kind == SegmentKind.DYNAMIC.value).order_by(Segment.id)
    ).all()
    return [refresh(session, segment_id=sid, mode=mode, now=now) for sid in ids]


def _refresh_dependents(session: Session, row: Segment) -> None:
    """Dynamic segments reading this static list pick its change up on the next tick (the
    list's history is part of their scope); make sure the tick runs."""
    if _users_of(session, row.name, exclude=row.id):
        ensure_tick(session)


def tick(session: Session, *, now: datetime | None = None) -> _list[RefreshResult]:
    """One pass of the background loop: every dynamic segment is brought up to date for
    customers touched since its watermark and for relative-time conditions that may have
    flipped; a segment not fully refreshed for `full_refresh_hours` is refreshed in full."""
    now = now or utcnow()
    settings = get_settings(session)
    results = []
    full_after = now - timedelta(hours=settings.full_refresh_hours)
    for row in session.scalars(
        select(Segment).where(Segment.kind == SegmentKind.DYNAMIC.value).order_by(Segment.id)
    ).all():
        stale = row.full_refreshed_at is None or row.full_refreshed_at < full_after
        results.append(_refresh_row(session, row, mode="full" if stale else "incremental", now=now))
    return results


def ensure_tick(session: Session) -> int | None:
    """Run the segments loop soon, besides its schedule (one queued at a time)."""
    return jobs_service.enqueue(session, kind=TICK_JOB, payload={}, dedupe_key="segments.tick:soon")


# --- settings and built-in lifecycle segments -------------------------------------------


def get_settings(session: Session) -> LifecycleSettings:
    row = session.get(SegmentSettings, _SETTINGS_KEY)
    return LifecycleSettings.model_validate(row.value) if row else LifecycleSettings()


def update_settings(session: Session, *, settings: LifecycleSettings) -> LifecycleSettings:
    row = session.get(SegmentSettings, _SETTINGS_KEY)
    if row is None:
        row = SegmentSettings(key=_SETTINGS_KEY, value={}, updated_at=utcnow())
        session.add(row)
    row.value = settings.model_dump()
    row.updated_at = utcnow()
    session.flush()
    return settings


def thresholds(session: Session) -> Thresholds:
    """The lifecycle thresholds in force (derived from this store's purchase cycle)."""
    return builtins.thresholds(session, get_settings(session))


def install_builtins(session: Session, *, refresh_now: bool = False) -> _list[SegmentRead]:
    """Create or update the built-in lifecycle segments with thresholds derived now. A
    built-in renamed by the marketer keeps its name; its query follows the thresholds."""
    found = thresholds(session)
    now = utcnow()
    out = []
    for spec in builtins.BUILTINS:
        query = found.queries[spec.key]
        row = session.scalar(select(Segment).where(Segment.builtin == spec.key))
        if row is None:
            name = spec.name
            if session.scalar(select(Segment.id).where(Segment.name == name)) is not None:
                name = f"{spec.name} (built-in)"
            row = Segment(
                name=name,
                description=spec.description,
                kind=SegmentKind.DYNAMIC.value,
                query=query,
                builtin=spec.key,
                time_based=check(session, query=query),
                member_count=0,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            changed = True
        else:
            changed = row.query != query
            if changed:
                row.query = query
                row.time_based = check(session, query=query, name=row.name)
                row.updated_at = now
        if changed or refresh_now:
            _after_change(session, row, refresh_now=refresh_now)
        out.append(SegmentRead.model_validate(row))
    session.flush()
    return out


def fields() -> dict[str, str]:
    """Every field the language knows (with registered extra fields) and its kind."""
    return dict(describe_fields())


def members_count(session: Session, *, segment_id: int) -> int:
    m = table_of(SegmentMember).c
    return int(session.scalar(select(func.count()).where(m.segment_id == segment_id)) or 0)


def membership_rows(session: Session) -> Any:
    """(customer_id, key = segment name) of every current member of every segment: the
    source of analytics' breakdown by segment (wired in patron.wiring)."""
    m = table_of(SegmentMember)
    return select(m.c.customer_id, Segment.name.label("key")).join_from(
        m, Segment, Segment.id == m.c.segment_id
    )


def ids_of(session: Session, *, segment_id: int) -> Sequence[int]:
    """Every member's customer id (for campaigns and flows)."""
    m = table_of(SegmentMember).c
    return session.scalars(
        select(m.customer_id).where(m.segment_id == segment_id).order_by(m.customer_id)
    ).all()
