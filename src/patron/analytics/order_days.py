"""The order-day summary: the KPI window's order facts added up per store-local day (ADR 25).

`analytics_order_days` holds, per (local placement day, local day of the previous counted
order, customer known), the counted orders, their net revenue and the exact sum of their
gaps. Every condition of the KPI window (placed in a period, first in it, previous order in
the period before, a gap closed) compares a placement or a previous placement with a
period's bounds, which are local midnights: so a period's facts are sums over its days'
rows, a few thousand rows instead of a million index entries.

Exact at every moment: the orders table's triggers mark the UTC day of every change
(orders/day_marks.py). A read takes the stored rows of the days no mark touches and sums
the marked days live from the orders (a UTC day touches the local days before, on and after
it, whatever the zone); the refresh job rebuilds the marked days and deletes the marks it
read. Not built yet, or built in another zone than the store's: everything live.

A build (the first, after a zone change, on request, or when the marked days hold more
orders than a chunk) runs in chunks of local days, oldest first, each its own short
transaction (the boundary commits between calls of `refresh` while it answers `more`), so
no transaction holds SQLite's write lock for long. The upkeep row's `built_to` is the first
local day not built yet: a read takes those days, and later ones, live, like marked days;
rows left there by an earlier build are replaced by their chunk. The build deletes the
marks when it starts (every day is built after that, from orders that include those
changes) and never during it: a change written meanwhile marks its days, which stay read
live until the refresh after the build rebuilds them, whether their chunk was built before
or after the change. A build stopped between chunks resumes from `built_to`; one stopped
inside a chunk rolled back with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    and_,
    case,
    cast,
    delete,
    extract,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
)
from sqlalchemy.orm import Session

from patron.analytics.models import OrderDayFact, OrderDaysUpkeep
from patron.analytics.sqlfns import at, counted, dialect, elapsed, net, orders
from patron.core.errors import ValidationError
from patron.core.time import utcnow
from patron.db import table_of
from patron.orders import service as orders_service

_UPKEEP_ID = 1
_CHUNK = 500  # keys per IN (...)
# orders per chunk of a build: one chunk's INSERT ... SELECT takes about 0.3-0.6 s at 10M
# orders on SQLite (bench/analytics.py --only order_days)
CHUNK_ORDERS = 150_000

Range = tuple[datetime, datetime]  # [start, end) in UTC
OpenRange = tuple[datetime, datetime | None]  # [start, end) in UTC; None: no end


def facts_table() -> Any:
    return table_of(OrderDayFact)


# --- days in the store's zone ---------------------------------------------------------------


def midnight(zone: ZoneInfo, d: date) -> datetime:
    """The UTC instant of local midnight starting `d`."""
    return datetime.combine(d, time(0), zone).astimezone(UTC)


def _offsets(zone: ZoneInfo, lo: datetime, hi: datetime) -> list[tuple[datetime, int]]:
    """(from, UTC offset in seconds) for each stretch of constant offset covering [lo, hi]:
    the zone's transitions found day by day, then to the second."""

    def offset(t: datetime) -> int:
        got = t.astimezone(zone).utcoffset()
        return int(got.total_seconds()) if got is not None else 0

    t = lo - timedelta(days=2)
    out = [(t, offset(t))]
    while t < hi + timedelta(days=2):
        nxt = t + timedelta(days=1)
        if offset(nxt) != out[-1][1]:
            a, b = t, nxt  # offset(a) is the old one, offset(b) the new
            while b - a > timedelta(seconds=1):
                mid = a + (b - a) / 2
                a, b = (mid, b) if offset(mid) == out[-1][1] else (a, mid)
            out.append((b, offset(b)))
        t = nxt
    return out


def local_days(
    session: Session, zone: ZoneInfo, lo: datetime, hi: datetime
) -> Callable[[Any], Any]:
    """A function giving the store-local date of a stored UTC datetime in [lo, hi]
    (PostgreSQL: its own zone rules; SQLite: the zone's offsets for that stretch, found once,
    as a CASE: `date(x, '+N seconds')`)."""
    if dialect(session) == "postgresql":
        return lambda expr: cast(func.timezone(str(zone.key), expr), Date)
    stretches = _offsets(zone, lo, hi)

    def on_sqlite(expr: Any) -> Any:
        if len(stretches) == 1:
            return func.date(expr, f"{stretches[0][1]:+d} seconds")
        modifier = case(
            *[
                (expr < at(start), f"{prev:+d} seconds")
                for (_, prev), (start, _) in zip(stretches, stretches[1:], strict=False)
            ],  # fmt: skip
            else_=f"{stretches[-1][1]:+d} seconds",
        )
        return func.date(expr, modifier)

    return on_sqlite


def dirty_days(marked: Iterable[str]) -> set[date]:
    """The local days a set of marked UTC days may touch (any zone is within a day of UTC)."""
    out: set[date] = set()
    for text_day in marked:
        d = date.fromisoformat(text_day)
        out.update((d - timedelta(days=1), d, d + timedelta(days=1)))
    return out


def day_ranges(zone: ZoneInfo, days: Iterable[date]) -> list[Range]:
    """Contiguous runs of local days as UTC ranges (local midnights)."""
    runs: list[list[date]] = []  # [first, last] of each run
    for d in sorted(set(days)):
        if runs and d == runs[-1][1] + timedelta(days=1):
            runs[-1][1] = d
        else:
            runs.append([d, d])
    return [(midnight(zone, a), midnight(zone, b + timedelta(days=1))) for a, b in runs]


# --- state ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """What a read may take from the summary: built in the store's zone; these local days
    must be read live (marked, or not built yet by a build under way)."""

    dirty: set[date]


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def unbuilt_days(session: Session, built_to: date) -> set[date]:
    """The local days a build under way has not built yet that may hold an order or a row:
    `built_to` up to the last order's day (a local day is within a day of the UTC one) or
    the last stored row's day, whichever is later. Later days hold neither: empty both
    ways (an order written there meanwhile marks its day)."""
    o, f = orders(), facts_table()
    last_order = session.scalar(select(func.max(o.c.placed_at)))
    last_row = _as_date(session.scalar(select(func.max(f.c.day))))
    ends = [built_to, last_row or built_to]
    if last_order is not None:
        ends.append(last_order.date() + timedelta(days=1))
    return {built_to + timedelta(days=i) for i in range((max(ends) - built_to).days + 1)}


def stored(session: Session, zone_name: str) -> Stored | None:
    """The summary's state for a read, or None when it cannot be used (never built, or built
    in another zone)."""
    state = session.execute(
        select(OrderDaysUpkeep.zone, OrderDaysUpkeep.built_to).where(
            OrderDaysUpkeep.id == _UPKEEP_ID
        )
    ).first()
    if state is None or state.zone != zone_name:
        return None
    m = orders_service.day_marks_table()
    dirty = dirty_days(session.scalars(select(m.c.day).distinct()))
    built_to = _as_date(state.built_to)
    if built_to is not None:
        dirty |= unbuilt_days(session, built_to)
    return Stored(dirty=dirty)


# --- refresh --------------------------------------------------------------------------------


def _gap_parts(session: Session, o: Any) -> tuple[Any, Any]:
    """An order's gap to its previous one as (whole milliseconds, rest in microseconds)."""
    if dialect(session) == "postgresql":
        micros = cast(extract("epoch", o.c.placed_at - o.c.prev_placed_at) * 1_000_000,
                      BigInteger)  # fmt: skip
        return micros // 1000, micros % 1000
    return elapsed(session, o.c.prev_placed_at, o.c.placed_at)


def _placed_in(o: Any, ranges: Sequence[OpenRange]) -> Any:
    return or_(*[
        and_(o.c.placed_at >= at(a), *([] if b is None else [o.c.placed_at < at(b)]))
        for a, b in ranges
    ])  # fmt: skip


def _aggregate(session: Session, zone: ZoneInfo, ranges: Sequence[OpenRange] | None) -> Any:
    """counted orders grouped as the summary's rows: every order, or those placed in
    `ranges`."""
    o = orders()
    lo = hi = utcnow()
    if dialect(session) == "sqlite":  # the stretch of the zone's offsets the CASE must cover
        # apart: SQLite answers a lone min() or max() from the index's end, both together by
        # scanning all of it (0.8 s at 10M orders)
        ends = [select(fn(o.c.placed_at)).scalar_subquery() for fn in (func.min, func.max)]
        bounds = session.execute(select(*ends)).one()
        lo, hi = bounds[0] or lo, bounds[1] or hi
    local = local_days(session, zone, lo, hi)
    known = o.c.customer_id.is_not(None)
    day = local(o.c.placed_at).label("day")
    prev_day = case((known, local(o.c.prev_placed_at)), else_=null()).label("prev_day")
    flag = case((known, 1), else_=0).label("known")
    gapped = and_(known, o.c.prev_placed_at.is_not(None))
    millis, micros = _gap_parts(session, o)
    where: list[Any] = [counted(o)]
    if ranges is not None:
        where.append(_placed_in(o, ranges))
    return (
        select(
            day,
            prev_day,
            flag,
            func.count(),
            func.coalesce(func.sum(net(o)), 0),
            func.coalesce(func.sum(case((gapped, millis), else_=0)), 0),
            func.coalesce(func.sum(case((gapped, micros), else_=0)), 0),
        )
        .where(*where)
        .group_by(literal_column("1"), literal_column("2"), literal_column("3"))
    )


_COLUMNS = ["day", "prev_day", "known", "orders", "revenue", "gap_ms", "gap_us"]


@dataclass(frozen=True)
class OrderDaysRefresh:
    full: bool  # a step of a build (all days rebuilt, chunk by chunk)
    days: int | None  # local days rebuilt; None: a build's step
    rows: int  # the summary's rows after the step
    more: bool = False  # a build is under way: commit, then call again
    built_to: date | None = None  # the first local day a build under way has not built


def refresh(
    session: Session,
    *,
    zone_name: str,
    zone: ZoneInfo,
    full: bool = False,
    chunk_orders: int = CHUNK_ORDERS,
) -> OrderDaysRefresh:
    """One step, in the caller's transaction: the next chunk of a build under way (about
    `chunk_orders` orders of whole local days; `more` while chunks remain: commit, then call
    again); or start a build (`full`, the first time, when the store's zone changed, or when
    the marked days hold more orders than a chunk) and do its first chunk; or rebuild the
    days marked since the last refresh and delete the marks read. Marks written while this
    runs are newer than the ones read, so the next refresh takes them. `full` during a build
    under way in the store's zone continues it (a job run again after a kill resumes)."""
    if chunk_orders < 1:
        raise ValidationError("must be at least 1", field="chunk_orders")
    state = session.get(OrderDaysUpkeep, _UPKEEP_ID, with_for_update=True)
    if state is not None and state.zone == zone_name and state.built_to is not None:
        return _build_chunk(session, state, zone, chunk_orders)
    if full or state is None or state.zone != zone_name:
        return _start_build(session, state, zone_name, zone, chunk_orders)
    f = facts_table()
    m = orders_service.day_marks_table()
    marks = session.execute(select(m.c.id, m.c.day)).all()
    days = dirty_days(day for _, day in marks)
    ranges = day_ranges(zone, days)
    if ranges and _holds_more_than(session, ranges, chunk_orders):
        return _start_build(session, state, zone_name, zone, chunk_orders)
    ordered = sorted(days)
    for i in range(0, len(ordered), _CHUNK):
        session.execute(delete(f).where(f.c.day.in_(ordered[i : i + _CHUNK])))
    if ranges:
        session.execute(insert(f).from_select(_COLUMNS, _aggregate(session, zone, ranges)))
    ids = [int(i) for i, _ in marks]
    for i in range(0, len(ids), _CHUNK):
        session.execute(delete(m).where(m.c.id.in_(ids[i : i + _CHUNK])))
    written = _note(session, state)
    return OrderDaysRefresh(full=False, days=len(days), rows=written)


def _holds_more_than(session: Session, ranges: Sequence[Range], n: int) -> bool:
    """Whether the orders placed in `ranges` are more than `n` (reads at most n + 1 index
    entries)."""
    o = orders()
    some = select(literal(1)).where(_placed_in(o, ranges)).limit(n + 1).subquery()
    return int(session.scalar(select(func.count()).select_from(some)) or 0) > n


def _note(session: Session, state: OrderDaysUpkeep) -> int:
    written = int(session.scalar(select(func.count()).select_from(facts_table())) or 0)
    state.refreshed_at, state.rows = utcnow(), written
    session.flush()
    return written


def _start_build(
    session: Session,
    state: OrderDaysUpkeep | None,
    zone_name: str,
    zone: ZoneInfo,
    chunk_orders: int,
) -> OrderDaysRefresh:
    """Start a build from the first order's local day, and do its first chunk. Every mark
    is deleted: the changes they stand for are committed, so the chunks, all later, see
    them. Rows of later days stay until their chunk replaces them (a read takes those days
    live meanwhile), so a read that began before this commits still finds them."""
    f = facts_table()
    first = session.scalar(select(func.min(orders().c.placed_at)))
    start = None if first is None else first.astimezone(zone).date()
    session.execute(delete(f) if start is None else delete(f).where(f.c.day < start))
    session.execute(delete(orders_service.day_marks_table()))
    if state is None:
        state = OrderDaysUpkeep(id=_UPKEEP_ID, zone=zone_name, refreshed_at=utcnow(), rows=0)
        session.add(state)
    state.zone, state.built_to = zone_name, start
    if start is None:  # no orders: built, empty
        return OrderDaysRefresh(full=True, days=None, rows=_note(session, state))
    session.flush()
    return _build_chunk(session, state, zone, chunk_orders)


def _build_chunk(
    session: Session, state: OrderDaysUpkeep, zone: ZoneInfo, chunk_orders: int
) -> OrderDaysRefresh:
    """Build the local days from `built_to` on that hold about `chunk_orders` orders (whole
    days, at least one; the last chunk takes every later day) and move `built_to` past
    them."""
    f, o = facts_table(), orders()
    first = _as_date(state.built_to)
    assert first is not None
    start_at = midnight(zone, first)
    nth = session.scalar(
        select(o.c.placed_at)
        .where(o.c.placed_at >= at(start_at))
        .order_by(o.c.placed_at)
        .offset(chunk_orders)
        .limit(1)
    )
    end = None if nth is None else max(nth.astimezone(zone).date(), first + timedelta(days=1))
    ours = [f.c.day >= first] + ([] if end is None else [f.c.day < end])
    session.execute(delete(f).where(*ours))
    query = _aggregate(session, zone, [(start_at, None if end is None else midnight(zone, end))])
    session.execute(insert(f).from_select(_COLUMNS, query))
    state.built_to = end
    written = _note(session, state)
    return OrderDaysRefresh(full=True, days=None, rows=written, more=end is not None,
                            built_to=end)  # fmt: skip


# --- read -----------------------------------------------------------------------------------


def period_sums(
    f: Any, w: int, start: date, end: date, earlier: date, dirty: Sequence[date], buyers_only: bool
) -> Any:
    """One row of the window's facts for the local days [start, end) not in `dirty`, in the
    shape of kpis._window_facts' live rows: (w, orders, revenue, orders and revenue of known
    customers, buyers, retained, gaps, gap milliseconds, gap microseconds)."""
    known = f.c.known == 1
    first = and_(known, or_(f.c.prev_day.is_(None), f.c.prev_day < start))
    where: list[Any] = [f.c.day >= start, f.c.day < end]
    if dirty:
        where.append(f.c.day.not_in(sorted(dirty)))
    n = f.c.orders
    if buyers_only:
        zero = [literal(0, Integer)] * 4
        return select(
            literal(w, Integer), *zero, func.sum(n).filter(first), *zero[:2], null(), null()
        ).where(*where)
    return select(
        literal(w, Integer),
        func.sum(n),
        func.sum(f.c.revenue),
        func.sum(n).filter(known),
        func.sum(f.c.revenue).filter(known),
        func.sum(n).filter(first),
        func.sum(n).filter(and_(known, f.c.prev_day >= earlier, f.c.prev_day < start)),
        func.sum(n).filter(and_(known, f.c.prev_day.is_not(None))),
        func.sum(f.c.gap_ms),
        func.sum(f.c.gap_us),
    ).where(*where)
