"""Sessions of tracked events for the KPIs: built live, or read from analytics_sessions.

A session is a run of one customer's tracked events (page, screen, track) by time, with no
gap over 30 minutes; it converted when a counted order of the customer falls in
[first event, last event + 30 minutes]. The KPI report counts sessions per period, as if
each period were read on its own (events of one period never join a session of another).

`live_counts` numbers the events of the periods with window functions (the definition).
`refresh` keeps analytics_sessions (one row per session of the whole history) current from
the changes stamped after the watermark (ADR 21); `stored_counts` reads it and stays exact
while the job lags: the customers touched after the watermark, and those with a stored
session across a period's bound, are numbered live; everyone else's sessions are the rows.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    union,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from patron.analytics.models import SessionMark, SessionUpkeep, StoredSession
from patron.analytics.sqlfns import at, counted, days, dialect, elapsed, orders, plus_minutes
from patron.core.time import utcnow
from patron.db import table_of
from patron.events import service as events_service

SESSION_GAP_DAYS = 30 / 1440  # 30 minutes of inactivity end a session
SESSION_EVENT_TYPES = ("page", "screen", "track")
# An order up to 30 minutes after a session's last event converts it; the index range looks
# one minute further so that the float day comparison decides, not the range.
CONVERSION_REACH_MINUTES = 31
# A change stamped this long before a refresh started but committed after it began is
# still read live and rebuilt by the next refresh (writers' transactions are shorter).
LAG_MARGIN = timedelta(minutes=10)
_UPKEEP_ID = 1
_CHUNK = 500

Window = tuple[datetime, datetime]  # a period [start, end) in UTC


def _tracked(e: Any) -> ColumnElement[bool]:
    return and_(e.c.type.in_(SESSION_EVENT_TYPES), e.c.customer_id.is_not(None))


def _numbered(session: Session, where: Sequence[Any], part: Any | None) -> Any:
    """Sessions (customer_id[, part], s_start, s_end, n) of the tracked events matching
    `where`, numbered per customer (and per `part`, a CASE over the events' columns)."""
    e = events_service.events_table()
    keys: list[Any] = [e.c.customer_id] + ([part] if part is not None else [])
    cols: list[Any] = [e.c.customer_id] + ([part.label("part")] if part is not None else [])
    ev = (
        select(
            *cols,
            e.c.timestamp,
            func.lag(e.c.timestamp)
            .over(partition_by=keys, order_by=(e.c.timestamp, e.c.id))
            .label("prev"),
            e.c.id,
        )
        .where(_tracked(e), *where)
        .subquery("ev")
    )
    starts = case(
        (
            or_(
                ev.c.prev.is_(None),
                days(session, ev.c.timestamp) - days(session, ev.c.prev) > SESSION_GAP_DAYS,
            ),
            1,
        ),
        else_=0,
    )
    pkeys: list[Any] = [ev.c.customer_id] + ([ev.c.part] if part is not None else [])
    numbered = select(
        *pkeys,
        ev.c.timestamp,
        func.sum(starts)
        .over(partition_by=pkeys, order_by=(ev.c.timestamp, ev.c.id), rows=(None, 0))
        .label("sid"),
    ).subquery("numbered")
    gkeys: list[Any] = [numbered.c.customer_id] + ([numbered.c.part] if part is not None else [])
    return (
        select(
            *gkeys,
            func.min(numbered.c.timestamp).label("s_start"),
            func.max(numbered.c.timestamp).label("s_end"),
            func.count().label("n"),
        )
        .group_by(*gkeys, numbered.c.sid)
        .subquery("sess")
    )


def _converting(session: Session, sess: Any) -> Any:
    """The counted orders of the customer in [s_start, s_end + 30 minutes], bounded in
    placed_at so that the index (customer_id, placed_at) reads only real candidates; the day
    comparison after the bound is the rule itself."""
    o = orders()
    return (
        o,
        (
            o.c.customer_id == sess.c.customer_id,
            o.c.placed_at >= sess.c.s_start,
            o.c.placed_at <= plus_minutes(session, sess.c.s_end, CONVERSION_REACH_MINUTES),
            counted(o),
            days(session, o.c.placed_at) <= days(session, sess.c.s_end) + SESSION_GAP_DAYS,
        ),
    )


def _converted(session: Session, sess: Any) -> Any:
    """Whether an order converts the session: one index probe per session."""
    o, where = _converting(session, sess)
    return exists(select(o.c.id).where(*where))


def _converter(session: Session, sess: Any) -> Any:
    """The lowest id of the orders that convert the session (null: none)."""
    o, where = _converting(session, sess)
    return select(func.min(o.c.id)).where(*where).scalar_subquery()


def _part(column: Any, periods: Sequence[Window]) -> Any:
    return case(*[(and_(column >= at(a), column < at(b)), i) for i, (a, b) in enumerate(periods)])


def _live(session: Session, periods: Sequence[Window], customers: Any | None) -> Any:
    """(part, converted 0/1) per session of each period, numbered from the events; only the
    customers in `customers` (a select of ids) when given."""
    e = events_service.events_table()
    lo, hi = min(a for a, _ in periods), max(b for _, b in periods)
    where: list[Any] = [e.c.timestamp >= at(lo), e.c.timestamp < at(hi)]
    if customers is not None:
        where.append(e.c.customer_id.in_(customers))
    sess = _numbered(session, where, _part(e.c.timestamp, periods))
    return select(sess.c.part, case((_converted(session, sess), 1), else_=0).label("k"))


def _tally(session: Session, rows: Any, n: int) -> list[tuple[int, int]]:
    got = [(0, 0)] * n
    q = select(rows.c.part, func.count(), func.coalesce(func.sum(rows.c.k), 0)).group_by(
        rows.c.part
    )
    for i, sessions, converted in session.execute(q):
        if i is not None:
            got[int(i)] = (int(sessions), int(converted))
    return got


def live_counts(session: Session, periods: Sequence[Window]) -> list[tuple[int, int]]:
    """(sessions, converted sessions) of each period, from one read of the events."""
    return _tally(session, _live(session, periods, None).subquery("rows"), len(periods))


# --- the stored sessions ------------------------------------------------------------------


def sessions_table() -> Any:
    return table_of(StoredSession)


def _touched(since: datetime) -> list[Any]:
    """Selects of the customers whose sessions may differ from the stored rows: a tracked
    event received, an order written (placed, changed, cancelled: its customer now) or a
    mark after `since`, and the customer of a session whose converting order was written
    since (an order moved to another customer leaves that session unconverted)."""
    e = events_service.events_table()
    o = orders()
    m = table_of(SessionMark)
    s = sessions_table()
    written = select(o.c.id).where(o.c.updated_at > at(since))
    return [
        select(e.c.customer_id).where(e.c.stored_at > at(since), _tracked(e)),
        select(o.c.customer_id).where(o.c.updated_at > at(since), o.c.customer_id.is_not(None)),
        select(m.c.customer_id).where(m.c.marked_at > at(since)),
        select(s.c.customer_id).where(s.c.converted_by.in_(written)),
    ]


def stored_counts(session: Session, periods: Sequence[Window]) -> list[tuple[int, int]] | None:
    """The same as `live_counts`, from analytics_sessions; None when it was never built.

    One statement (one snapshot): the live customers are those touched after the watermark
    and those with a stored session across a bound of a period (a period's part of such a
    session is not a stored row); their sessions are numbered from the events. Every other
    customer's sessions in the periods lie inside one period each: the stored rows, counted
    from one index-only range of started_at.
    """
    state = session.execute(
        select(SessionUpkeep.watermark, SessionUpkeep.longest_seconds).where(
            SessionUpkeep.id == _UPKEEP_ID
        )
    ).one_or_none()
    if state is None:
        return None
    watermark, longest_s = state
    longest = timedelta(seconds=int(longest_s or 0))
    s = sessions_table()
    bounds = sorted({t for w in periods for t in w})
    across = or_(
        *[
            and_(s.c.started_at >= at(b - longest), s.c.started_at < at(b), s.c.ended_at >= at(b))
            for b in bounds
        ]
    )
    live = union(*_touched(watermark), select(s.c.customer_id).where(across)).cte("live")
    lo, hi = bounds[0], bounds[-1]
    kept: list[Any] = []
    for a, b in periods:
        within = and_(s.c.started_at >= at(a), s.c.started_at < at(b))
        kept += [
            func.count().filter(within),
            func.count().filter(and_(within, s.c.converted_by.is_not(None))),
        ]
    stored_rows = select(*kept).where(
        s.c.started_at >= at(lo),
        s.c.started_at < at(hi),
        ~exists(select(live.c.customer_id).where(live.c.customer_id == s.c.customer_id)),
    )
    rows = _live(session, periods, select(live.c.customer_id)).subquery("rows")
    numbered: list[Any] = []
    for i in range(len(periods)):
        numbered += [
            func.count().filter(rows.c.part == i),
            func.sum(rows.c.k).filter(rows.c.part == i),
        ]
    got = [0] * (2 * len(periods))
    for row in session.execute(union_all(stored_rows, select(*numbered))):
        got = [g + int(v or 0) for g, v in zip(got, row, strict=True)]
    return [(got[2 * i], got[2 * i + 1]) for i in range(len(periods))]


@dataclass(frozen=True)
class SessionRefresh:
    full: bool
    customers: int | None  # customers rebuilt; None: all
    sessions: int  # rows written
    watermark: datetime


def _rebuild(
    session: Session, events_where: Sequence[Any], rows_where: Sequence[Any]
) -> tuple[int, int]:
    """Insert the sessions of the tracked events matching `events_where` (whole history per
    customer); returns the rows matching `rows_where` and their longest length."""
    sess = _numbered(session, events_where, None)
    conv = _converter(session, sess)
    session.execute(
        insert(sessions_table()).from_select(
            ["customer_id", "started_at", "ended_at", "events", "converted_by"],
            select(sess.c.customer_id, sess.c.s_start, sess.c.s_end, sess.c.n, conv),
        )
    )
    return _span(session, *rows_where)


def _touched_ids(session: Session, since: datetime) -> list[int]:
    q = union(*_touched(since)).subquery("t")
    return sorted(int(c) for c in session.scalars(select(q.c.customer_id)) if c is not None)


def refresh(session: Session, *, now: datetime | None = None, full: bool = False) -> SessionRefresh:
    """Bring analytics_sessions up to the changes stamped before `now` - LAG_MARGIN.

    The first refresh (or `full`) builds every customer's sessions in one INSERT ... SELECT;
    later ones rebuild, in chunks of customers, those touched after the watermark: a new
    tracked event (late ones with old timestamps too), a written order (a session that gains
    an order, or loses it to a cancellation), a mark left by a merge or its undo. Rebuilt
    from the rows as they are, so a retry or an overlap changes nothing.
    """
    t0 = time.perf_counter()
    now = now or utcnow()
    s = sessions_table()
    e = events_service.events_table()
    state = session.get(SessionUpkeep, _UPKEEP_ID, with_for_update=True)
    mark = now - LAG_MARGIN
    if state is None or full:
        session.execute(delete(s))
        written, longest = _rebuild(session, [], [])
        customers: int | None = None
        if state is None:
            state = SessionUpkeep(id=_UPKEEP_ID, watermark=mark, refreshed_at=now)
            session.add(state)
        state.watermark = mark
        state.longest_seconds = longest
        if dialect(session) == "postgresql":  # the planner's row counts for the reads
            session.execute(text("ANALYZE analytics_sessions"))
    else:
        ids = _touched_ids(session, state.watermark)
        written, longest = 0, int(state.longest_seconds or 0)
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            session.execute(delete(s).where(s.c.customer_id.in_(chunk)))
            n, most = _rebuild(session, [e.c.customer_id.in_(chunk)], [s.c.customer_id.in_(chunk)])
            written += n
            longest = max(longest, most)
        customers = len(ids)
        state.watermark = max(state.watermark, mark)
        state.longest_seconds = longest
    m = table_of(SessionMark)
    session.execute(delete(m).where(m.c.marked_at <= at(state.watermark)))
    state.refreshed_at = now
    state.sessions = written
    state.customers = customers
    state.duration_ms = int((time.perf_counter() - t0) * 1000)
    session.flush()
    return SessionRefresh(
        full=customers is None, customers=customers, sessions=written, watermark=state.watermark
    )


def _span(session: Session, *where: Any) -> tuple[int, int]:
    """Rows of analytics_sessions matching `where` and their longest length in whole
    seconds, rounded up."""
    s = sessions_table()
    millis, micros = elapsed(session, s.c.started_at, s.c.ended_at)
    n, longest_us = session.execute(
        select(func.count(), func.max(millis * 1000 + micros)).where(*where)
    ).one()
    return int(n), -(-int(longest_us or 0) // 10**6)


def mark(session: Session, customer_ids: Iterable[int], *, at_time: datetime | None = None) -> None:
    """Note customers whose events or orders moved without a new stamp (merges)."""
    ids = sorted({int(c) for c in customer_ids})
    if not ids:
        return
    when = at_time or utcnow()
    ins = pg_insert if dialect(session) == "postgresql" else sqlite_insert
    m = table_of(SessionMark)
    for i in range(0, len(ids), _CHUNK):
        stmt = ins(m).values([{"customer_id": c, "marked_at": when} for c in ids[i : i + _CHUNK]])
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=[m.c.customer_id], set_={"marked_at": stmt.excluded.marked_at}
            )
        )


class SessionsFollowCustomer:
    """Stored sessions follow a customer through a merge and back (customers' MergeHook):
    both customers are marked, so reads number them live until the next refresh."""

    name = "analytics_sessions"

    def move(self, session: Session, *, loser_id: int, winner_id: int) -> list[int]:
        mark(session, [loser_id, winner_id])
        return []

    def restore(self, session: Session, *, ids: list[int], loser_id: int) -> None:
        mark(session, [loser_id])

    def refresh(self, session: Session, *, customer_ids: list[int]) -> None:
        mark(session, customer_ids)
