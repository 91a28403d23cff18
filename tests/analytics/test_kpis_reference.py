"""KPIs against the formulas of docs/analytics.md applied in Python to the orders one by one.

Given a generated store (fixed seed: 40 customers, guests, cancelled orders, orders at the
same instant, times to the microsecond, a store timezone that is not UTC), when the KPI
report runs for periods that are and are not month-aligned, then every order figure equals
the one computed here from the raw orders (both backends).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from patron.analytics import service
from patron.catalog.schemas import ProductRef
from patron.customers import service as customers_service
from patron.customers.schemas import CustomerCreate
from patron.orders import service as orders_service
from patron.orders.schemas import CustomerRefIn, OrderIn, OrderLineIn, OrderStatus
from patron.store import service as store_service
from patron.store.schemas import StoreSettings

ZONE = "Asia/Jakarta"
START = datetime(2025, 3, 1, tzinfo=UTC)
SPAN_S = 600 * 86400


@dataclass
class Row:
    who: int | None  # index of the customer, None for a guest
    at: datetime
    net: int
    cancelled: bool


def generate() -> list[Row]:
    rng = random.Random(16)
    rows: list[Row] = []
    for who in range(40):
        for _ in range(rng.choice([0, 1, 1, 2, 3, 5, 8])):
            at = START + timedelta(seconds=rng.randrange(SPAN_S), microseconds=rng.randrange(10**6))
            rows.append(Row(who, at, rng.randrange(100, 50000), rng.random() < 0.1))
            if rng.random() < 0.1:  # a second order at the same instant
                rows.append(Row(who, at, rng.randrange(100, 50000), False))
    for _ in range(15):
        at = START + timedelta(seconds=rng.randrange(SPAN_S))
        rows.append(Row(None, at, rng.randrange(100, 50000), rng.random() < 0.1))
    return rows


def build(session: Session, rows: list[Row]) -> None:
    store_service.update_settings(
        session, settings=StoreSettings(base_currency="USD", timezone=ZONE)
    )
    source = store_service.ensure_source(session, key="web").id
    ids = [
        customers_service.create(session, data=CustomerCreate(email=f"c{i}@example.com")).id
        for i in range(40)
    ]
    orders = [
        OrderIn(
            external_id=f"o{n}",
            placed_at=r.at,
            currency="USD",
            customer=CustomerRefIn(customer_id=ids[r.who])
            if r.who is not None
            else CustomerRefIn(),
            lines=[
                OrderLineIn(product=ProductRef(sku="s", title="S"), quantity=1, unit_price=r.net)
            ],
            total=r.net,
            status=OrderStatus.CANCELLED if r.cancelled else None,
            cancelled_at=r.at if r.cancelled else None,
        )
        for n, r in enumerate(rows)
    ]
    # in three batches, the last first: orders arrive out of order
    third = len(orders) // 3
    for part in (orders[2 * third :], orders[:third], orders[third : 2 * third]):
        orders_service.upsert_orders(session, orders=part, source_id=source)


def expected(rows: list[Row], start: date, end: date) -> dict[str, tuple[object, object]]:
    zone = ZoneInfo(ZONE)

    def utc(d: date) -> datetime:
        return datetime.combine(d, time(0), zone).astimezone(UTC)

    length = end - start
    bounds = [utc(start - 2 * length), utc(start - length), utc(start), utc(end)]
    live = [r for r in rows if not r.cancelled]
    seq: dict[int, list[datetime]] = {}  # each customer's counted orders in time order
    for r in sorted(live, key=lambda r: r.at):
        if r.who is not None:
            seq.setdefault(r.who, []).append(r.at)
    first = {c: times[0] for c, times in seq.items()}

    def facts(a: datetime, b: datetime, pa: datetime) -> dict[str, object]:
        o = [r for r in live if a <= r.at < b]
        ident = [r for r in o if r.who is not None]
        buyers = {r.who for r in ident}
        new = {c for c in buyers if first[c] >= a}
        earlier = {r.who for r in live if r.who is not None and pa <= r.at < a}
        gaps = [
            Fraction((t - times[i - 1]) // timedelta(microseconds=1), 86400 * 10**6)
            for times in seq.values()
            for i, t in enumerate(times)
            if i > 0 and a <= t < b
        ]
        twice = {c for c in new if sum(1 for r in ident if r.who == c) >= 2}
        id_rev = sum(r.net for r in ident)
        new_rev = sum(r.net for r in ident if r.who in new)
        cum = sum(r.net for r in live if r.who is not None and r.at < b)
        acquired = sum(1 for c in first.values() if c < b)
        return {
            "revenue": sum(r.net for r in o),
            "orders": len(o),
            "aov": round(Fraction(sum(r.net for r in o), len(o))) if o else None,
            "customers": len(buyers),
            "new_customers": len(new),
            "returning_customers": len(buyers) - len(new),
            "new_customer_revenue": new_rev,
            "returning_customer_revenue": id_rev - new_rev,
            "returning_revenue_share": round((id_rev - new_rev) / id_rev, 6) if id_rev else None,
            "revenue_per_customer": round(Fraction(id_rev, len(buyers))) if buyers else None,
            "purchase_frequency": round(len(ident) / len(buyers), 4) if buyers else None,
            "repeat_purchase_rate": (
                round((len(buyers) - len(new) + len(twice)) / len(buyers), 6) if buyers else None
            ),
            "retention_rate": round(len(earlier & buyers) / len(earlier), 6) if earlier else None,
            "avg_days_between_orders": round(float(sum(gaps)) / len(gaps), 2) if gaps else None,
            "historic_clv": round(Fraction(cum, acquired)) if acquired else None,
        }

    cur = facts(bounds[2], bounds[3], bounds[1])
    old = facts(bounds[1], bounds[2], bounds[0])
    return {k: (cur[k], old[k]) for k in cur}


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2026, 4, 1), date(2026, 7, 1)),
        (date(2026, 1, 15), date(2026, 3, 2)),
        (date(2025, 12, 24), date(2025, 12, 31)),
        (date(2025, 11, 1), date(2026, 9, 1)),
    ],
)
def test_every_order_figure_matches_the_formulas(session: Session, start: date, end: date) -> None:
    rows = generate()
    build(session, rows)
    report = service.kpis(session, start=start, end=end)
    want = expected(rows, start, end)
    got = {k.metric: (k.value, k.previous) for k in report.kpis if k.metric in want}
    assert got == want
    assert want["customers"][0] > 0  # the period is not empty
