"""Shopify webhook bodies (Admin REST resource shapes) -> Patron inputs. Pure functions."""

from __future__ import annotations

from typing import Any

from patron.catalog.schemas import ProductIn, ProductRef, VariantIn
from patron.core.errors import ValidationError
from patron.core.money import normalize_currency, to_minor
from patron.core.time import parse_datetime
from patron.customers.schemas import IdentityKey, IdentityKind, ResolveRequest
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

_CHANNELS = {"web": "web", "pos": "pos", "shopify_draft_order": "web", "iphone": "app"}
_CHANNELS |= {"android": "app"}


def _req(d: dict[str, Any], key: str, at: str) -> Any:
    v = d.get(key)
    if v is None or v == "":
        raise ValidationError(f"{at}{key} is required", field=f"{at}{key}")
    return v


def _money(v: Any, currency: str, field: str) -> int:
    return to_minor(v if v not in (None, "") else "0", currency, field=field)


def customer_keys(source_key: str, c: dict[str, Any] | None, email: Any, phone: Any) -> list:
    keys: list[IdentityKey] = []
    c = c or {}
    if c.get("id") is not None:
        keys.append(IdentityKey.of(IdentityKind.EXTERNAL, str(c["id"]), source_key))
    mail = c.get("email") or email
    if mail:
        keys.append(IdentityKey.of(IdentityKind.EMAIL, str(mail)))
    tel = c.get("phone") or phone or (c.get("default_address") or {}).get("phone")
    if tel:
        try:
            keys.append(IdentityKey.of(IdentityKind.PHONE, str(tel)))
        except ValueError:
            pass
    return keys


def customer_traits(c: dict[str, Any] | None) -> dict[str, Any]:
    c = c or {}
    addr = c.get("default_address") or {}
    traits = {
        "first_name": c.get("first_name"),
        "last_name": c.get("last_name"),
        "locale": c.get("locale"),
        "country": addr.get("country_code"),
        "tags": [t.strip() for t in (c.get("tags") or "").split(",") if t.strip()] or None,
    }
    return {k: v for k, v in traits.items() if v}


def _status(o: dict[str, Any]) -> OrderStatus:
    if o.get("cancelled_at"):
        return OrderStatus.CANCELLED
    fin = o.get("financial_status")
    if fin == "refunded":
        return OrderStatus.REFUNDED
    if fin == "partially_refunded":
        return OrderStatus.PARTIALLY_REFUNDED
    if o.get("fulfillment_status") == "fulfilled":
        return OrderStatus.FULFILLED
    if fin == "paid":
        return OrderStatus.PAID
    return OrderStatus.PLACED


def refund(r: dict[str, Any], currency: str, at: str = "") -> RefundIn:
    """A Shopify refund: its amount is the sum of its refund transactions."""
    rid = str(_req(r, "id", at))
    txs = [t for t in r.get("transactions") or [] if t.get("kind") == "refund"]
    amount = sum(
        _money(t.get("amount"), currency, f"{at}transactions[{i}].amount")
        for i, t in enumerate(txs)
        if t.get("status", "success") == "success"
    )
    lines = []
    for i, li in enumerate(r.get("refund_line_items") or []):
        item = li.get("line_item") or {}
        line: dict[str, Any] = {"quantity": int(li.get("quantity") or 0)}
        if item.get("product_id") is not None:
            line["product_external_id"] = str(item["product_id"])
        if item.get("sku"):
            line["sku"] = item["sku"]
        if li.get("subtotal") is not None:
            line["amount"] = _money(li["subtotal"], currency, f"{at}refund_line_items[{i}]")
        lines.append(line)
    return RefundIn(
        external_id=rid,
        amount=amount,
        refunded_at=parse_datetime(_req(r, "created_at", at), field=f"{at}created_at"),
        reason=r.get("note"),
        lines=lines,
    )


def order(o: dict[str, Any], source_key: str) -> OrderIn:
    currency = normalize_currency(_req(o, "currency", ""), field="currency")
    lines = []
    for i, li in enumerate(o.get("line_items") or []):
        at = f"line_items[{i}]."
        price = _money(li.get("price"), currency, f"{at}price")
        pid = li.get("product_id")
        lines.append(
            OrderLineIn(
                product=ProductRef(
                    external_id=str(pid) if pid is not None else None,
                    sku=li.get("sku") or None,
                    title=li.get("title"),
                    price=price,
                    currency=currency,
                ),
                quantity=int(_req(li, "quantity", at)),
                unit_price=price,
                discount=_money(li.get("total_discount"), currency, f"{at}total_discount"),
                variant_external_id=str(li["variant_id"]) if li.get("variant_id") else None,
            )
        )
    shipping = sum(
        _money(s.get("price"), currency, f"shipping_lines[{i}].price")
        for i, s in enumerate(o.get("shipping_lines") or [])
    )
    cust = o.get("customer")
    return OrderIn(
        external_id=str(_req(o, "id", "")),
        placed_at=parse_datetime(_req(o, "created_at", ""), field="created_at"),
        currency=currency,
        customer=CustomerRefIn(
            keys=customer_keys(source_key, cust, o.get("email"), o.get("phone")),
            traits=customer_traits(cust),
        ),
        lines=lines,
        channel=_CHANNELS.get(str(o.get("source_name") or "web"), "other"),
        number=o.get("name"),
        status=_status(o),
        discount_total=_money(o.get("total_discounts"), currency, "total_discounts"),
        shipping_total=shipping,
        tax_total=_money(o.get("total_tax"), currency, "total_tax"),
        total=_money(_req(o, "total_price", ""), currency, "total_price"),
        coupon_codes=[d["code"] for d in o.get("discount_codes") or [] if d.get("code")],
        cancelled_at=(
            parse_datetime(o["cancelled_at"], field="cancelled_at")
            if o.get("cancelled_at")
            else None
        ),
        refunds=[
            refund(r, currency, f"refunds[{i}].") for i, r in enumerate(o.get("refunds") or [])
        ],
    )


def customer(c: dict[str, Any], source_key: str, source_id: int) -> ResolveRequest:
    keys = customer_keys(source_key, {**c, "id": _req(c, "id", "")}, None, None)
    return ResolveRequest(
        keys=keys,
        traits=customer_traits(c),
        source_id=source_id,
        seen_at=parse_datetime(c["updated_at"], field="updated_at")
        if c.get("updated_at")
        else None,
    )


def product(p: dict[str, Any], currency: str) -> ProductIn:
    """Shopify product bodies carry no currency: prices are in the shop's (`currency`)."""
    variants = []
    for i, v in enumerate(p.get("variants") or []):
        variants.append(
            VariantIn(
                external_id=str(v["id"]) if v.get("id") is not None else None,
                sku=v.get("sku") or None,
                title=v.get("title") or "",
                price=to_minor(v["price"], currency, field=f"variants[{i}].price")
                if v.get("price") not in (None, "")
                else None,
                currency=currency,
                stock=v.get("inventory_quantity"),
            )
        )
    first = variants[0] if variants else None
    return ProductIn(
        external_id=str(_req(p, "id", "")),
        title=p.get("title"),
        category_path=p.get("product_type") or None,
        brand=p.get("vendor") or None,
        price=first.price if first else None,
        currency=currency,
        properties={"handle": p["handle"]} if p.get("handle") else {},
        variants=variants,
    )


def checkout(c: dict[str, Any], source_key: str) -> CartIn:
    currency = normalize_currency(_req(c, "currency", ""), field="currency")
    lines = []
    for i, li in enumerate(c.get("line_items") or []):
        price = _money(li.get("price"), currency, f"line_items[{i}].price")
        pid = li.get("product_id")
        ref = ProductRef(
            external_id=str(pid) if pid is not None else None,
            sku=li.get("sku") or None,
            title=li.get("title"),
            price=price,
            currency=currency,
        )
        lines.append(
            CartLineIn(product=ref, quantity=int(li.get("quantity") or 1), unit_price=price)
        )
    done = c.get("completed_at")
    return CartIn(
        external_id=str(c.get("token") or _req(c, "id", "")),
        customer=CustomerRefIn(
            keys=customer_keys(source_key, c.get("customer"), c.get("email"), c.get("phone")),
            traits=customer_traits(c.get("customer")),
        ),
        updated_at=parse_datetime(
            c.get("updated_at") or _req(c, "created_at", ""), field="updated_at"
        ),
        channel=_CHANNELS.get(str(c.get("source_name") or "web"), "other"),
        currency=currency,
        status=CartStatus.CONVERTED if done else CartStatus.CHECKOUT,
        lines=lines,
        value=_money(c.get("total_price"), currency, "total_price"),
        checkout_url=c.get("abandoned_checkout_url"),
    )
