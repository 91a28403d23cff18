"""A small hand-built store for exact analytics values (docs/analytics.md works it through).

Base currency USD, timezone UTC. Every order is placed at 12:00 UTC.

    customer  country  orders (net USD)                                  channel
    A         US       2025-11-10 100, 2026-02-10 50, 2026-04-10 80,    web
                       2026-05-10 40
    B         GB       2026-01-15 200, 2026-06-01 100 (20 refunded)      app
    C         US       2026-02-20 60                                      web
    D         ID       2026-04-05 480,000 IDR (= 30 USD), 2026-04-25 90   app
    E         US       2026-05-05 120, 2026-05-06 500 cancelled           web
    F         GB       2025-10-15 70                                      pos
    G         SG       no orders (a prospect)

Sessions (events): D 2026-04-05 11:50 + 11:55 (then the 12:00 order: converted),
D 2026-04-20 10:00, E 2026-05-05 09:00 + 09:20 (order 12:00 is > 30 min later).
Marketing spend: google_ads 2026-03 310, 2026-04..06 300 each; web 2026-06 60 (USD).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from sqlalchemy.orm import Session

from patron.analytics import service
from patron.analytics.schemas import SpendUpsert
from patron.catalog.schemas import ProductRef
from patron.customers import service as customers_service
from patron.customers.schemas import CustomerCreate, ExternalIdIn
from patron.events import service as events_service
from patron.orders import service as orders_service
from patron.orders.schemas import CustomerRefIn, OrderIn, OrderLineIn, OrderStatus, RefundIn
from patron.store import service as store_service
from patron.store.schemas import StoreSettings

Q2 = (date(2026, 4, 1), date(2026, 7, 1))
AS_OF = datetime(2026, 7, 1, tzinfo=UTC)


def noon(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 12, tzinfo=UTC)


@dataclass
class Store:
    ids: dict[str, int]


ORDERS = [
    # (customer, day, amount minor, currency, channel, extra)
    ("A", (2025, 11, 10), 10000, "USD", "web", {}),
    ("A", (2026, 2, 10), 5000, "USD", "web", {}),
    ("A", (2026, 4, 10), 8000, "USD", "web", {}),
    ("A", (2026, 5, 10), 4000, "USD", "web", {}),
    ("B", (2026, 1, 15), 20000, "USD", "app", {}),
    ("B", (2026, 6, 1), 10000, "USD", "app", {"refund": 2000}),
    ("C", (2026, 2, 20), 6000, "USD", "web", {}),
    ("D", (2026, 4, 5), 48_000_000, "IDR", "app", {}),
    ("D", (2026, 4, 25), 9000, "USD", "app", {}),
    ("E", (2026, 5, 5), 12000, "USD", "web", {}),
    ("E", (2026, 5, 6), 50000, "USD", "web", {"cancelled": True}),
    ("F", (2025, 10, 15), 7000, "USD", "pos", {}),
]
COUNTRIES = {"A": "US", "B": "GB", "C": "US", "D": "ID", "E": "US", "F": "GB", "G": "SG"}


def build_store(session: Session) -> Store:
    store_service.update_settings(
        session, settings=StoreSettings(base_currency="USD", fx_rates={"IDR": "0.0000625"})
    )
    source = store_service.ensure_source(session, key="web").id
    ids = {}
    for name, country in COUNTRIES.items():
        ids[name] = customers_service.create(
            session,
            data=CustomerCreate(
                email=f"{name.lower()}@example.com",
                country=country,
                external_ids=[ExternalIdIn(source="web", id=name.lower())],
            ),
        ).id
    batch = []
    for i, (who, day, amount, currency, channel, extra) in enumerate(ORDERS):
        at = noon(*day)
        batch.append(
            OrderIn(
                external_id=f"o{i}",
                placed_at=at,
                currency=currency,
                customer=CustomerRefIn(customer_id=ids[who]),
                lines=[
                    OrderLineIn(
                        product=ProductRef(sku="sku-1", title="Thing"),
                        quantity=1,
                        unit_price=amount,
                    )
                ],
                channel=channel,
                total=amount,
                status=OrderStatus.CANCELLED if extra.get("cancelled") else None,
                cancelled_at=at if extra.get("cancelled") else None,
                refunds=[RefundIn(external_id=f"r{i}", amount=extra["refund"], refunded_at=at)]
                if "refund" in extra
                else [],
            )
        )
    orders_service.upsert_orders(session, orders=batch, source_id=source)
    events = [
        ("d", "page", datetime(2026, 4, 5, 11, 50, tzinfo=UTC)),
        ("d", "track", datetime(2026, 4, 5, 11, 55, tzinfo=UTC)),
        ("d", "page", datetime(2026, 4, 20, 10, 0, tzinfo=UTC)),
        ("e", "page", datetime(2026, 5, 5, 9, 0, tzinfo=UTC)),
        ("e", "page", datetime(2026, 5, 5, 9, 20, tzinfo=UTC)),
    ]
    messages = [
        {
            "type": kind,
            "messageId": f"m{i}",
            "userId": user,
            "timestamp": ts.isoformat(),
            **({"event": "Product Viewed"} if kind == "track" else {"name": "Home"}),
        }
        for i, (user, kind, ts) in enumerate(events)
    ]
    events_service.ingest(session, messages=messages, source_id=source, received_at=AS_OF)
    for channel, month, amount in [
        ("google_ads", "2026-03", 31000),
        ("google_ads", "2026-04", 30000),
        ("google_ads", "2026-05", 30000),
        ("google_ads", "2026-06", 30000),
        ("web", "2026-06", 6000),
    ]:
        service.set_spend(session, data=SpendUpsert(channel=channel, month=month, amount=amount))
    session.commit()
    return Store(ids=ids)


@pytest.fixture
def store(session: Session) -> Store:
    return build_store(session)
