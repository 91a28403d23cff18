"""The order-day summary (ADR 25): triggers mark every change, days are the store's local
days (daylight saving included), and a KPI read from the summary equals one from the orders.

Both backends. The orders are written through the orders service (upsert, refunds,
cancellations) and by plain SQL updates and deletes, as another tool would; the triggers
must see all of them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from patron import db
from patron.analytics import order_days, service, tasks
from patron.analytics.models import OrderDaysUpkeep
from patron.analytics.sqlfns import at
from patron.catalog.schemas import ProductRef
from patron.core.errors import ValidationError
from patron.customers import service as customers_service
from patron.customers.schemas import CustomerCreate
from patron.orders import service as orders_service
from patron.orders.models import OrderExternalId
from patron.orders.schemas import CustomerRefIn, OrderIn, OrderLineIn, RefundIn
from patron.store import service as store_service
from patron.store.schemas import StoreSettings

NEW_YORK = ZoneInfo("America/New_York")


def marks(session: Session) -> list[str]:
    m = orders_service.day_marks_table()
    return sorted(set(session.scalars(select(m.c.day))))


def clear_marks(session: Session) -> None:
    session.execute(delete(orders_service.day_marks_table()))


def order(ext: str, who: int | None, placed: datetime, cents: int) -> OrderIn:
    return OrderIn(
        external_id=ext,
        placed_at=placed,
        currency="USD",
        customer=CustomerRefIn(customer_id=who) if who else CustomerRefIn(),
        lines=[OrderLineIn(product=ProductRef(sku="s", title="S"), quantity=1, unit_price=cents)],
        total=cents,
    )


def test_every_write_to_orders_marks_its_utc_days(session: Session) -> None:
    store_service.update_settings(session, settings=StoreSettings(base_currency="USD"))
    source = store_service.ensure_source(session, key="web").id
    c = customers_service.create(session, data=CustomerCreate(email="m@example.com")).id
    clear_marks(session)
    placed = datetime(2026, 3, 5, 23, 30, tzinfo=UTC)
    batch = [order("m1", c, placed, 1000)]
    orders_service.upsert_orders(session, orders=batch, source_id=source)
    assert marks(session) == ["2026-03-05"]
    clear_marks(session)
    orders_service.upsert_orders(session, orders=batch, source_id=source)  # a replay
    assert marks(session) == []
    refund = RefundIn(external_id="r1", amount=300, refunded_at=placed + timedelta(days=3))
    orders_service.add_refunds(session, source_id=source, refunds=[("m1", refund)])
    assert marks(session) == ["2026-03-05"]
    clear_marks(session)
    o = orders_service.orders_table()
    moved = datetime(2026, 3, 7, 1, 0, tzinfo=UTC)  # re-dated by another tool: both days
    session.execute(update(o).values(placed_at=at(moved)))
    assert marks(session) == ["2026-03-05", "2026-03-07"]
    clear_marks(session)
    session.execute(update(o).values(channel="pos"))  # a column the summary does not read
    assert marks(session) == []
    session.execute(delete(orders_service.order_lines_table()))
    session.execute(delete(OrderExternalId))
    session.execute(delete(orders_service.refunds_table()))
    session.execute(delete(o))
    assert marks(session) == ["2026-03-07"]


def test_local_days_follow_the_zone_across_daylight_saving(session: Session) -> None:
    """The SQL local day of every 37 minutes over two years of New York time (two DST
    changes a year, at 02:00 local) is the one Python's zoneinfo gives."""
    lo = datetime(2025, 1, 1, tzinfo=UTC)
    hi = datetime(2027, 1, 1, tzinfo=UTC)
    instants = [lo + timedelta(minutes=37 * i) for i in range(0, 28_000, 7)]
    instants += [datetime(2026, 3, 8, 6, 59, 59, 999_999, tzinfo=UTC),  # 01:59:59 EST
                 datetime(2026, 3, 8, 7, 0, tzinfo=UTC),  # 03:00 EDT
                 datetime(2026, 11, 1, 4, 0, tzinfo=UTC),  # 00:00 EDT, Nov 1
                 datetime(2026, 11, 2, 4, 59, 59, tzinfo=UTC),  # 23:59:59 EST, Nov 1
                 datetime(2026, 11, 2, 5, 0, tzinfo=UTC)]  # fmt: skip
    local = order_days.local_days(session, NEW_YORK, lo, hi)
    for chunk in range(0, len(instants), 400):
        part = instants[chunk : chunk + 400]
        got = session.execute(select(*[local(at(t)) for t in part])).one()
        want = [t.astimezone(NEW_YORK).date() for t in part]
        assert [d if isinstance(d, date) else date.fromisoformat(d) for d in got] == want


def _facts_for(session: Session, start: date, end: date) -> dict[str, object]:
    report = service.kpis(session, start=start, end=end)
    return {k.metric: (k.value, k.previous) for k in report.kpis}


def new_york_orders(session: Session) -> tuple[int, list[int], list[OrderIn]]:
    """90 orders over 200 days of New York time (across its midnights and DST changes),
    six customers and some guests; returns the source, the customers and the orders."""
    store_service.update_settings(
        session, settings=StoreSettings(base_currency="USD", timezone="America/New_York")
    )
    source = store_service.ensure_source(session, key="web").id
    who = [
        customers_service.create(session, data=CustomerCreate(email=f"n{i}@example.com")).id
        for i in range(6)
    ]
    base = datetime(2025, 12, 31, 4, 30, tzinfo=UTC)  # 23:30 local on Dec 30
    batch = []
    for i in range(90):
        placed = base + timedelta(days=(i * 7) % 200, hours=(i * 5) % 24, minutes=i)
        batch.append(order(f"z{i}", who[i % 6] if i % 9 else None, placed, 100 + i))
    orders_service.upsert_orders(session, orders=batch, source_id=source)
    return source, who, batch


def test_a_zoned_store_reads_the_same_from_the_summary_as_from_the_orders(
    session: Session,
) -> None:
    """Orders around New York's midnights and its DST changes, several customers with gaps
    across the periods' bounds: each period's report read live, from the summary, with some
    days marked since (partly live), and after the refresh, is the same."""
    source, who, batch = new_york_orders(session)
    periods = [(date(2026, 3, 1), date(2026, 4, 1)), (date(2026, 4, 1), date(2026, 7, 1)),
               (date(2026, 3, 8), date(2026, 3, 9))]  # fmt: skip
    live = [_facts_for(session, a, b) for a, b in periods]
    local = [o.placed_at.astimezone(NEW_YORK).date() for o in batch]
    for (a, b), got in zip(periods, live, strict=True):
        assert got["orders"][0] == sum(1 for d in local if a <= d < b)
    service.refresh_order_days(session)
    assert [_facts_for(session, a, b) for a, b in periods] == live
    # changes after the refresh: read partly from the summary, partly live
    late = [order("late", who[1], datetime(2026, 3, 8, 7, 30, tzinfo=UTC), 555)]
    orders_service.upsert_orders(session, orders=late, source_id=source)
    orders_service.cancel_orders(
        session, source_id=source, cancellations=[("z14", datetime(2026, 8, 1, tzinfo=UTC))]
    )
    assert marks(session) != []
    mixed = [_facts_for(session, a, b) for a, b in periods]
    assert mixed != live
    upkeep = session.get(OrderDaysUpkeep, 1)
    assert upkeep is not None
    session.delete(upkeep)  # the summary unused: every figure from the orders
    session.flush()
    assert [_facts_for(session, a, b) for a, b in periods] == mixed
    service.refresh_order_days(session)  # no upkeep row: a full build
    assert [_facts_for(session, a, b) for a, b in periods] == mixed
    service.refresh_order_days(session)
    assert marks(session) == []
    assert [_facts_for(session, a, b) for a, b in periods] == mixed


def test_another_zone_is_read_live_until_rebuilt(session: Session) -> None:
    store_service.update_settings(session, settings=StoreSettings(base_currency="USD"))
    source = store_service.ensure_source(session, key="web").id
    c = customers_service.create(session, data=CustomerCreate(email="z@example.com")).id
    at_utc_midnight = [order(f"u{i}", c, datetime(2026, 5, 1 + i, 2, tzinfo=UTC), 100)
                       for i in range(3)]  # fmt: skip
    orders_service.upsert_orders(session, orders=at_utc_midnight, source_id=source)
    service.refresh_order_days(session)
    assert order_days.stored(session, "UTC") is not None
    may = (date(2026, 5, 2), date(2026, 5, 3))
    assert _facts_for(session, *may)["orders"] == (1, 1)  # UTC: May 2 02:00
    store_service.update_settings(
        session, settings=StoreSettings(base_currency="USD", timezone="America/New_York")
    )
    assert order_days.stored(session, "America/New_York") is None
    assert _facts_for(session, *may)["orders"] == (1, 1)  # local May 2 = 22:00 on May 3 UTC
    got = service.refresh_order_days(session)
    assert got.full is True
    assert _facts_for(session, *may)["orders"] == (1, 1)
    f = order_days.facts_table()
    days = sorted(session.scalars(select(f.c.day)))
    assert [d if isinstance(d, date) else date.fromisoformat(d) for d in days] == [
        date(2026, 4, 30), date(2026, 5, 1), date(2026, 5, 2)
    ]  # fmt: skip
    assert session.scalar(select(func.count()).select_from(f)) == 3


@pytest.mark.parametrize("full", [True, False])
def test_a_refresh_with_nothing_to_do_writes_nothing(session: Session, full: bool) -> None:
    service.refresh_order_days(session)
    got = service.refresh_order_days(session, full=full)
    assert (got.full, got.rows) == (full, 0)  # an empty store: an empty summary
    assert got.days == (None if full else 0)


# --- the build in chunks --------------------------------------------------------------------

PERIODS = [(date(2026, 1, 1), date(2026, 2, 1)), (date(2026, 3, 1), date(2026, 4, 1)),
           (date(2026, 4, 1), date(2026, 7, 1)), (date(2026, 6, 1), date(2026, 7, 1)),
           (date(2026, 3, 8), date(2026, 3, 9)),
           (date(2026, 7, 1), date(2026, 8, 1))]  # fmt: skip


def zoned_store(session: Session) -> tuple[int, list[int], list[datetime]]:
    """`new_york_orders` with one of them (z14) cancelled; returns the source, the customers
    and the placements."""
    source, who, batch = new_york_orders(session)
    cancel = [("z14", datetime(2026, 8, 1, tzinfo=UTC))]
    orders_service.cancel_orders(session, source_id=source, cancellations=cancel)
    return source, who, [o.placed_at for o in batch]


def rows(session: Session) -> list[tuple[object, ...]]:
    """The summary's rows, without their ids, in a fixed order."""
    f = order_days.facts_table()
    cols = [f.c.day, f.c.prev_day, f.c.known, f.c.orders, f.c.revenue, f.c.gap_ms, f.c.gap_us]
    got = session.execute(select(*cols)).all()
    return sorted((tuple(r) for r in got), key=repr)


def reports(session: Session) -> list[dict[str, object]]:
    return [_facts_for(session, a, b) for a, b in PERIODS]


def live_reports(session: Session) -> list[dict[str, object]]:
    """The reports with the summary unused (no upkeep row: every figure from the orders)."""
    nested = session.begin_nested()
    session.execute(delete(OrderDaysUpkeep))
    got = reports(session)
    nested.rollback()
    return got


def step(session: Session, *, full: bool = False) -> order_days.OrderDaysRefresh:
    return service.refresh_order_days(session, full=full, chunk_orders=7)


def build_in_chunks(session: Session, *, full: bool = True) -> list[date | None]:
    """A whole build, 7 orders a chunk, as the job's loop runs it; each step's `built_to`."""
    got = [step(session, full=full)]
    while got[-1].more:
        got.append(step(session))
    return [g.built_to for g in got]


def expected_ends(placed: list[datetime], n: int) -> list[date | None]:
    """Where each chunk of n orders of whole local days ends (None: the last one)."""
    ends: list[date | None] = []
    first = min(placed).astimezone(NEW_YORK).date()
    while True:
        after = sorted(p for p in placed if p >= order_days.midnight(NEW_YORK, first))
        if len(after) <= n:
            return [*ends, None]
        first = max(after[n].astimezone(NEW_YORK).date(), first + timedelta(days=1))
        ends.append(first)


def test_a_build_in_chunks_stores_the_rows_of_a_build_in_one(session: Session) -> None:
    _, _, placed = zoned_store(session)
    service.refresh_order_days(session, full=True)  # one chunk holds them all
    whole = rows(session)
    assert sum(int(r[3]) for r in whole) == 89  # 90 orders, one cancelled
    ends = build_in_chunks(session)
    assert ends == expected_ends(placed, 7)
    assert len(ends) == 13
    assert rows(session) == whole
    upkeep = session.get(OrderDaysUpkeep, 1)
    assert upkeep is not None
    assert (upkeep.zone, upkeep.built_to, upkeep.rows) == ("America/New_York", None, len(whole))


def test_a_read_during_a_build_equals_the_live_one(session: Session) -> None:
    """Built first in UTC, then the store moves to New York: the build in the new zone goes
    chunk by chunk over the old zone's rows, and after none, one, some and all of its
    chunks every report equals the one read from the orders alone (the old rows of days
    not built yet, even past the last order, are not read)."""
    _, _, placed = zoned_store(session)
    store_service.update_settings(session, settings=StoreSettings(base_currency="USD"))
    service.refresh_order_days(session)  # built in UTC
    o = orders_service.orders_table()
    z57 = session.scalar(
        select(OrderExternalId.order_id).where(OrderExternalId.external_id == "z57")
    )  # the last order (July 19; the one before: July 16), deleted by another tool
    lines = orders_service.order_lines_table()
    session.execute(delete(lines).where(lines.c.order_id == z57))
    session.execute(delete(OrderExternalId).where(OrderExternalId.order_id == z57))
    session.execute(delete(o).where(o.c.id == z57))
    placed.remove(max(placed))
    store_service.update_settings(
        session, settings=StoreSettings(base_currency="USD", timezone="America/New_York")
    )
    live = live_reports(session)
    local = [p.astimezone(NEW_YORK).date() for p in placed]
    for (a, b), got in zip(PERIODS, live, strict=True):
        cancelled = 1 if a <= local[14] < b else 0
        assert got["orders"][0] == sum(1 for d in local if a <= d < b) - cancelled
    assert reports(session) == live  # built in another zone: all live
    got = step(session)  # the zone changed: a build starts
    assert (got.full, got.more) == (True, True)
    assert reports(session) == live
    steps = 1
    while got.more:
        got = step(session)
        steps += 1
        assert reports(session) == live
    assert steps == 13
    assert rows(session) == rows_of_a_fresh_build(session)


def rows_of_a_fresh_build(session: Session) -> list[tuple[object, ...]]:
    nested = session.begin_nested()
    service.refresh_order_days(session, full=True)
    got = rows(session)
    nested.rollback()
    return got


def test_orders_written_between_chunks_are_counted_once(session: Session) -> None:
    """Between two chunks: an order placed in a built day and one in a day not built yet,
    one re-dated from a built day to an unbuilt one, one refunded. Every read equals the
    live one; after the build and the refresh that takes in the marks, the summary holds
    each counted order once, as a fresh build does."""
    source, who, placed = zoned_store(session)
    step(session, full=True)
    got = step(session)
    built_to = got.built_to
    assert built_to is not None
    assert got.more is True
    o = orders_service.orders_table()
    before = datetime.combine(built_to - timedelta(days=3), datetime.min.time(), UTC)
    after = datetime.combine(built_to + timedelta(days=40), datetime.min.time(), UTC)
    late = [order("built", who[2], before + timedelta(hours=15), 700),
            order("unbuilt", who[2], after + timedelta(hours=15), 800)]  # fmt: skip
    orders_service.upsert_orders(session, orders=late, source_id=source)
    first = min(placed)  # z0, in the first chunk, re-dated past the built days
    assert first.astimezone(NEW_YORK).date() < built_to
    z0 = session.scalar(select(OrderExternalId.order_id).where(OrderExternalId.external_id == "z0"))
    session.execute(update(o).where(o.c.id == z0).values(placed_at=at(after + timedelta(hours=20))))
    refund = RefundIn(external_id="r1", amount=50, refunded_at=after)
    orders_service.add_refunds(session, source_id=source, refunds=[("z1", refund)])
    live = live_reports(session)
    assert reports(session) == live
    while got.more:
        got = step(session)
        assert reports(session) == live
    assert marks(session) != []  # written during the build: read live until the next refresh
    got = service.refresh_order_days(session)
    assert (got.full, got.more) == (False, False)
    assert marks(session) == []
    assert reports(session) == live
    stored = rows(session)
    assert sum(int(r[3]) for r in stored) == 91  # 92 orders, one cancelled
    assert stored == rows_of_a_fresh_build(session)


def test_marked_days_holding_more_than_a_chunk_are_rebuilt_as_a_build(session: Session) -> None:
    zoned_store(session)
    service.refresh_order_days(session)
    live = live_reports(session)
    o = orders_service.orders_table()
    session.execute(update(o).values(base_total=o.c.base_total + 1))  # every day marked
    changed = live_reports(session)
    assert changed != live
    got = step(session)
    assert (got.full, got.more) == (True, True)
    assert marks(session) == []
    assert reports(session) == changed
    while got.more:
        got = step(session)
    assert reports(session) == changed
    assert rows(session) == rows_of_a_fresh_build(session)


def test_a_build_stopped_midway_resumes_in_a_new_session(session: Session) -> None:
    """Three chunks committed, then one whose transaction is rolled back, and the session is
    gone: a new session reads the same as live and the build goes on from the
    first unbuilt day to the same rows as a build in one."""
    _, _, placed = zoned_store(session)
    whole = rows_of_a_fresh_build(session)
    session.execute(delete(OrderDaysUpkeep))
    live = live_reports(session)
    ends = []
    for i in range(3):  # each chunk committed, as the job does
        ends.append(step(session, full=i == 0).built_to)
        session.commit()
    assert step(session).more is True  # a worker killed inside the fourth chunk
    session.rollback()
    session.close()
    again = db.new_session()
    try:
        upkeep = again.get(OrderDaysUpkeep, 1)
        assert upkeep is not None
        assert upkeep.built_to == ends[-1]
        assert reports(again) == live
        got = service.refresh_order_days(again, full=True, chunk_orders=7)  # the job again
        assert ends + [got.built_to] == expected_ends(placed, 7)[:4]
        assert reports(again) == live
        rest = build_in_chunks(again, full=False)
        assert len(ends) + 1 + len(rest) == 13
        assert rows(again) == whole
        assert reports(again) == live
    finally:
        again.close()


def test_the_job_commits_a_build_chunk_by_chunk_to_the_end(session: Session) -> None:
    zoned_store(session)
    whole = rows_of_a_fresh_build(session)
    tasks.refresh_order_days(session, {"full": True, "chunk_orders": 30})
    upkeep = session.get(OrderDaysUpkeep, 1)
    assert upkeep is not None
    assert (upkeep.zone, upkeep.built_to) == ("America/New_York", None)
    assert rows(session) == whole
    assert marks(session) == []


def test_a_chunk_of_no_orders_is_refused(session: Session) -> None:
    with pytest.raises(ValidationError) as got:
        service.refresh_order_days(session, full=True, chunk_orders=0)
    assert got.value.field == "chunk_orders"
    assert session.get(OrderDaysUpkeep, 1) is None
