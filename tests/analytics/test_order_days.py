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

from patron.analytics import order_days, service
from patron.analytics.models import OrderDaysUpkeep
from patron.analytics.sqlfns import at
from patron.catalog.schemas import ProductRef
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


def test_a_zoned_store_reads_the_same_from_the_summary_as_from_the_orders(
    session: Session,
) -> None:
    """Orders around New York's midnights and its DST changes, several customers with gaps
    across the periods' bounds: each period's report read live, from the summary, with some
    days marked since (partly live), and after the refresh, is the same."""
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
