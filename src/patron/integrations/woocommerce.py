"""WooCommerce webhook bodies (REST API v3 resource shapes) -> Patron inputs. Pure functions."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from patron.catalog.schemas import ProductIn, ProductRef, VariantIn
from patron.core.errors import ValidationError
from patron.core.money import normalize_currency, to_minor
from patron.core.time import parse_datetime
from patron.customers.schemas import IdentityKey, IdentityKind, ResolveRequest
from patron.orders.schemas import CustomerRefIn, OrderIn, OrderLineIn, OrderStatus, RefundIn

_STATUS = {
    "pending": OrderStatus.PLACED,
    "on-hold": OrderStatus.PLACED,
    "processing": OrderStatus.PAID,
    "completed": OrderStatus.FULFILLED,
    "cancelled": OrderStatus.CANCELLED,
    "failed": OrderStatus.CANCELLED,
    "refunded": OrderStatus.REFUNDED,
}


def _req(d: dict[str, Any], key: str, at: str) -> Any:
    v = d.get(key)
    if v is None or v == "":
        raise ValidationError(f"{at}{key} is required", field=f"{at}{key}")
    return v


def _money(v: Any, currency: str, field: str) -> int:
    return to_minor(v if v not in (None, "") else "0", currency, field=field)


def _gmt(d: dict[str, Any], key: str) -> Any:
    """WooCommerce gives `<key>_gmt` (UTC, no offset) beside local time: prefer it."""
    gmt = d.get(f"{key}_gmt")
    if gmt:
        return parse_datetime(gmt, field=f"{key}_gmt").replace(tzinfo=UTC)
    return parse_datetime(_req(d, key, ""), field=key)


def customer_keys(source_key: str, customer_id: Any, email: Any, phone: Any) -> list[IdentityKey]:
    keys: list[IdentityKey] = []
    if customer_id not in (None, 0, "0", ""):  # 0 is a guest checkout
        keys.append(IdentityKey.of(IdentityKind.EXTERNAL, str(customer_id), source_key))
    if email:
        keys.append(IdentityKey.of(IdentityKind.EMAIL, str(email)))
    if phone:
        try:
            keys.append(IdentityKey.of(IdentityKind.PHONE, str(phone)))
        except ValueError:
            pass
    return keys


def _traits(first: Any, last: Any, country: Any) -> dict[str, Any]:
    t = {"first_name": first, "last_name": last, "country": country}
    return {k: v for k, v in t.items() if v}


def order(o: dict[str, Any], source_key: str) -> OrderIn:
    currency = normalize_currency(_req(o, "currency", ""), field="currency")
    billing = o.get("billing") or {}
    lines = []
    for i, li in enumerate(o.get("line_items") or []):
        at = f"line_items[{i}]."
        qty = int(_req(li, "quantity", at))
        subtotal = _money(li.get("subtotal"), currency, f"{at}subtotal")
        total = _money(li.get("total"), currency, f"{at}total")
        pid = li.get("product_id")
        unit = subtotal // qty if qty else 0
        lines.append(
            OrderLineIn(
                product=ProductRef(
                    external_id=str(pid) if pid else None,
                    sku=li.get("sku") or None,
                    title=li.get("name"),
                    price=unit,
                    currency=currency,
                ),
                quantity=qty,
                unit_price=unit,
                discount=max(subtotal - total, 0),
                variant_external_id=str(li["variation_id"]) if li.get("variation_id") else None,
            )
        )
    status = _STATUS.get(str(o.get("status") or "pending"), OrderStatus.PLACED)
    refunds = [
        RefundIn(
            external_id=str(_req(r, "id", f"refunds[{i}].")),
            amount=abs(_money(r.get("total"), currency, f"refunds[{i}].total")),
            refunded_at=_gmt(o, "date_modified")
            if o.get("date_modified")
            else _gmt(o, "date_created"),
            reason=r.get("reason") or None,
        )
        for i, r in enumerate(o.get("refunds") or [])
    ]
    return OrderIn(
        external_id=str(_req(o, "id", "")),
        placed_at=_gmt(o, "date_created"),
        currency=currency,
        customer=CustomerRefIn(
            keys=customer_keys(
                source_key, o.get("customer_id"), billing.get("email"), billing.get("phone")
            ),
            traits=_traits(
                billing.get("first_name"), billing.get("last_name"), billing.get("country")
            ),
        ),
        lines=lines,
        channel="web",
        number=str(o.get("number") or o["id"]),
        status=status,
        discount_total=_money(o.get("discount_total"), currency, "discount_total"),
        shipping_total=_money(o.get("shipping_total"), currency, "shipping_total"),
        tax_total=_money(o.get("total_tax"), currency, "total_tax"),
        total=_money(_req(o, "total", ""), currency, "total"),
        coupon_codes=[c["code"] for c in o.get("coupon_lines") or [] if c.get("code")],
        cancelled_at=_gmt(o, "date_modified") if status is OrderStatus.CANCELLED else None,
        refunds=refunds,
    )


def customer(c: dict[str, Any], source_key: str, source_id: int) -> ResolveRequest:
    billing = c.get("billing") or {}
    keys = customer_keys(
        source_key, _req(c, "id", ""), c.get("email") or billing.get("email"), billing.get("phone")
    )
    return ResolveRequest(
        keys=keys,
        traits=_traits(c.get("first_name"), c.get("last_name"), billing.get("country")),
        source_id=source_id,
        seen_at=_gmt(c, "date_modified") if c.get("date_modified") else None,
    )


def product(p: dict[str, Any], currency: str) -> ProductIn:
    """WooCommerce product bodies carry no currency: prices are in the shop's (`currency`)."""
    price = p.get("price")
    cats = [c.get("name") for c in p.get("categories") or [] if c.get("name")]
    images = p.get("images") or []
    return ProductIn(
        external_id=str(_req(p, "id", "")),
        sku=p.get("sku") or None,
        title=p.get("name"),
        category_path=cats[0] if cats else None,
        price=to_minor(price, currency, field="price") if price not in (None, "") else None,
        currency=currency,
        image_url=images[0].get("src") if images else None,
        url=p.get("permalink") or None,
        stock=p.get("stock_quantity"),
        variants=[VariantIn(external_id=str(v)) for v in p.get("variations") or [] if v],
    )
