"""The builder's live count at any store size: exact within a time budget, else estimated.

A count over a million profiles with event and order conditions takes seconds, and the
builder asks for one as the marketer types. With a budget (the web builder's), the exact
count and the newest members run under a statement deadline (PostgreSQL's
`statement_timeout` inside a savepoint; SQLite's progress handler); what does not finish
in time is estimated instead from a sample of customers: SAMPLE_RANGES ranges of ids
spread over the whole id space (ids grow with time, so every age of customer is in it),
about SAMPLE_CUSTOMERS ids in all, with every subquery of the compiled query joined to the
sample (the compiler's scope), so the database reads only the sampled customers' events
and orders. The estimate is the sample's count scaled by the id space it covers, and it
says so. Without a budget (the API, the CLI) the count is exact, as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from patron.customers import service as customers_service
from patron.segments import membership

SAMPLE_CUSTOMERS = 5000  # ids in the estimate's sample (about as many customers)
SAMPLE_RANGES = 20
T = TypeVar("T")


class OverBudget(Exception):
    """A statement did not finish before its deadline (and was cancelled)."""


@contextmanager
def deadline(session: Session, ms: float) -> Iterator[None]:
    """Cancel any statement of the block still running after `ms` milliseconds and raise
    OverBudget. Inside a transaction the block runs in a savepoint (a cancelled statement
    aborts only that); PostgreSQL's autocommit readers set and reset the timeout."""
    if ms <= 0:
        raise OverBudget
    conn = session.connection()
    if session.get_bind().dialect.name == "postgresql":
        # JIT compiling costs more than these short statements save (about 100 ms at 1M)
        if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            conn.exec_driver_sql(f"SET statement_timeout = {max(1, int(ms))}; SET jit = off")
            try:
                yield
            except OperationalError as exc:
                raise OverBudget from exc
            finally:
                conn.exec_driver_sql("RESET statement_timeout; RESET jit")
            return
        with _savepoint(session):
            session.execute(sa.text(f"SET LOCAL statement_timeout = {max(1, int(ms))}"))
            session.execute(sa.text("SET LOCAL jit = off"))
            yield
            session.execute(sa.text("SET LOCAL statement_timeout = 0"))
        return
    raw = conn.connection.dbapi_connection
    assert raw is not None
    stop_at = time.perf_counter() + ms / 1000
    raw.set_progress_handler(lambda: time.perf_counter() > stop_at, 2000)
    try:
        with _savepoint(session):
            yield
    finally:
        raw.set_progress_handler(None, 0)


@contextmanager
def _savepoint(session: Session) -> Iterator[None]:
    nested = session.begin_nested()
    try:
        yield
        nested.commit()
    except OperationalError as exc:
        nested.rollback()
        raise OverBudget from exc
    except BaseException:
        nested.rollback()
        raise


def bounded(session: Session, ms: float, work: Callable[[], T]) -> T | None:
    """`work()`, or None if it did not finish within `ms` milliseconds."""
    try:
        with deadline(session, ms):
            return work()
    except OverBudget:
        return None


@dataclass(frozen=True)
class Counted:
    count: int | None  # None: neither the count nor the estimate fit in the budget
    estimated: bool
    sampled_share: float | None  # the share of the id space the estimate read
    member_ids: list[int]  # newest first
    time_based: bool = False  # the query has relative-time conditions


def sample_ranges(lo: int, hi: int) -> list[tuple[int, int]]:
    """SAMPLE_RANGES id ranges of SAMPLE_CUSTOMERS ids in all in [lo, hi], the first ending
    at hi (so its members are the newest ones), the others spread evenly below it. A small
    sample keeps the plan on the (customer, time) indexes: a probe per sampled customer."""
    span = hi - lo + 1
    width = max(1, SAMPLE_CUSTOMERS // SAMPLE_RANGES)
    if width * SAMPLE_RANGES >= span:
        return [(lo, hi)]
    step = span / SAMPLE_RANGES
    out = []
    for i in range(SAMPLE_RANGES):
        top = hi - int(i * step)
        out.append((max(lo, top - width + 1), top))
    return out


@dataclass(frozen=True)
class Sampled:
    """The query's members among the sampled ids, and how much of the id space that is."""

    members: sa.Select[Any]
    covered: int  # ids in the sample's ranges
    span: int  # ids from the first to the last customer

    def scale(self, n: int) -> int:
        return round(n * self.span / self.covered)

    @property
    def share(self) -> float:
        return round(self.covered / self.span, 4)


def sampled(session: Session, *, query: str, now: datetime) -> Sampled | None:
    """The estimate's sample (None: no customers): every subquery of the compiled query
    joins the sampled ids, so it reads only their events and orders."""
    c = customers_service.customers_table().c
    lo, hi = session.execute(select(func.min(c.id), func.max(c.id))).one()
    if lo is None:
        return None
    ranges = sample_ranges(int(lo), int(hi))
    inside = sa.or_(*[c.id.between(a, b) for a, b in ranges])
    scope = select(c.id.label("customer_id")).where(inside).subquery("sampled")
    compiled = membership.compile_for(session, query=query, now=now, scope=scope)
    return Sampled(
        members=membership.member_select(compiled).where(inside),
        covered=sum(b - a + 1 for a, b in ranges),
        span=int(hi) - int(lo) + 1,
    )


def newest(session: Session, members: sa.Select[Any], n: int) -> list[int]:
    c = customers_service.customers_table().c
    return [int(r[0]) for r in session.execute(members.order_by(c.id.desc()).limit(n))]


def how_many(session: Session, members: sa.Select[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(members.subquery())) or 0)


def count(session: Session, *, query: str, sample: int, now: datetime, budget_ms: float) -> Counted:
    """Count and newest members of `query` within about `budget_ms` (see the module):
    the exact count first, then the newest members; what did not fit comes from the
    sample (the sample's newest ids are the store's newest, so its members are too)."""
    started = time.perf_counter()

    def left(share: float = 1.0) -> float:
        return (budget_ms - (time.perf_counter() - started) * 1000) * share

    compiled = membership.compile_for(session, query=query, now=now)
    timed = bool(compiled.atoms)
    members = membership.member_select(compiled)
    exact = bounded(session, left(0.45), lambda: how_many(session, members))
    if exact is not None:
        found = bounded(session, left(0.8), lambda: newest(session, members, sample))
        if found is not None:
            return Counted(exact, False, None, found, timed)
    part = sampled(session, query=query, now=now)
    if part is None:
        return Counted(0, False, None, [], timed)

    def newest_sampled() -> list[int]:
        return bounded(session, left(), lambda: newest(session, part.members, sample)) or []

    if exact is not None:
        return Counted(exact, False, None, newest_sampled(), timed)
    n = bounded(session, left(0.7), lambda: how_many(session, part.members))
    estimate = None if n is None else part.scale(n)
    return Counted(estimate, True, part.share, newest_sampled(), timed)
