"""E-commerce Spec v2 projection: new events update the catalog, carts and orders.

Only events stored for the first time are projected, so a replayed batch changes nothing.
Each kind of update runs set-based for the whole batch, inside a SAVEPOINT: an event that
cannot be projected (a refund for an order this store never saw) stays stored and logged,
and never fails the batch that carried it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from patron.catalog import service as catalog_service
from patron.catalog.schemas import ProductIn, ProductRef
from patron.core.errors import PatronError, ValidationError
from patron.core.money import normalize_currency, to_minor
from patron.orders import service as orders_service
from patron.orders.schemas import (
    CartIn,
    CartItemChangeIn,
    CartLineIn,
    CartStatus,
    CustomerRefIn,
    OrderIn,
    OrderLineIn,
    OrderStatus,
    RefundIn,
)

log = logging.getLogger("patron.events")

PRODUCT_EVENTS = {
    "Product Viewed", "Product Clicked", "Product Added", "Product Removed",
    "Product Added to Wishlist", "Product Removed from Wishlist", "Product Shared",
    "Product Reviewed", "Wishlist Product Added to Cart",
}  # fmt: skip
CART_LIST_EVENTS = {"Cart Viewed", "Checkout Started", "Checkout Step Viewed",
                    "Checkout Step Completed", "Payment Info Entered"}  # fmt: skip
ORDER_EVENTS = {"Order Completed", "Order Updated"}
# Events whose projection writes its own timeline entry (the order's), not one per event.
TIMELINE_OWNED_EVENTS = {"Order Completed", "Order Updated", "Order Refunded", "Order Cancelled"}
COMMERCE_EVENTS = (
    PRODUCT_EVENTS | CART_LIST_EVENTS | TIMELINE_OWNED_EVENTS
    | {"Products Searched", "Product List Viewed", "Product List Filtered", "Promotion Viewed",
       "Promotion Clicked", "Coupon Entered", "Coupon Applied", "Coupon Denied", "Coupon Removed",
       "Cart Shared"}
)  # fmt: skip


@dataclass(slots=True)
class CommerceEvent:
    name: str
    properties: dict[str, Any]
    customer_id: int | None
    at: datetime
    channel: str
    where: str


def _s(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)[:500]


def _currency(props: dict[str, Any], default: str, where: str) -> str:
    raw = props.get("currency")
    return normalize_currency(raw, field=f"{where}.currency") if raw else default


def _money(value: Any, currency: str, field: str) -> int:
    return 0 if value is None or value == "" else to_minor(value, currency, field=field)


def _ref(p: dict[str, Any], currency: str, where: str) -> ProductRef:
    price = p.get("price")
    return ProductRef(
        external_id=_s(p.get("product_id") or p.get("id")),
        sku=_s(p.get("sku")),
        title=_s(p.get("name")),
        category_path=_s(p.get("category")),
        brand=_s(p.get("brand")),
        price=None if price is None else _money(price, currency, f"{where}.price"),
        currency=currency if price is not None else None,
        image_url=_s(p.get("image_url")),
        url=_s(p.get("url")),
    )


def _quantity(p: dict[str, Any], where: str) -> int:
    q = p.get("quantity", 1)
    if isinstance(q, bool) or not isinstance(q, int | float) or q != int(q):
        raise ValidationError(f"{where}.quantity must be a whole number", field=f"{where}.quantity")
    return int(q)


def _products(props: dict[str, Any], currency: str, where: str) -> list[dict[str, Any]]:
    items = props.get("products")
    if not isinstance(items, list):
        return []
    return [p for p in items if isinstance(p, dict)]


def _customer(e: CommerceEvent) -> CustomerRefIn:
    return CustomerRefIn(customer_id=e.customer_id)


def _guarded(session: Session, what: str, fn: Callable[[], object]) -> None:
    try:
        with session.begin_nested():
            fn()
    except PatronError as exc:
        log.warning("could not project %s: %s", what, exc.message)


def project(
    session: Session, *, events: Sequence[CommerceEvent], source_id: int, currency: str
) -> None:
    """Apply every projectable event of one batch (already stored, first time seen)."""
    products: list[ProductIn] = []
    changes: list[CartItemChangeIn] = []
    carts: list[CartIn] = []
    orders: list[OrderIn] = []
    refunds: list[tuple[str, RefundIn]] = []
    cancels: list[tuple[str, datetime]] = []
    for e in events:
        try:
            _collect(e, currency, products, changes, carts, orders, refunds, cancels)
        except PatronError as exc:
            log.warning("event %s not projected: %s", e.where, exc.message)
    if products:
        _guarded(session, "products", lambda: catalog_service.upsert_products(
            session, products=products, source_id=source_id))  # fmt: skip
    if changes:
        _guarded(session, "cart items", lambda: orders_service.apply_cart_item_changes(
            session, changes=changes, source_id=source_id))  # fmt: skip
    if carts:
        _guarded(session, "carts", lambda: orders_service.upsert_carts(
            session, carts=carts, source_id=source_id))  # fmt: skip
    if orders:
        _guarded(session, "orders", lambda: orders_service.upsert_orders(
            session, orders=orders, source_id=source_id))  # fmt: skip
    for pair in refunds:  # one at a time: an unknown order must not drop the others
        _guarded(session, f"refund of order {pair[0]}", lambda p=pair: orders_service.add_refunds(
            session, source_id=source_id, refunds=[p]))  # type: ignore[misc]  # fmt: skip
    if cancels:
        _guarded(session, "cancellations", lambda: orders_service.cancel_orders(
            session, source_id=source_id, cancellations=cancels))  # fmt: skip


def _collect(
    e: CommerceEvent,
    default_currency: str,
    products: list[ProductIn],
    changes: list[CartItemChangeIn],
    carts: list[CartIn],
    orders: list[OrderIn],
    refunds: list[tuple[str, RefundIn]],
    cancels: list[tuple[str, datetime]],
) -> None:
    props, where = e.properties, f"{e.where}.properties"
    currency = _currency(props, default_currency, where)
    if e.name in PRODUCT_EVENTS:
        ref = _ref(props, currency, where)
        if ref.external_id or ref.sku:
            products.append(ProductIn(
                external_id=ref.external_id, sku=ref.sku, title=ref.title,
                category_path=ref.category_path, brand=ref.brand, price=ref.price,
                currency=ref.currency, image_url=ref.image_url, url=ref.url,
            ))  # fmt: skip
        cart_id = _s(props.get("cart_id"))
        if cart_id and e.name in (
            "Product Added",
            "Product Removed",
            "Wishlist Product Added to Cart",
        ):
            qty = _quantity(props, where)
            changes.append(CartItemChangeIn(
                cart_external_id=cart_id, customer=_customer(e), product=ref,
                quantity=-qty if e.name == "Product Removed" else qty, at=e.at,
                unit_price=ref.price or 0, currency=currency, channel=e.channel,
            ))  # fmt: skip
        return
    if e.name in CART_LIST_EVENTS:
        cart_id = _s(props.get("checkout_id") or props.get("cart_id"))
        if not cart_id:
            return
        items = _products(props, currency, where)
        lines = [
            CartLineIn(product=_ref(p, currency, f"{where}.products[{i}]"),
                       quantity=_quantity(p, f"{where}.products[{i}]"),
                       unit_price=_money(p.get("price"), currency, f"{where}.products[{i}].price"))
            for i, p in enumerate(items)
        ]  # fmt: skip
        value = props.get("value", props.get("revenue"))
        carts.append(CartIn(
            external_id=cart_id, customer=_customer(e), updated_at=e.at, channel=e.channel,
            currency=currency, lines=lines or None,
            status=None if e.name == "Cart Viewed" else CartStatus.CHECKOUT,
            value=None if value is None else _money(value, currency, f"{where}.value"),
        ))  # fmt: skip
        return
    order_id = _s(props.get("order_id"))
    if not order_id:
        return
    if e.name in ORDER_EVENTS:
        items = _products(props, currency, where)
        lines = [
            OrderLineIn(product=_ref(p, currency, f"{where}.products[{i}]"),
                        quantity=_quantity(p, f"{where}.products[{i}]"),
                        unit_price=_money(p.get("price"), currency, f"{where}.products[{i}].price"))
            for i, p in enumerate(items)
        ]  # fmt: skip
        total = props.get("total")
        coupon = _s(props.get("coupon"))
        link = {k: str(props[k]) for k in ("cart_id", "checkout_id", "affiliation") if props.get(k)}
        orders.append(OrderIn(
            external_id=order_id, placed_at=e.at, currency=currency, customer=_customer(e),
            lines=lines, channel=e.channel,
            status=OrderStatus.PAID if e.name == "Order Completed" else None,
            discount_total=_money(props.get("discount"), currency, f"{where}.discount"),
            shipping_total=_money(props.get("shipping"), currency, f"{where}.shipping"),
            tax_total=_money(props.get("tax"), currency, f"{where}.tax"),
            total=None if total is None else _money(total, currency, f"{where}.total"),
            coupon_codes=[coupon] if coupon else [],
            properties=link,
        ))  # fmt: skip
    elif e.name == "Order Refunded":
        items = _products(props, currency, where)
        amount = props.get("total")
        if amount is None:
            amount_minor = sum(
                _money(p.get("price"), currency, f"{where}.products[{i}].price")
                * _quantity(p, f"{where}.products[{i}]")
                for i, p in enumerate(items)
            )
        else:
            amount_minor = _money(amount, currency, f"{where}.total")
        lines = [
            {"product_external_id": _s(p.get("product_id")), "sku": _s(p.get("sku")),
             "quantity": _quantity(p, f"{where}.products[{i}]")}
            for i, p in enumerate(items)
        ]  # fmt: skip
        refund_id = _s(props.get("refund_id")) or f"{order_id}@{e.at.isoformat()}"
        refunds.append((order_id, RefundIn(
            external_id=refund_id, amount=amount_minor, refunded_at=e.at,
            reason=_s(props.get("reason")), lines=lines,
        )))  # fmt: skip
    elif e.name == "Order Cancelled":
        cancels.append((order_id, e.at))
