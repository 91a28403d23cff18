"""A small store whose recommendations can be reasoned about by hand.

Kitchen (durable: nobody buys the same mug twice) and Coffee (consumable: ann and bob buy
coffee again: 2 of 10 customer-product pairs, above the 15 % threshold). Co-purchases: the
blue mug goes with coffee (3 orders), filters (2), the spoon (2, but it is out of stock)
and the plate (2, but it is a draft). Three mugs share a
family ("classic-mug") for the diversity rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from patron.catalog import service as catalog_service
from patron.catalog.schemas import ProductIn, ProductRef, ProductStatus
from patron.customers.schemas import IdentityKey, IdentityKind
from patron.events import service as events_service
from patron.orders import service as orders_service
from patron.orders.schemas import (
    CartIn,
    CartLineIn,
    CartStatus,
    CustomerRefIn,
    OrderIn,
    OrderLineIn,
    OrderStatus,
    RefundIn,
)
from patron.store import service as store_service

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
# sku: (title, category, brand, price, stock, status, family)
PRODUCTS: dict[str, tuple[str, str, str, int, int | None, ProductStatus, str | None]] = {
    "mug": ("Blue Mug", "Home > Kitchen", "Acme", 800, 10, ProductStatus.ACTIVE, "classic-mug"),
    "mug-red": ("Red Mug", "Home > Kitchen", "Acme", 800, 10, ProductStatus.ACTIVE,
                "classic-mug"),
    "mug-green": ("Green Mug", "Home > Kitchen", "Acme", 800, 10, ProductStatus.ACTIVE,
                  "classic-mug"),
    "mug-pro": ("Blue Mug Pro", "Home > Kitchen", "Acme", 1200, 5, ProductStatus.ACTIVE, None),
    "mug-lux": ("Gold Mug", "Home > Kitchen", "Lux", 2400, None, ProductStatus.ACTIVE, None),
    "kettle": ("Steel Kettle", "Home > Kitchen", "Acme", 4000, 3, ProductStatus.ACTIVE, None),
    "spoon": ("Tea Spoon", "Home > Kitchen", "Acme", 200, 0, ProductStatus.ACTIVE, None),
    "plate": ("Dinner Plate", "Home > Kitchen", "Acme", 900, 8, ProductStatus.DRAFT, None),
    "coffee": ("House Coffee", "Food > Coffee", "Bean", 1000, 50, ProductStatus.ACTIVE, None),
    "coffee-dark": ("Dark Coffee", "Food > Coffee", "Bean", 1500, 50, ProductStatus.ACTIVE,
                    None),
    "filter": ("Paper Filter", "Food > Coffee", "Bean", 300, 99, ProductStatus.ACTIVE, None),
}  # fmt: skip
CUSTOMERS = {"ann": "GB", "bob": "GB", "cat": "GB", "dan": "US", "eve": "US", "fay": "US",
             "gus": "US", "hal": "DE", "ivy": "DE", "kim": "DE", "lee": "GB", "max": "US",
             "ned": "US", "joe": "GB"}  # fmt: skip
# (day, customer, skus): the store's history
ORDERS: list[tuple[int, str, tuple[str, ...]]] = [
    (0, "ann", ("mug", "coffee")),
    (1, "bob", ("mug", "coffee", "filter")),
    (2, "cat", ("mug", "filter")),
    (3, "dan", ("mug", "coffee")),
    (4, "eve", ("kettle", "coffee-dark")),
    (5, "fay", ("kettle", "coffee-dark")),
    (6, "gus", ("mug-pro",)),
    (7, "hal", ("mug-pro", "coffee")),
    (8, "ivy", ("mug-lux",)),
    (9, "kim", ("spoon", "mug")),
    (11, "lee", ("spoon", "mug")),
    (12, "max", ("plate", "mug")),
    (13, "ned", ("plate", "mug")),
    (14, "fay", ("mug-red", "coffee")),
    (15, "gus", ("mug-green", "coffee")),
    (10, "ann", ("coffee",)),
    (20, "ann", ("coffee",)),
    (16, "bob", ("coffee",)),
]


@dataclass
class Store:
    source_id: int
    products: dict[str, int]
    customers: dict[str, int]

    def skus(self, ids: Iterable[int]) -> list[str]:
        by_id = {v: k for k, v in self.products.items()}
        return [by_id[i] for i in ids]


def who(name: str) -> CustomerRefIn:
    return CustomerRefIn(
        keys=[IdentityKey.of(IdentityKind.EMAIL, f"{name}@example.com")],
        traits={"first_name": name.title(), "country": CUSTOMERS[name]},
    )


def order(ext: str, day: float, name: str, skus: Iterable[str], **kw: object) -> OrderIn:
    lines = [
        OrderLineIn(product=ProductRef(external_id=s, sku=s), quantity=1,
                    unit_price=PRODUCTS[s][3])
        for s in skus
    ]  # fmt: skip
    return OrderIn(external_id=ext, placed_at=T0 + timedelta(days=day), currency="USD",
                   customer=who(name), lines=lines, status=OrderStatus.FULFILLED,
                   **kw)  # type: ignore[arg-type]  # fmt: skip


def build(session: Session) -> Store:
    source_id = store_service.ensure_source(session, key="shop").id
    rows = catalog_service.upsert_products(
        session,
        products=[
            ProductIn(external_id=sku, sku=sku, title=t, category_path=c, brand=b, price=p,
                      currency="USD", stock=st, status=status,
                      properties={"family": fam} if fam else {})
            for sku, (t, c, b, p, st, status, fam) in PRODUCTS.items()
        ],
        source_id=source_id,
    )  # fmt: skip
    products = dict(zip(PRODUCTS, rows, strict=True))
    orders = [order(f"o{n}", day, name, skus) for n, (day, name, skus) in enumerate(ORDERS)]
    summary = orders_service.upsert_orders(session, orders=orders, source_id=source_id)
    got = [orders_service.get(session, order_id=i) for i in summary.ids]
    customers: dict[str, int] = {}
    for (_, name, _), o in zip(ORDERS, got, strict=True):
        assert o.customer_id is not None
        customers[name] = o.customer_id
    session.flush()
    return Store(source_id=source_id, products=products, customers=customers)


@pytest.fixture
def store(session: Session) -> Store:
    return build(session)


def add_cart(session: Session, s: Store, name: str, skus: Iterable[str]) -> int:
    lines = [CartLineIn(product=ProductRef(external_id=k, sku=k), quantity=1,
                        unit_price=PRODUCTS[k][3]) for k in skus]  # fmt: skip
    ids = orders_service.upsert_carts(
        session,
        carts=[CartIn(external_id=f"cart-{name}", customer=who(name), updated_at=T0 +
                      timedelta(days=21), currency="USD", status=CartStatus.OPEN, lines=lines)],
        source_id=s.source_id,
    )  # fmt: skip
    return ids[0]


def add_views(session: Session, s: Store, name: str, skus: Iterable[str], day: int) -> None:
    messages = [
        {"type": "track", "event": "Product Viewed", "messageId": f"v-{name}-{k}-{day}",
         "userId": f"user-{name}", "traits": {"email": f"{name}@example.com"},
         "timestamp": (T0 + timedelta(days=day, minutes=n)).isoformat(),
         "properties": {"product_id": k, "sku": k}}
        for n, k in enumerate(skus)
    ]  # fmt: skip
    events_service.ingest(session, messages=messages, source_id=s.source_id,
                          received_at=T0 + timedelta(days=day, hours=1))  # fmt: skip


def refund(session: Session, s: Store, name: str, sku: str, day: int) -> None:
    o = order(f"r-{name}-{sku}", day, name, [sku])
    price = PRODUCTS[sku][3]
    o.refunds = [RefundIn(external_id=f"rf-{name}-{sku}", amount=price,
                          refunded_at=T0 + timedelta(days=day + 2), reason="returned",
                          lines=[{"sku": sku, "quantity": 1, "amount": price}])]  # fmt: skip
    orders_service.upsert_orders(session, orders=[o], source_id=s.source_id)
