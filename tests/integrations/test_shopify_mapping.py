"""Shopify resource bodies (the official client's fixtures) map to exact Patron inputs."""

import json
from datetime import UTC, datetime

import pytest

from patron.core.errors import ValidationError
from patron.customers.schemas import IdentityKey, IdentityKind
from patron.integrations import shopify
from patron.orders.schemas import CartStatus, OrderStatus
from tests.shared_data import SHARED

FIXTURES = SHARED / "shopify_fixtures"


def load(name: str, key: str) -> dict:
    return json.loads((FIXTURES / name).read_text())[key]


def test_order_maps_money_lines_and_customer_keys() -> None:
    o = shopify.order(load("order.json", "order"), "shop-us")
    assert (o.external_id, o.number, o.currency, o.channel) == ("450789469", "#1001", "USD", "web")
    assert o.placed_at == datetime(2008, 1, 10, 16, 0, tzinfo=UTC)
    assert (o.total, o.tax_total, o.shipping_total, o.discount_total) == (40994, 1194, 0, 0)
    assert o.status is OrderStatus.PLACED
    assert o.coupon_codes == ["TENOFF"]
    assert [
        (ln.product.external_id, ln.product.sku, ln.quantity, ln.unit_price) for ln in o.lines
    ] == [
        ("632910392", "IPOD2008GREEN", 1, 19900),
        ("632910392", "IPOD2008RED", 1, 19900),
        ("632910392", "IPOD2008BLACK", 1, 19900),
    ]
    assert o.customer.keys == [
        IdentityKey(IdentityKind.EXTERNAL, "207119551", "shop-us"),
        IdentityKey(IdentityKind.EMAIL, "bob.norman@hostmail.com"),
        IdentityKey(IdentityKind.PHONE, "5556251199"),
    ]
    assert o.customer.traits == {"first_name": "Bob", "last_name": "Norman", "country": "US"}


def test_refund_amount_is_the_sum_of_refund_transactions() -> None:
    r = shopify.refund(load("refund.json", "refund"), "USD")
    assert (r.external_id, r.amount, r.reason) == ("509562969", 20900, "it broke during shipping")
    assert r.refunded_at == datetime(2016, 6, 20, 17, 35, 6, tzinfo=UTC)
    assert [ln["sku"] for ln in r.lines] == ["IPOD2008BLACK", "IPOD2008GREEN"]


def test_checkout_maps_to_an_open_checkout_cart_with_its_recovery_url() -> None:
    c = shopify.checkout(load("checkouts.json", "checkouts")[0], "shop-us")
    assert (c.external_id, c.status, c.value, c.currency) == (
        "2a1ace52255252df566af0faaedfbfa7", CartStatus.CHECKOUT, 40994, "USD")  # fmt: skip
    assert c.checkout_url == (
        "https://checkout.local/orders/690933842/2a1ace52255252df566af0faaedfbfa7?recovered=1"
    )
    assert [(ln.product.sku, ln.unit_price) for ln in c.lines or []] == [
        ("IPOD2008RED", 19900), ("IPOD2008PINK", 19900)]  # fmt: skip


def test_customer_and_product() -> None:
    req = shopify.customer(load("customer.json", "customer"), "shop-us", 7)
    assert req.keys[0] == IdentityKey(IdentityKind.EXTERNAL, "207119551", "shop-us")
    assert IdentityKey(IdentityKind.EMAIL, "bob.norman@hostmail.com") in req.keys
    assert (req.traits["first_name"], req.source_id) == ("Bob", 7)
    p = shopify.product(load("product.json", "product"), "USD")
    assert (p.external_id, p.title, p.price, p.brand) == (
        "632910392",
        "IPod Nano - 8GB",
        19900,
        "Apple",
    )
    assert [(v.external_id, v.sku, v.price) for v in p.variants][:2] == [
        ("808950810", "IPOD2008PINK", 19900), ("49148385", "IPOD2008RED", 19900)]  # fmt: skip


def test_bad_money_names_the_field() -> None:
    body = load("order.json", "order") | {"total_price": "abc"}
    with pytest.raises(ValidationError) as err:
        shopify.order(body, "shop-us")
    assert err.value.field == "total_price"
    with pytest.raises(ValidationError) as err:
        shopify.order({"currency": "USD", "created_at": "2020-01-01T00:00:00Z"}, "s")
    assert err.value.field == "id"
