"""E-commerce Spec v2 events update carts, orders, refunds and the profile, exactly once."""

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from patron.catalog import service as catalog_service
from patron.customers import service as customers_service
from patron.events import service
from patron.orders import service as orders_service

T0 = datetime(2026, 4, 2, 9, 0, tzinfo=UTC)
SHOE = {"product_id": "p-1", "sku": "SH-1", "name": "Runner", "category": "Shoes",
        "brand": "Fleet", "price": 450000, "currency": "IDR"}  # fmt: skip
SOCK = {"product_id": "p-2", "sku": "SO-1", "name": "Socks", "price": 25000, "currency": "IDR"}


def track(n: int, event: str, props: dict[str, object], minutes: int) -> dict[str, object]:
    return {
        "type": "track", "event": event, "anonymousId": "anon-5", "messageId": f"c{n}",
        "timestamp": (T0 + timedelta(minutes=minutes)).isoformat(), "properties": props,
        "context": {"traits": {"email": "sari@example.id"}},
    }  # fmt: skip


SESSION = [
    track(1, "Product Viewed", SHOE, 0),
    track(2, "Product Added", {**SHOE, "cart_id": "cart-9", "quantity": 1}, 1),
    track(3, "Product Added", {**SOCK, "cart_id": "cart-9", "quantity": 3}, 2),
    track(4, "Product Removed", {**SOCK, "cart_id": "cart-9", "quantity": 1}, 3),
    track(
        5,
        "Checkout Started",
        {
            "checkout_id": "cart-9",
            "currency": "IDR",
            "value": 500000,
            "products": [{**SHOE, "quantity": 1}, {**SOCK, "quantity": 2}],
        },
        4,
    ),  # fmt: skip
    track(
        6,
        "Order Completed",
        {
            "order_id": "o-77",
            "checkout_id": "cart-9",
            "currency": "IDR",
            "shipping": 15000,
            "tax": 0,
            "discount": 10000,
            "coupon": "HEMAT",
            "products": [{**SHOE, "quantity": 1}, {**SOCK, "quantity": 2}],
        },
        5,
    ),  # fmt: skip
    track(7, "Order Refunded", {"order_id": "o-77", "currency": "IDR", "total": 50000}, 60),
]


def test_a_shopping_session_becomes_one_cart_one_order_one_refund(
    session: Session, source_id: int
) -> None:
    first = service.ingest(session, messages=SESSION, source_id=source_id, received_at=T0)
    again = service.ingest(session, messages=SESSION, source_id=source_id, received_at=T0)
    assert (first.accepted, first.duplicates) == (7, 0)
    assert (again.accepted, again.duplicates) == (0, 7)
    (cid,) = set(first.customer_ids)
    # one cart, converted by the order, with the checkout's lines
    (cart,) = orders_service.list_carts(session, customer_id=cid).items
    assert (cart.external_id, cart.status, cart.item_count, cart.value) == (
        "cart-9", "converted", 3, 50_000_000,
    )  # fmt: skip
    # one order with exact totals (ISO 4217 gives IDR two minor digits: amounts x100)
    (order,) = orders_service.list(session, customer_id=cid).items
    assert (order.subtotal, order.shipping_total, order.discount_total, order.total) == (
        50_000_000, 1_500_000, 1_000_000, 50_500_000,
    )  # fmt: skip
    assert (order.status, order.refunded_total, order.coupon_codes) == (
        "partially_refunded", 5_000_000, ["HEMAT"],
    )  # fmt: skip
    assert [(ln.sku, ln.quantity, ln.unit_price) for ln in order.lines] == [
        ("SH-1", 1, 45_000_000), ("SO-1", 2, 2_500_000),
    ]  # fmt: skip
    # the catalog learned both products
    shoe = catalog_service.list(session, q="SH-1").items[0]
    assert (shoe.title, shoe.category_path, shoe.brand, shoe.price) == (
        "Runner", "Shoes", "Fleet", 45_000_000,
    )  # fmt: skip
    # the profile has the stats and the email from the context traits
    profile = customers_service.get(session, customer_id=cid)
    assert (profile.email, profile.orders_count) == ("sari@example.id", 1)
    # the timeline shows the order once (not the Order Completed event) and the refund
    kinds = [(t.kind, t.title) for t in customers_service.timeline(session, customer_id=cid).items]
    assert [k for k, _ in kinds].count("order") == 1
    assert [k for k, _ in kinds].count("refund") == 1
    assert [title for k, title in kinds if k == "event"] == [
        "Checkout Started", "Product Removed", "Product Added", "Product Added", "Product Viewed",
    ]  # fmt: skip


def test_a_refund_for_an_unknown_order_is_stored_but_does_not_fail_the_batch(
    session: Session, source_id: int
) -> None:
    msgs = [
        track(1, "Order Refunded", {"order_id": "never-seen", "total": 10}, 0),
        track(2, "Product Viewed", SOCK, 1),
    ]
    result = service.ingest(session, messages=msgs, source_id=source_id, received_at=T0)
    assert result.accepted == 2
    assert orders_service.list(session).items == []
    assert catalog_service.list(session, q="SO-1").items[0].title == "Socks"
