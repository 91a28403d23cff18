"""Carts and checkouts (internal to orders; public through orders.service)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from patron.catalog import service as catalog_service
from patron.catalog.schemas import ProductRef
from patron.core.errors import NotFound, ValidationError
from patron.core.money import normalize_currency
from patron.core.pagination import clamp_limit, decode_cursor, encode_cursor
from patron.core.time import as_utc, parse_datetime
from patron.customers import service as customers_service
from patron.customers.schemas import ResolveRequest
from patron.db import UTCDateTime, by_id, keyset_before, table_of
from patron.orders.models import Cart, CartLine
from patron.orders.schemas import (
    CartIn,
    CartItemChangeIn,
    CartLineIn,
    CartLineRead,
    CartPage,
    CartRead,
    CartStatus,
    CustomerRefIn,
)

_CHUNK = 500
_CONVERTED = CartStatus.CONVERTED.value


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def resolve_customers(
    session: Session, refs: Sequence[tuple[CustomerRefIn, datetime, str]], source_id: int
) -> list[int | None]:
    """One resolve_many call for every ref without a customer_id short-cut."""
    result: list[int | None] = [r.customer_id for r, _, _ in refs]
    todo = [i for i, (r, _, _) in enumerate(refs) if r.customer_id is None and r.keys]
    if todo:
        requests = [
            ResolveRequest(
                keys=refs[i][0].keys,
                traits=refs[i][0].traits,
                source_id=source_id,
                seen_at=refs[i][1],
                channel=refs[i][2],
            )
            for i in todo
        ]
        for i, cid in zip(todo, customers_service.resolve_many(session, requests), strict=True):
            result[i] = cid
    return result


def _stored(session: Session, source_id: int, external_ids: Sequence[str]) -> dict[str, Any]:
    c = table_of(Cart).c
    out: dict[str, Any] = {}
    for chunk in _chunks(sorted(set(external_ids))):
        stmt = select(
            c.external_id, c.id, c.status, c.customer_id, c.value, c.item_count, c.currency,
            c.checkout_url, c.checkout_started_at, c.channel,
        ).where(c.source_id == source_id, c.external_id.in_(chunk))  # fmt: skip
        out.update((r.external_id, r) for r in session.execute(stmt))
    return out


def upsert_carts(session: Session, *, carts: Sequence[CartIn], source_id: int) -> list[int]:
    """Create or update carts/checkouts by (source_id, external_id); ids in input order."""
    if not carts:
        return []
    last: dict[str, int] = {}
    for i, cart in enumerate(carts):
        if not cart.external_id:
            raise ValidationError("external_id is required", field=f"carts[{i}].external_id")
        if cart.updated_at.tzinfo is None:
            raise ValidationError("updated_at must be timezone-aware",
                                  field=f"carts[{i}].updated_at")  # fmt: skip
        if cart.currency is not None:
            normalize_currency(cart.currency, field=f"carts[{i}].currency")
        last[cart.external_id] = i
    unique = [carts[i] for i in last.values()]
    stored = _stored(session, source_id, list(last))
    cids = resolve_customers(
        session, [(c.customer, c.updated_at, c.channel) for c in unique], source_id
    )
    refs = [ln.product for c in unique for ln in (c.lines or [])]
    pids = catalog_service.resolve_products(session, refs=refs, source_id=source_id)
    new_rows: list[dict[str, Any]] = []
    new_lines: list[list[dict[str, Any]] | None] = []
    upd_rows: list[dict[str, Any]] = []
    line_sets: list[tuple[int, list[dict[str, Any]]]] = []
    pos = 0
    for k, cart in enumerate(unique):
        prev = stored.get(cart.external_id)
        lines: list[dict[str, Any]] | None = None
        if cart.lines is not None:
            by_key: dict[str, dict[str, Any]] = {}
            for ln, pid in zip(cart.lines, pids[pos : pos + len(cart.lines)], strict=True):
                p = ln.product
                key = (p.external_id or p.sku or p.title or str(pid))[:128]
                row = by_key.setdefault(key, {
                    "item_key": key, "product_id": pid, "sku": p.sku,
                    "title": (p.title or p.sku or "")[:500], "quantity": 0,
                    "unit_price": ln.unit_price,
                })  # fmt: skip
                row["quantity"] += ln.quantity
            pos += len(cart.lines)
            lines = list(by_key.values())
        status = cart.status.value if cart.status is not None else None
        if prev is not None and prev.status == _CONVERTED:
            status = _CONVERTED  # a converted cart stays converted
        status = status or (prev.status if prev is not None else CartStatus.OPEN.value)
        if lines is not None:
            items = sum(ln["quantity"] for ln in lines)
            value = cart.value if cart.value is not None else sum(
                ln["quantity"] * ln["unit_price"] for ln in lines)  # fmt: skip
        else:
            items = prev.item_count if prev is not None else 0
            value = cart.value if cart.value is not None else (prev.value if prev else 0)
        started = prev.checkout_started_at if prev is not None else None
        if status == CartStatus.CHECKOUT.value and started is None:
            started = cart.updated_at
        values = {
            "customer_id": cids[k] if cids[k] is not None else (prev.customer_id if prev else None),
            "channel": cart.channel, "status": status,
            "currency": (cart.currency.upper() if cart.currency else None)
            or (prev.currency if prev else None),
            "value": value, "item_count": items,
            "checkout_url": cart.checkout_url or (prev.checkout_url if prev else None),
            "checkout_started_at": started, "updated_at": cart.updated_at,
        }  # fmt: skip
        if prev is None:
            new_rows.append({**values, "source_id": source_id, "external_id": cart.external_id,
                             "created_at": cart.updated_at})  # fmt: skip
            new_lines.append(lines)
        else:
            upd_rows.append({"b_id": prev.id, **{f"v_{k}": v for k, v in values.items()}})
            if lines is not None:
                line_sets.append((prev.id, lines))
    ids = {e: r.id for e, r in stored.items()}
    if new_rows:
        new_ids = session.scalars(
            insert(table_of(Cart)).returning(table_of(Cart).c.id, sort_by_parameter_order=True),
            new_rows,
        ).all()
        for row, cid, lines in zip(new_rows, new_ids, new_lines, strict=True):
            ids[row["external_id"]] = cid
            if lines is not None:
                line_sets.append((cid, lines))
    if upd_rows:
        cols = [k[2:] for k in upd_rows[0] if k != "b_id"]
        session.connection().execute(
            sa.update(Cart)
            .where(Cart.id == bindparam("b_id"))
            .values({c: bindparam(f"v_{c}", type_=getattr(Cart, c).type) for c in cols})
            .execution_options(synchronize_session=False),
            by_id(upd_rows),
        )
    if line_sets:
        for chunk in _chunks([cid for cid, _ in line_sets]):
            session.execute(sa.delete(CartLine).where(CartLine.cart_id.in_(chunk)))
        rows = [{**ln, "cart_id": cid} for cid, lines in line_sets for ln in lines]
        if rows:
            session.execute(insert(table_of(CartLine)), rows)
    session.flush()
    return [ids[c.external_id] for c in carts]


def apply_item_changes(
    session: Session, *, changes: Sequence[CartItemChangeIn], source_id: int
) -> list[int]:
    """Add or remove items one change at a time (in order), on top of the stored lines;
    one read of the carts' lines, one `upsert_carts` write. Cart ids in input order."""
    if not changes:
        return []
    external = list(dict.fromkeys(c.cart_external_id for c in changes))
    stored = _stored(session, source_id, external)
    lines: dict[str, dict[str, CartLineIn]] = {e: {} for e in external}
    by_id = {row.id: ext for ext, row in stored.items()}
    for chunk in _chunks(list(by_id)):
        for ln in session.scalars(select(CartLine).where(CartLine.cart_id.in_(chunk))):
            ref = ProductRef(external_id=ln.item_key, sku=ln.sku, title=ln.title or None)
            lines[by_id[ln.cart_id]][ln.item_key] = CartLineIn(
                product=ref, quantity=ln.quantity, unit_price=ln.unit_price
            )
    latest: dict[str, CartItemChangeIn] = {}
    for c in changes:
        p = c.product
        key = (p.external_id or p.sku or p.title or "")[:128]
        if not key:
            continue
        current = lines[c.cart_external_id].get(key)
        qty = (current.quantity if current else 0) + c.quantity
        if qty <= 0:
            lines[c.cart_external_id].pop(key, None)
        else:
            price = c.unit_price or (current.unit_price if current else 0)
            lines[c.cart_external_id][key] = CartLineIn(product=p, quantity=qty, unit_price=price)
        latest[c.cart_external_id] = c
    carts = [
        CartIn(
            external_id=ext,
            customer=latest[ext].customer,
            updated_at=latest[ext].at,
            channel=latest[ext].channel,
            currency=latest[ext].currency,
            lines=list(lines[ext].values()),
        )
        for ext in external
        if ext in latest
    ]
    ids = dict(
        zip(
            [c.external_id for c in carts],
            upsert_carts(session, carts=carts, source_id=source_id),
            strict=True,
        )
    )
    return [ids.get(c.cart_external_id, 0) for c in changes]


def mark_converted(
    session: Session, *, source_id: int, links: Sequence[tuple[str, int, datetime]]
) -> None:
    """Carts named by an order's cart_id/checkout_id become converted (once)."""
    stored = _stored(session, source_id, [e for e, _, _ in links])
    rows = [
        {"b_id": stored[e].id, "v_order": oid, "v_at": at}
        for e, oid, at in links
        if e in stored and stored[e].status != _CONVERTED
    ]
    if rows:
        session.connection().execute(
            sa.update(Cart)
            .where(Cart.id == bindparam("b_id"))
            .values(status=_CONVERTED, converted_order_id=bindparam("v_order"),
                    converted_at=bindparam("v_at", type_=UTCDateTime()))
            .execution_options(synchronize_session=False),
            by_id(rows),
        )  # fmt: skip


def _read_many(session: Session, rows: Sequence[Cart]) -> list[CartRead]:
    lines: dict[int, list[CartLineRead]] = {}
    for chunk in _chunks([r.id for r in rows]):
        for ln in session.scalars(
            select(CartLine).where(CartLine.cart_id.in_(chunk)).order_by(CartLine.id)
        ):
            lines.setdefault(ln.cart_id, []).append(CartLineRead.model_validate(ln))
    out = []
    for r in rows:
        item = CartRead.model_validate(r)
        item.lines = lines.get(r.id, [])
        out.append(item)
    return out


def get_cart(session: Session, *, cart_id: int) -> CartRead:
    row = session.get(Cart, cart_id, populate_existing=True)
    if row is None:
        raise NotFound(f"cart {cart_id} not found", field="cart_id")
    return _read_many(session, [row])[0]


def list_carts(
    session: Session,
    *,
    status: str | None = None,
    customer_id: int | None = None,
    updated_before: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> CartPage:
    """Most recently updated first; `updated_before` finds abandoned carts."""
    limit = clamp_limit(limit)
    stmt = select(Cart)
    if status:
        try:
            stmt = stmt.where(Cart.status == CartStatus(status).value)
        except ValueError:
            raise ValidationError(f"unknown status {status!r}", field="status") from None
    if customer_id is not None:
        stmt = stmt.where(Cart.customer_id == customer_id)
    if updated_before is not None:
        stmt = stmt.where(Cart.updated_at < as_utc(updated_before))
    if cursor:
        at, cid = decode_cursor(cursor, arity=2)
        if not isinstance(cid, int):
            raise ValidationError("cursor is not valid", field="cursor")
        stmt = stmt.where(
            keyset_before(Cart.updated_at, Cart.id, parse_datetime(at, field="cursor"), cid)
        )
    stmt = stmt.order_by(Cart.updated_at.desc(), Cart.id.desc()).limit(limit + 1)
    rows = session.scalars(stmt).all()
    items = _read_many(session, rows[:limit])
    nxt = (
        encode_cursor([items[-1].updated_at.isoformat(), items[-1].id])
        if len(rows) > limit
        else None
    )
    return CartPage(items=items, next_cursor=nxt)
