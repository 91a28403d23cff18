"""A small store with two years of purchase history for the prediction tests.

160 generated customers buy on a Poisson clock (rates and lifetimes drawn with a fixed
seed, so every run writes the same orders), plus four hand-made ones:
    one    a single 50 USD order on 2025-03-01 (a one-time buyer)
    new    a first order 5 days before AS_OF (a brand-new customer)
    pair   two orders on 2025-06-01 (one purchase day: same-day orders merge) and one more
    void   only a cancelled order (no counted order: no scores)
    none   no orders at all
Base currency USD; every order at 12:00 UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy.orm import Session

from patron.catalog.schemas import ProductRef
from patron.customers import service as customers_service
from patron.customers.schemas import CustomerCreate
from patron.orders import service as orders_service
from patron.orders.schemas import CustomerRefIn, OrderIn, OrderLineIn, OrderStatus
from patron.store import service as store_service
from patron.store.schemas import StoreSettings

START = date(2024, 7, 1)
AS_OF = date(2026, 6, 30)
GENERATED = 160


@dataclass
class Store:
    ids: dict[str, int]
    counted: int  # customers with at least one counted order


def _order(key: str, cid: int, day: date, amount: int, **extra: object) -> OrderIn:
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return OrderIn(
        external_id=key,
        placed_at=at,
        currency="USD",
        customer=CustomerRefIn(customer_id=cid),
        lines=[OrderLineIn(product=ProductRef(sku="sku-1", title="Thing"), quantity=1,
                           unit_price=amount)],
        channel="web",
        total=amount,
        **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def build_store(session: Session) -> Store:
    store_service.update_settings(session, settings=StoreSettings(base_currency="USD"))
    source = store_service.ensure_source(session, key="web").id
    rng = np.random.default_rng(11)
    ids: dict[str, int] = {}
    orders: list[OrderIn] = []
    span = (AS_OF - START).days
    for i in range(GENERATED):
        cid = customers_service.create(session, data=CustomerCreate(email=f"c{i}@example.com")).id
        ids[f"c{i}"] = cid
        first = int(rng.integers(0, span - 60))
        rate = rng.gamma(0.8, 1 / 40)  # purchases per day
        life = rng.exponential(300)
        value = int(rng.gamma(4, 1500))
        day = first
        n = 0
        while day <= span and day - first <= life:
            orders.append(_order(f"g{i}-{n}", cid, START + timedelta(days=day), value + 100 * n))
            n += 1
            day += 1 + int(rng.exponential(1 / max(rate, 1e-4)))
    for name in ("one", "new", "pair", "void", "none"):
        ids[name] = customers_service.create(
            session, data=CustomerCreate(email=f"{name}@example.com")
        ).id
    orders += [
        _order("one-1", ids["one"], date(2025, 3, 1), 5000),
        _order("new-1", ids["new"], AS_OF - timedelta(days=5), 7000),
        _order("pair-1", ids["pair"], date(2025, 6, 1), 3000),
        _order("pair-2", ids["pair"], date(2025, 6, 1), 2000),
        _order("pair-3", ids["pair"], date(2026, 5, 1), 4000),
        _order(
            "void-1", ids["void"], date(2026, 1, 1), 9000,
            status=OrderStatus.CANCELLED,
            cancelled_at=datetime(2026, 1, 1, 12, tzinfo=UTC),
        ),
    ]  # fmt: skip
    orders_service.upsert_orders(session, orders=orders, source_id=source)
    session.commit()
    return Store(ids=ids, counted=GENERATED + 3)


@pytest.fixture
def store(session: Session) -> Store:
    return build_store(session)
