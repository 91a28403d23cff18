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
from patron.core.time import utcnow
from patron.db import table_of
from patron.orders import service as orders_service

_UPKEEP_ID = 1
_CHUNK = 500

Range = tuple[datetime, datetime]  # [start, end) in UTC


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
    must be read live."""

    dirty: set[date]


def stored(session: Session, zone_name: str) -> Stored | None:
    """The summary's state for a read, or None when it cannot be used (never built, or built
    in another zone)."""
    built = session.scalar(select(OrderDaysUpkeep.zone).where(OrderDaysUpkeep.id == _UPKEEP_ID))
    if built != zone_name:
        return None
    m = orders_service.day_marks_table()
    return Stored(dirty=dirty_days(session.scalars(select(m.c.day).distinct())))


# --- refresh --------------------------------------------------------------------------------


def _gap_parts(session: Session, o: Any) -> tuple[Any, Any]:
    """An order's gap to its previous one as (whole milliseconds, rest in microseconds)."""
    if dialect(session) == "postgresql":
        micros = cast(extract("epoch", o.c.placed_at - o.c.prev_placed_at) * 1_000_000,
                      BigInteger)  # fmt: skip
        return micros // 1000, micros % 1000
    return elapsed(session, o.c.prev_placed_at, o.c.placed_at)


def _aggregate(session: Session, zone: ZoneInfo, ranges: Sequence[Range] | None) -> Any:
    """counted orders grouped as the summary's rows: every order, or those placed in
    `ranges`."""
    o = orders()
    lo = hi = utcnow()
    if dialect(session) == "sqlite":  # the stretch of the zone's offsets the CASE must cover
        bounds = session.execute(select(func.min(o.c.placed_at), func.max(o.c.placed_at))).one()
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
        where.append(or_(*[and_(o.c.placed_at >= at(a), o.c.placed_at < at(b)) for a, b in ranges]))
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
    full: bool
    days: int | None  # local days rebuilt; None: all
    rows: int  # the summary's rows after the refresh


def refresh(
    session: Session, *, zone_name: str, zone: ZoneInfo, full: bool = False
) -> OrderDaysRefresh:
    """Rebuild the days marked since the last refresh (all of them the first time, with
    `full`, or when the store's zone changed) and delete the marks read. Marks written
    while this runs are newer than the ones read, so the next refresh takes them."""
    f = facts_table()
    m = orders_service.day_marks_table()
    state = session.get(OrderDaysUpkeep, _UPKEEP_ID, with_for_update=True)
    marks = session.execute(select(m.c.id, m.c.day)).all()
    now = utcnow()
    rebuild = full or state is None or state.zone != zone_name
    if rebuild:
        session.execute(delete(f))
        days: set[date] | None = None
        query = _aggregate(session, zone, None)
    else:
        days = dirty_days(day for _, day in marks)
        ranges = day_ranges(zone, days)
        ordered = sorted(days)
        for i in range(0, len(ordered), _CHUNK):
            session.execute(delete(f).where(f.c.day.in_(ordered[i : i + _CHUNK])))
        query = _aggregate(session, zone, ranges) if ranges else None
    if query is not None:
        session.execute(insert(f).from_select(_COLUMNS, query))
    written = int(session.scalar(select(func.count()).select_from(f)) or 0)
    ids = [int(i) for i, _ in marks]
    for i in range(0, len(ids), _CHUNK):
        session.execute(delete(m).where(m.c.id.in_(ids[i : i + _CHUNK])))
    if state is None:
        state = OrderDaysUpkeep(id=_UPKEEP_ID, zone=zone_name, refreshed_at=now, rows=written)
        session.add(state)
    else:
        state.zone, state.refreshed_at, state.rows = zone_name, now, written
    session.flush()
    return OrderDaysRefresh(full=rebuild, days=None if days is None else len(days), rows=written)


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
