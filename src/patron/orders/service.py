"""Orders, lines, refunds, carts and checkouts; customer stats."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Table, or_, select
from sqlalchemy.orm import Session

from patron.catalog.schemas import ProductRef
from patron.core.errors import NotFound, ValidationError
from patron.core.ids import new_token
from patron.core.money import normalize_currency
from patron.core.pagination import clamp_limit, decode_cursor, encode_cursor
from patron.core.time import as_utc, parse_datetime, utcnow
from patron.customers import service as customers_service
from patron.customers.schemas import (
    IdentityKey,
    IdentityKind,
)
from patron.customers.service import MergeHook
from patron.db import (
    keyset_before,
    table_of,
)
from patron.orders.bulk import (
    _CANCELLED,
    _cancel,
    _chunks,
    _record_refunds,
    add_refunds,
    apply_cart_item_changes,
    cancel_orders,
    refresh_stats,
    upsert_orders,
)
from patron.orders.carts import get_cart, list_carts, upsert_carts
from patron.orders.models import (
    Cart,
    CartLine,
    Order,
    OrderDayMark,
    OrderExternalId,
    OrderLine,
    Refund,
)
from patron.orders.schemas import (
    CustomerRefIn,
    OrderCreate,
    OrderIn,
    OrderLineIn,
    OrderPage,
    OrderRead,
    OrderStatus,
    OrderUpdate,
    RefundCreate,
    RefundIn,
)
from patron.store import service as store_service

__all__ = [
    "MERGE_HOOKS",
    "add_refund",
    "apply_cart_item_changes",
    "add_refunds",
    "cancel_order",
    "cancel_orders",
    "create_order",
    "get",
    "get_cart",
    "list",
    "list_carts",
    "refresh_stats",
    "update_order",
    "upsert_carts",
    "upsert_orders",
]

_list = list  # `list` is a service verb here


class _MoveRows:
    """Rows of `model` follow a customer through a merge and back."""

    def __init__(self, name: str, model: Any, refresh_stats: bool) -> None:
        self.name = name
        self.model = model
        self.refresh_stats = refresh_stats

    def move(self, session: Session, *, loser_id: int, winner_id: int) -> _list[int]:
        m = self.model
        return _list(
            session.scalars(
                sa.update(m)
                .where(m.customer_id == loser_id)
                .values(customer_id=winner_id)
                .returning(m.id)
                .execution_options(synchronize_session=False)
            )
        )

    def restore(self, session: Session, *, ids: _list[int], loser_id: int) -> None:
        m = self.model
        for chunk in _chunks(ids):
            session.execute(
                sa.update(m)
                .where(m.id.in_(chunk))
                .values(customer_id=loser_id)
                .execution_options(synchronize_session=False)
            )

    def refresh(self, session: Session, *, customer_ids: _list[int]) -> None:
        if self.refresh_stats:
            refresh_stats(session, customer_ids=customer_ids)


# Merge hooks for orders and carts (customers.identity.MergeHook), wired in patron.wiring.
MERGE_HOOKS: _list[MergeHook] = [_MoveRows("orders", Order, True), _MoveRows("carts", Cart, False)]


# --- one order at a time (the API) ------------------------------------------------------


def _read_many(session: Session, rows: Sequence[Order]) -> _list[OrderRead]:
    from patron.orders.schemas import OrderLineRead, RefundRead

    ids = [r.id for r in rows]
    exts: dict[int, _list[dict[str, Any]]] = {}
    lines: dict[int, _list[OrderLineRead]] = {}
    refunds: dict[int, _list[RefundRead]] = {}
    for chunk in _chunks(ids):
        for e in session.scalars(
            select(OrderExternalId)
            .where(OrderExternalId.order_id.in_(chunk))
            .order_by(OrderExternalId.id)
        ):
            exts.setdefault(e.order_id, []).append(
                {"source_id": e.source_id, "external_id": e.external_id}
            )
        for line in session.scalars(
            select(OrderLine).where(OrderLine.order_id.in_(chunk)).order_by(OrderLine.id)
        ):
            lines.setdefault(line.order_id, []).append(OrderLineRead.model_validate(line))
        for ref in session.scalars(
            select(Refund).where(Refund.order_id.in_(chunk)).order_by(Refund.id)
        ):
            refunds.setdefault(ref.order_id, []).append(RefundRead.model_validate(ref))
    out = []
    for r in rows:
        item = OrderRead.model_validate(r)
        item.external_ids = exts.get(r.id, [])
        item.lines = lines.get(r.id, [])
        item.refunds = refunds.get(r.id, [])
        out.append(item)
    return out


def get(session: Session, *, order_id: int) -> OrderRead:
    row = session.get(Order, order_id, populate_existing=True)
    if row is None:
        raise NotFound(f"order {order_id} not found", field="order_id")
    return _read_many(session, [row])[0]


def list(  # noqa: A001 - the service verb
    session: Session,
    *,
    customer_id: int | None = None,
    status: str | None = None,
    channel: str | None = None,
    source_id: int | None = None,
    placed_from: datetime | None = None,
    placed_to: datetime | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> OrderPage:
    """Newest placed first, keyset-paginated. `q`: order number or external id."""
    limit = clamp_limit(limit)
    stmt = select(Order)
    if customer_id is not None:
        stmt = stmt.where(Order.customer_id == customer_id)
    if status:
        try:
            stmt = stmt.where(Order.status == OrderStatus(status).value)
        except ValueError:
            raise ValidationError(f"unknown status {status!r}", field="status") from None
    if channel:
        stmt = stmt.where(Order.channel == channel)
    if source_id is not None:
        stmt = stmt.where(Order.source_id == source_id)
    if placed_from is not None:
        stmt = stmt.where(Order.placed_at >= as_utc(placed_from))
    if placed_to is not None:
        stmt = stmt.where(Order.placed_at < as_utc(placed_to))
    if q and q.strip():
        q = q.strip().lstrip("#")
        by_ext = select(OrderExternalId.order_id).where(OrderExternalId.external_id == q)
        stmt = stmt.where(or_(Order.number == q, Order.id.in_(by_ext)))
    if cursor:
        at, oid = decode_cursor(cursor, arity=2)
        if not isinstance(oid, int):
            raise ValidationError("cursor is not valid", field="cursor")
        stmt = stmt.where(
            keyset_before(Order.placed_at, Order.id, parse_datetime(at, field="cursor"), oid)
        )
    stmt = stmt.order_by(Order.placed_at.desc(), Order.id.desc()).limit(limit + 1)
    rows = session.scalars(stmt).all()
    items = _read_many(session, rows[:limit])
    nxt = (
        encode_cursor([items[-1].placed_at.isoformat(), items[-1].id])
        if len(rows) > limit
        else None
    )
    return OrderPage(items=items, next_cursor=nxt)


def _customer_ref(data: OrderCreate, source_key: str) -> CustomerRefIn:
    c = data.customer
    keys = []
    if c.external_id:
        keys.append(IdentityKey.of(IdentityKind.EXTERNAL, c.external_id, source_key))
    if c.email:
        keys.append(IdentityKey.of(IdentityKind.EMAIL, c.email))
    if c.phone:
        keys.append(IdentityKey.of(IdentityKind.PHONE, c.phone))
    if not keys and c.customer_id is None:
        raise ValidationError("customer needs an email, phone, external_id or customer_id",
                              field="customer")  # fmt: skip
    traits = c.model_dump(exclude_none=True, exclude={"email", "phone", "external_id",
                                                      "customer_id"})  # fmt: skip
    return CustomerRefIn(keys=keys, traits=traits, customer_id=c.customer_id)


def create_order(session: Session, *, data: OrderCreate) -> OrderRead:
    """One order from the API (an upsert by source + external_id)."""

    currency = normalize_currency(data.currency)
    source = store_service.ensure_source(session, key=data.source)
    ref = _customer_ref(data, source.key)
    if ref.customer_id is not None:
        customers_service.get(session, customer_id=ref.customer_id)  # 404 if unknown
    for i, line in enumerate(data.lines):
        if not (line.sku or line.product_external_id or line.title):
            raise ValidationError("a line needs a sku, product_external_id or title",
                                  field=f"lines.{i}.sku")  # fmt: skip
    order = OrderIn(
        external_id=data.external_id,
        placed_at=as_utc(data.placed_at) if data.placed_at else utcnow(),
        currency=currency,
        customer=ref,
        lines=[
            OrderLineIn(
                product=ProductRef(
                    external_id=ln.product_external_id,
                    sku=ln.sku,
                    title=ln.title,
                    price=ln.unit_price,
                    currency=currency,
                ),
                quantity=ln.quantity,
                unit_price=ln.unit_price,
                discount=ln.discount,
                properties=ln.properties,
            )
            for ln in data.lines
        ],  # fmt: skip
        channel=data.channel.value,
        number=data.number,
        status=data.status,
        discount_total=data.discount_total,
        shipping_total=data.shipping_total,
        tax_total=data.tax_total,
        total=data.total,
        coupon_codes=data.coupon_codes,
        properties=data.properties,
    )
    summary = upsert_orders(session, orders=[order], source_id=source.id)
    return get(session, order_id=summary.ids[0])


def _row(session: Session, order_id: int) -> Order:
    row = session.get(Order, order_id)
    if row is None:
        raise NotFound(f"order {order_id} not found", field="order_id")
    return row


def update_order(session: Session, *, order_id: int, data: OrderUpdate) -> OrderRead:
    """Status and properties (keys set to null are removed); a cancel goes on the timeline."""
    row = _row(session, order_id)
    patch = data.model_dump(exclude_unset=True)
    if patch.get("properties") is not None:
        merged = {**row.properties, **patch["properties"]}
        row.properties = {k: v for k, v in merged.items() if v is not None}
    status = patch.get("status")
    if status is not None and OrderStatus(status).value != row.status:
        if status == _CANCELLED:
            session.flush()
            _cancel(session, [(order_id, utcnow())])
            session.refresh(row)
        else:
            row.status = OrderStatus(status).value
            row.cancelled_at = None
    row.updated_at = utcnow()
    session.flush()
    if row.customer_id is not None:
        refresh_stats(session, customer_ids=[row.customer_id])
    return get(session, order_id=order_id)


def add_refund(session: Session, *, order_id: int, data: RefundCreate) -> OrderRead:
    """One refund from the API; idempotent by its external_id."""
    row = _row(session, order_id)
    refund = RefundIn(
        external_id=data.external_id or f"api-{new_token(9)}",
        amount=data.amount,
        refunded_at=as_utc(data.refunded_at) if data.refunded_at else utcnow(),
        reason=data.reason,
        lines=data.lines,
    )
    if data.amount > row.total - row.refunded_total:
        raise ValidationError("amount exceeds what is left to refund", field="amount")
    _, customers = _record_refunds(session, [(order_id, refund)], utcnow())
    refresh_stats(session, customer_ids=sorted(customers))
    return get(session, order_id=order_id)


def cancel_order(session: Session, *, order_id: int, at: datetime | None = None) -> OrderRead:
    row = _row(session, order_id)
    _cancel(session, [(order_id, as_utc(at) if at else utcnow())])
    if row.customer_id is not None:
        refresh_stats(session, customer_ids=[row.customer_id])
    return get(session, order_id=order_id)


# --- read-only table handles for set-based reporting (analytics, segments) --------------


def has_at_least(session: Session, *, count: int) -> bool:
    """Whether the store holds at least `count` orders (reads at most that many index
    entries, never counts a big table whole)."""
    if count <= 0:
        return True
    return (
        session.scalar(select(Order.id).order_by(Order.id).offset(count - 1).limit(1)) is not None
    )


def orders_table() -> Table:
    """The orders table (Core), for other domains' read-only aggregate SQL."""
    return table_of(Order)


def day_marks_table() -> Table:
    """UTC placement days whose counted orders changed (written by the orders table's
    triggers, orders/day_marks.py); the analytics order-day summary consumes them."""
    return table_of(OrderDayMark)


def carts_table() -> Table:
    """The carts table (Core), for other domains' read-only aggregate SQL."""
    return table_of(Cart)


def order_lines_table() -> Table:
    """The order lines table (Core), for other domains' read-only aggregate SQL."""
    return table_of(OrderLine)


def refunds_table() -> Table:
    """The refunds table (Core), for other domains' read-only aggregate SQL."""
    return table_of(Refund)


def cart_lines_table() -> Table:
    """The cart lines table (Core), for other domains' read-only aggregate SQL."""
    return table_of(CartLine)
