"""WooCommerce REST v3 bodies (the documented examples) map to exact Patron inputs."""

import json
from datetime import UTC, datetime

from patron.customers.schemas import IdentityKey, IdentityKind
from patron.integrations import woocommerce
from patron.orders.schemas import OrderStatus
from tests.shared_data import SHARED

PAYLOADS = SHARED / "woocommerce_payloads" / "json"


def load(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text())


def test_guest_order_maps_totals_lines_and_billing_keys() -> None:
    o = woocommerce.order(load("orders__retrieve_an_order.json"), "woo-id")
    assert (o.external_id, o.number, o.currency, o.status) == (
        "727",
        "727",
        "USD",
        OrderStatus.PAID,
    )
    assert o.placed_at == datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC)
    assert (o.total, o.tax_total, o.shipping_total, o.discount_total) == (2935, 135, 1000, 0)
    assert [(ln.product.external_id, ln.product.sku, ln.quantity, ln.unit_price,
             ln.variant_external_id) for ln in o.lines] == [
        ("93", None, 2, 300, None), ("22", "Bar3", 1, 1200, "23")]  # fmt: skip
    # customer_id 0 is a guest: keys are the billing email and phone only
    assert o.customer.keys == [
        IdentityKey(IdentityKind.EMAIL, "john.doe@example.com"),
        IdentityKey(IdentityKind.PHONE, "5555555555"),
    ]


def test_status_mapping_and_refunds() -> None:
    body = load("orders__retrieve_an_order.json") | {
        "status": "refunded", "customer_id": 25,
        "refunds": [{"id": 726, "reason": "", "total": "-29.35"}]}  # fmt: skip
    o = woocommerce.order(body, "woo-id")
    assert o.status is OrderStatus.REFUNDED
    assert [(r.external_id, r.amount) for r in o.refunds] == [("726", 2935)]
    assert o.customer.keys[0] == IdentityKey(IdentityKind.EXTERNAL, "25", "woo-id")
    cancelled = woocommerce.order(body | {"status": "cancelled"}, "woo-id")
    assert cancelled.cancelled_at == datetime(2017, 3, 22, 19, 28, 8, tzinfo=UTC)


def test_customer_and_product() -> None:
    req = woocommerce.customer(load("customers__retrieve_a_customer.json"), "woo-id", 3)
    assert req.keys == [
        IdentityKey(IdentityKind.EXTERNAL, "25", "woo-id"),
        IdentityKey(IdentityKind.EMAIL, "john.doe@example.com"),
        IdentityKey(IdentityKind.PHONE, "5555555555"),
    ]
    assert req.traits == {"first_name": "John", "last_name": "Doe", "country": "US"}
    p = woocommerce.product(load("products__retrieve_a_product.json"), "USD")
    assert (p.external_id, p.title, p.price, p.category_path) == (
        "794", "Premium Quality", 2199, "Clothing")  # fmt: skip
