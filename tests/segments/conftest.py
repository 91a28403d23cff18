"""A small store built through the public services, with hand-known segment answers.

Base currency IDR (1 USD = 16,000 IDR). `now` is the time of the build; every order and
event is placed relative to it.

| who | orders (IDR) | total     | last order | viewed                      | other            |
|-----|--------------|-----------|------------|-----------------------------|------------------|
| ann | 3            | 1,200,000 | 90 d ago   | Shoes, 10 d ago             | tag vip, size M  |
| bob | 2            |   800,000 | 70 d ago   | Shoes, 5 d ago              |                  |
| cat | 2            | 2,000,000 | 10 d ago   | Shoes, 2 d ago (3 times)    | size L           |
| dan | 2            | 1,500,000 | 100 d ago  | Bags, 3 d ago               | open cart 3 h    |
| eve | 4            | 3,000,000 | 65 d ago   | Shoes > Running, 20 d ago   | on the VIP list  |
| fay | 2 (1 in USD) | 1,100,000 | 61 d ago   | Shoes, 40 d ago             |                  |
| gus | 1            |   400,000 | 5 d ago    |                             | country ID       |
| hal | 0            |         0 |            |                             | anonymous-free   |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from patron.catalog.schemas import ProductRef
from patron.core.time import utcnow
from patron.customers import service as customers_service
from patron.customers.schemas import CustomerCreate, ExternalIdIn
from patron.events import service as events_service
from patron.orders import service as orders_service
from patron.orders.schemas import CartIn, CartLineIn, CustomerRefIn, OrderIn, OrderLineIn
from patron.segments import service
from patron.segments.schemas import MembersChange, SegmentCreate, SegmentKind
from patron.store import service as store_service
from patron.store.schemas import StoreSettings

EXAMPLE = (
    'orders_count >= 2 AND total_spent > 1000000 IDR AND did("Product Viewed", '
    'category = "Shoes", within = 30d) AND last_order_at < -60d AND NOT in_segment("VIP")'
)
CATEGORY = {"sneaker": "Shoes > Sneakers", "bag": "Bags"}
PEOPLE = ("ann", "bob", "cat", "dan", "eve", "fay", "gus", "hal")


@dataclass
class Store:
    now: datetime
    ids: dict[str, int]
    vip_id: int
    source_id: int

    def names(self, customer_ids: object) -> set[str]:
        back = {v: k for k, v in self.ids.items()}
        return {back[c] for c in customer_ids}  # type: ignore[attr-defined]


def _order(
    ext: str, cid: int, at: datetime, total: int, currency: str = "IDR", sku: str = "sneaker"
) -> OrderIn:
    return OrderIn(
        external_id=ext,
        customer=CustomerRefIn(customer_id=cid),
        lines=[
            OrderLineIn(
                product=ProductRef(sku=sku, title=sku, category_path=CATEGORY[sku]),
                quantity=1,
                unit_price=total,
            )
        ],
        placed_at=at,
        currency=currency,
    )


def build(session: Session) -> Store:
    now = utcnow().replace(microsecond=0)
    store_service.update_settings(
        session, settings=StoreSettings(base_currency="IDR", fx_rates={"USD": "16000"})
    )
    src = store_service.ensure_source(session, key="web").id
    ids: dict[str, int] = {}
    extra = {
        "ann": {"tags": ["vip"], "properties": {"size": "M", "points": 120, "newsletter": True}},
        "cat": {"properties": {"size": "L", "points": 40}},
        "gus": {"country": "ID"},
    }
    for name in PEOPLE:
        row = customers_service.create(
            session,
            data=CustomerCreate(
                email=f"{name}@example.com",
                first_name=name.title(),
                external_ids=[ExternalIdIn(source="web", id=name)],
                **extra.get(name, {}),  # type: ignore[arg-type]
            ),
        )
        ids[name] = row.id
    d = timedelta(days=1)
    plan = {
        "ann": [(200, 500_000), (150, 400_000), (90, 300_000)],
        "bob": [(120, 400_000), (70, 400_000)],
        "cat": [(40, 1_000_000), (10, 1_000_000)],
        "dan": [(300, 700_000), (100, 800_000)],
        "eve": [(300, 500_000), (200, 500_000), (100, 1_000_000), (65, 1_000_000)],
        "fay": [(120, 780_000), (61, 2000, "USD")],  # 20.00 USD = 320,000 IDR
        "gus": [(5, 400_000)],
    }
    orders = []
    for name, items in plan.items():
        for i, item in enumerate(items):
            days, total = item[0], item[1]
            currency = item[2] if len(item) > 2 else "IDR"  # type: ignore[misc]
            sku = "bag" if name == "dan" else "sneaker"
            minor = total if currency == "USD" else total * 100  # IDR has 2 minor digits
            orders.append(_order(f"{name}-{i}", ids[name], now - days * d, minor, currency, sku))
    orders_service.upsert_orders(session, orders=orders, source_id=src)
    views = [
        ("ann", "Shoes", 10),
        ("bob", "Shoes", 5),
        ("cat", "Shoes", 2),
        ("cat", "Shoes", 3),
        ("cat", "Shoes", 4),
        ("dan", "Bags", 3),
        ("eve", "Shoes > Running", 20),
        ("fay", "Shoes", 40),
    ]
    messages = [
        {
            "type": "track",
            "event": "Product Viewed",
            "userId": who,
            "messageId": f"view-{i}",
            "timestamp": (now - days * d).isoformat(),
            "properties": {"category": cat, "sku": "sneaker"},
        }
        for i, (who, cat, days) in enumerate(views)
    ]
    events_service.ingest(session, messages=messages, source_id=src, received_at=now)
    orders_service.upsert_carts(
        session,
        carts=[
            CartIn(
                external_id="cart-dan",
                customer=CustomerRefIn(customer_id=ids["dan"]),
                updated_at=now - timedelta(hours=3),
                currency="IDR",
                lines=[
                    CartLineIn(
                        product=ProductRef(sku="bag", title="bag"),
                        quantity=1,
                        unit_price=25_000_000,
                    )
                ],
            )
        ],
        source_id=src,
    )
    vip = service.create(session, data=SegmentCreate(name="VIP", kind=SegmentKind.STATIC))
    service.add_members(session, segment_id=vip.id, change=MembersChange(customer_ids=[ids["eve"]]))
    session.flush()
    return Store(now=now, ids=ids, vip_id=vip.id, source_id=src)


@pytest.fixture
def store(session: Session) -> Store:
    return build(session)
