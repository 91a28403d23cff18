"""KPIs from each order's previous counted order (orders.prev_placed_at, ADR 16).

Given a store with a tie, a cancelled order between two counted ones, a previous order years
before the window, a guest order and a new customer who orders twice, when orders arrive
late, are replayed, cancelled, and customers are merged and unmerged, then every order's
previous order and every KPI are the values worked out by hand below (both backends).

Q2 2026 = [2026-04-01, 2026-07-01); the previous period is [2025-12-31, 2026-04-01) and the
one before it [2025-09-30, 2025-12-31). Base currency USD, timezone UTC, noon unless noted.

    X  2024-01-10 100, 2026-05-01 30 and 20 (the same instant)
    Y  2025-11-01 40 (the period before), 2026-06-10 60
    Z  2026-02-01 10, 2026-04-15 999 cancelled, 2026-04-20 25
    W  2026-06-20 80, 2026-06-21 06:00 15 (new in Q2, twice)
    guest checkout 2026-04-02 70
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.analytics import order_days, service
from patron.analytics.sqlfns import at, elapsed
from patron.catalog.schemas import ProductRef
from patron.customers import service as customers_service
from patron.customers.schemas import CustomerCreate
from patron.orders import service as orders_service
from patron.orders.models import OrderExternalId
from patron.orders.schemas import CustomerRefIn, OrderIn, OrderLineIn, OrderStatus
from patron.store import service as store_service
from patron.store.schemas import StoreSettings

Q2 = (date(2026, 4, 1), date(2026, 7, 1))


def t(y: int, m: int, d: int, h: int = 12) -> datetime:
    return datetime(y, m, d, h, tzinfo=UTC)


# (external id, customer, placed at, amount in cents, cancelled)
ORDERS = [
    ("x1", "X", t(2024, 1, 10), 10000, False),
    ("x2", "X", t(2026, 5, 1), 3000, False),
    ("x3", "X", t(2026, 5, 1), 2000, False),
    ("y1", "Y", t(2025, 11, 1), 4000, False),
    ("y2", "Y", t(2026, 6, 10), 6000, False),
    ("z1", "Z", t(2026, 2, 1), 1000, False),
    ("z2", "Z", t(2026, 4, 15), 99900, True),
    ("z3", "Z", t(2026, 4, 20), 2500, False),
    ("w1", "W", t(2026, 6, 20), 8000, False),
    ("w2", "W", t(2026, 6, 21, 6), 1500, False),
    ("g1", None, t(2026, 4, 2), 7000, False),
]
# Each order's previous counted order of the same customer (x3 ties with x2: by id).
PREVIOUS = {
    "x1": None, "x2": t(2024, 1, 10), "x3": t(2026, 5, 1),
    "y1": None, "y2": t(2025, 11, 1),
    "z1": None, "z2": None, "z3": t(2026, 2, 1),
    "w1": None, "w2": t(2026, 6, 20),
    "g1": None,
}  # fmt: skip

# 2024-01-10 -> 2026-05-01 is 842 days, 2025-11-01 -> 2026-06-10 221, 2026-02-01 -> 04-20 78
# (the cancelled 04-15 order is skipped), W's second order 0.75 days after its first; x3
# ties with x2 (0 days).
EXPECTED = {
    "revenue": (30000, 1000),  # 30 + 20 + 60 + 25 + 80 + 15 + the guest's 70; Z's 10
    "orders": (7, 1),
    "aov": (4286, 1000),  # 30000 / 7 = 4285.71
    "customers": (4, 1),  # X, Y, Z, W; before: Z
    "new_customers": (1, 1),  # W; before: Z (first order 2026-02-01)
    "returning_customers": (3, 0),
    "new_customer_revenue": (9500, 1000),
    "returning_customer_revenue": (13500, 0),
    "returning_revenue_share": (0.586957, 0.0),  # 13500 / 23000 identified
    "revenue_per_customer": (5750, 1000),
    "purchase_frequency": (1.5, 1.0),  # 6 identified orders / 4
    "repeat_purchase_rate": (1.0, 0.0),  # 3 returning + W twice, of 4
    "retention_rate": (1.0, 0.0),  # Z of Z; before: Y (2025-11-01) of Y, no order in Q1
    "churn_rate": (0.0, 1.0),
    "avg_days_between_orders": (228.35, None),  # (842 + 0 + 221 + 78 + 0.75) / 5
    "historic_clv": (9500, 5000),  # 38000 / 4 customers; 15000 / 3 (X, Y, Z)
    "conversion_rate": (None, None),
    "marketing_spend": (None, None),
    "cac": (None, None),
    "roi": (None, None),
    "csat": (None, None),
    "nps": (None, None),
}


def build(session: Session) -> tuple[int, dict[str, int]]:
    store_service.update_settings(session, settings=StoreSettings(base_currency="USD"))
    source = store_service.ensure_source(session, key="web").id
    ids = {
        name: customers_service.create(
            session, data=CustomerCreate(email=f"{name.lower()}@example.com")
        ).id
        for name in "XYZW"
    }
    orders_service.upsert_orders(session, orders=batch(ids, ORDERS), source_id=source)
    return source, ids


def batch(
    ids: dict[str, int], rows: list[tuple[str, str | None, datetime, int, bool]]
) -> list[OrderIn]:
    return [
        OrderIn(
            external_id=ext,
            placed_at=placed,
            currency="USD",
            customer=CustomerRefIn(customer_id=ids[who]) if who else CustomerRefIn(),
            lines=[OrderLineIn(product=ProductRef(sku="s", title="S"), quantity=1, unit_price=amt)],
            total=amt,
            status=OrderStatus.CANCELLED if cancelled else None,
            cancelled_at=placed if cancelled else None,
        )
        for ext, who, placed, amt, cancelled in rows
    ]


def previous_orders(session: Session, source: int) -> dict[str, datetime | None]:
    o = orders_service.orders_table()
    rows = session.execute(
        select(OrderExternalId.external_id, o.c.prev_placed_at)
        .join(o, o.c.id == OrderExternalId.order_id)
        .where(OrderExternalId.source_id == source)
    )
    return {ext: prev for ext, prev in rows}


def kpis(session: Session, mode: str = "live") -> dict[str, tuple[object, object]]:
    """The Q2 report; with mode "summary" read with the order-day summary (ADR 25) as it is
    (days marked since its last refresh summed live), then again after a refresh, which
    must give the same report."""
    report = service.kpis(session, start=Q2[0], end=Q2[1])
    got = {k.metric: (k.value, k.previous) for k in report.kpis}
    if mode == "summary":
        service.refresh_order_days(session)
        marks = session.scalar(select(func.count()).select_from(orders_service.day_marks_table()))
        assert marks == 0
        f, o = order_days.facts_table(), orders_service.orders_table()
        summed = session.scalar(select(func.sum(f.c.orders)))
        assert summed == session.scalar(select(func.count()).where(o.c.status != "cancelled"))
        again = service.kpis(session, start=Q2[0], end=Q2[1])
        assert {k.metric: (k.value, k.previous) for k in again.kpis} == got
    return got


@pytest.fixture(params=["live", "summary"])
def mode(request: pytest.FixtureRequest, session: Session) -> str:
    """live: no order-day summary; summary: built right after the store (by the first
    kpis call), so later changes are read partly from it, partly live."""
    return str(request.param)


def test_every_order_knows_its_previous_counted_order(session: Session) -> None:
    source, _ = build(session)
    assert previous_orders(session, source) == PREVIOUS


def test_kpis_from_previous_orders_are_exact(session: Session, mode: str) -> None:
    build(session)
    assert kpis(session, mode) == EXPECTED


def test_a_replay_changes_nothing(session: Session, mode: str) -> None:
    source, ids = build(session)
    assert kpis(session, mode) == EXPECTED
    orders_service.upsert_orders(session, orders=batch(ids, ORDERS), source_id=source)
    assert previous_orders(session, source) == PREVIOUS
    assert kpis(session, mode) == EXPECTED


def test_a_late_order_and_its_cancellation(session: Session, mode: str) -> None:
    source, ids = build(session)
    assert kpis(session, mode) == EXPECTED
    late = [("x4", "X", t(2026, 3, 1), 500, False)]
    orders_service.upsert_orders(session, orders=batch(ids, late), source_id=source)
    assert previous_orders(session, source) == {
        **PREVIOUS, "x4": t(2024, 1, 10), "x2": t(2026, 3, 1),
    }  # fmt: skip
    got = kpis(session, mode)
    # X now ordered in the previous period too: 2 buyers there, both bought again in Q2.
    assert got["customers"] == (4, 2)
    assert got["retention_rate"] == (1.0, 0.0)
    assert got["returning_customers"] == (3, 1)
    # x2's gap is now 2026-03-01 -> 05-01 = 61 days; x4's 2024-01-10 -> 2026-03-01 = 781.
    assert got["avg_days_between_orders"] == (72.15, 781.0)  # (61 + 0 + 221 + 78 + 0.75) / 5
    assert got["revenue"] == (30000, 1500)
    orders_service.cancel_orders(session, source_id=source, cancellations=[("x4", t(2026, 7, 2))])
    assert previous_orders(session, source) == {**PREVIOUS, "x4": None}
    assert kpis(session, mode) == EXPECTED


def test_a_merge_and_its_undo(session: Session, mode: str) -> None:
    from patron.wiring import wire

    wire()
    source, ids = build(session)
    assert kpis(session, mode) == EXPECTED
    m = customers_service.merge(session, winner_id=ids["Y"], loser_id=ids["W"])
    assert previous_orders(session, source) == {
        **PREVIOUS, "w1": t(2026, 6, 10), "w2": t(2026, 6, 20),
    }  # fmt: skip
    got = kpis(session, mode)
    assert (got["customers"], got["new_customers"]) == ((3, 1), (0, 1))
    # Y's gaps: 221, then 10 days to the 06-20 order, then 0.75: (842+0+221+10+0.75+78) / 6
    assert got["avg_days_between_orders"] == (191.96, None)
    customers_service.unmerge(session, merge_id=m.id)
    assert previous_orders(session, source) == PREVIOUS
    assert kpis(session, mode) == EXPECTED


@pytest.mark.parametrize(
    ("a", "b", "micros_between"),
    [
        ((2026, 1, 1, 0, 0, 0, 999_999), (2026, 1, 2, 0, 0, 0, 1), 86_399_000_002),
        # half a millisecond either side: julianday's milliseconds must not round
        ((2026, 3, 1, 12, 0, 0, 500), (2026, 3, 1, 12, 0, 1, 1_499), 1_000_999),
        ((2026, 3, 1, 12, 0, 0, 999_500), (2026, 3, 1, 12, 0, 0, 999_499), -1),
        ((2024, 2, 28, 23, 59, 59, 123_456), (2024, 3, 1, 0, 0, 0, 654_321), 86_401_530_865),
        ((1999, 12, 31, 23, 59, 59, 999_999), (2030, 6, 30, 8, 15, 42, 4_321), 962_352_942_004_322),
    ],
)
def test_elapsed_time_is_exact_to_the_microsecond(
    session: Session, a: tuple[int, ...], b: tuple[int, ...], micros_between: int
) -> None:
    start, end = datetime(*a, tzinfo=UTC), datetime(*b, tzinfo=UTC)  # type: ignore[misc]
    assert (end - start) // timedelta(microseconds=1) == micros_between
    millis, micros = session.execute(select(*elapsed(session, at(start), at(end)))).one()
    got = Fraction(millis) / 10**3 + Fraction(int(micros), 10**6)
    assert got == Fraction(micros_between, 10**6)
