"""Orders, lines, refunds, carts and checkouts; customer stats."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Table, bindparam, case, func, insert, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from patron.catalog import service as catalog_service
from patron.core.errors import NotFound, ValidationError
from patron.core.ids import new_token
from patron.core.money import normalize_currency, to_major
from patron.core.pagination import clamp_limit, decode_cursor, encode_cursor
from patron.core.time import as_utc, parse_datetime, utcnow
from patron.customers import service as customers_service
from patron.customers.schemas import (
    CustomerStats,
    IdentityKey,
    IdentityKind,
    TimelineEntryIn,
    TimelineKind,
)
from patron.customers.service import MergeHook
from patron.db import UTCDateTime, by_id, keyset_before, table_of
from patron.orders import carts as _carts
from patron.orders.carts import get_cart, list_carts, resolve_customers, upsert_carts
from patron.orders.models import Cart, CartLine, Order, OrderExternalId, OrderLine, Refund
from patron.orders.schemas import (
    CartItemChangeIn,
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
    UpsertSummary,
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
_CHUNK = 500
_CANCELLED = OrderStatus.CANCELLED.value
_HEADER = (
    "customer_id", "source_id", "number", "channel", "status", "currency", "subtotal",
    "discount_total", "shipping_total", "tax_total", "total", "base_total", "coupon_codes",
    "properties", "placed_at", "cancelled_at", "fingerprint", "updated_at",
)  # fmt: skip


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _fingerprint(o: OrderIn) -> str:
    return hashlib.sha1(repr(o).encode(), usedforsecurity=False).hexdigest()


def _orders_by_external(
    session: Session, source_id: int, external_ids: Iterable[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    o = table_of(Order).c
    for chunk in _chunks(sorted(set(external_ids))):
        stmt = (
            select(OrderExternalId.external_id, o.id, o.fingerprint, o.status, o.customer_id)
            .join(Order, Order.id == OrderExternalId.order_id)
            .where(OrderExternalId.source_id == source_id, OrderExternalId.external_id.in_(chunk))
        )
        for row in session.execute(stmt):
            out[row.external_id] = row
    return out


def _insert(session: Session):  # type: ignore[no-untyped-def]
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _link_same_orders(
    session: Session, unique: Sequence[OrderIn], stored: dict[str, Any]
) -> _list[tuple[str, int]]:
    """Orders unknown here but known to another source (`same_as`): adopt that order."""
    wanted: dict[int, set[str]] = {}
    for o in unique:
        if o.external_id not in stored:
            for sid, ext in o.same_as:
                wanted.setdefault(sid, set()).add(ext)
    if not wanted:
        return []
    found = {
        (sid, e): row
        for sid, exts in wanted.items()
        for e, row in _orders_by_external(session, sid, exts).items()
    }
    links = []
    for o in unique:
        if o.external_id in stored:
            continue
        for pair in o.same_as:
            row = found.get(tuple(pair))  # type: ignore[arg-type]
            if row is not None:
                stored[o.external_id] = row
                links.append((o.external_id, row.id))
                break
    return links


def _order_title(number: str, items: int, total: int, currency: str) -> str:
    return f"Order #{number} · {items} items · {to_major(total, currency)} {currency}"


def _line_rows(o: OrderIn, pids: Sequence[int | None]) -> tuple[_list[dict[str, Any]], int, int]:
    rows = []
    subtotal = items = 0
    for line, pid in zip(o.lines, pids, strict=True):
        total = line.quantity * line.unit_price - line.discount
        subtotal += total
        items += line.quantity
        p = line.product
        rows.append({
            "product_id": pid, "variant_id": None, "sku": p.sku,
            "title": (p.title or p.sku or p.external_id or "")[:500], "quantity": line.quantity,
            "unit_price": line.unit_price, "discount": line.discount, "total": total,
            "properties": line.properties,
        })  # fmt: skip
    return rows, subtotal, items


def upsert_orders(session: Session, *, orders: Sequence[OrderIn], source_id: int) -> UpsertSummary:
    """Create or update orders by (source_id, external_id); idempotent, set-based.

    Resolves customers (CustomerRefIn) through the identity graph in one call, products
    through catalog.resolve_products, writes orders/lines/refunds with multi-row inserts,
    converts totals to the base currency, adds ORDER timeline entries for new orders and
    refreshes the stats of every touched customer.
    """
    summary = UpsertSummary()
    if not orders:
        return summary
    now = utcnow()
    last: dict[str, int] = {}  # a batch naming one order twice: the last copy wins
    for i, o in enumerate(orders):
        if not o.external_id:
            raise ValidationError("external_id is required", field=f"orders[{i}].external_id")
        if o.placed_at.tzinfo is None:
            raise ValidationError("placed_at must be timezone-aware",
                                  field=f"orders[{i}].placed_at")  # fmt: skip
        last[o.external_id] = i
    unique = [orders[i] for i in last.values()]
    currencies = [
        normalize_currency(o.currency, field=f"orders[{last[o.external_id]}].currency")
        for o in unique
    ]
    prints = [_fingerprint(o) for o in unique]
    stored = _orders_by_external(session, source_id, last)
    links = _link_same_orders(session, unique, stored)
    work = [
        j
        for j, o in enumerate(unique)
        if o.external_id not in stored or stored[o.external_id].fingerprint != prints[j]
    ]
    ids_by_ext = {e: row.id for e, row in stored.items()}
    summary.unchanged = len(unique) - len(work)
    if links:
        session.execute(
            _insert(session)(table_of(OrderExternalId)).on_conflict_do_nothing(
                index_elements=["source_id", "external_id"]
            ),
            [
                {"order_id": oid, "source_id": source_id, "external_id": e}
                for e, oid in sorted(links)
            ],  # key order: concurrent writers lock in one order
        )
    if work:
        _write_orders(session, unique, currencies, prints, work, stored, ids_by_ext, source_id,
                      now, summary)  # fmt: skip
    summary.ids = [ids_by_ext[o.external_id] for o in orders]
    return summary


def _write_orders(
    session: Session,
    unique: Sequence[OrderIn],
    currencies: Sequence[str],
    prints: Sequence[str],
    work: Sequence[int],
    stored: dict[str, Any],
    ids_by_ext: dict[str, int],
    source_id: int,
    now: datetime,
    summary: UpsertSummary,
) -> None:
    customer_ids = resolve_customers(
        session, [(unique[j].customer, unique[j].placed_at, unique[j].channel) for j in work],
        source_id,
    )  # fmt: skip
    refs = [line.product for j in work for line in unique[j].lines]
    pids = catalog_service.resolve_products(session, refs=refs, source_id=source_id)
    conv = store_service.converter(session)
    new_rows: _list[dict[str, Any]] = []
    new_meta: _list[tuple[int, _list[dict[str, Any]], int]] = []  # (j, lines, items)
    upd_rows: _list[dict[str, Any]] = []
    upd_lines: _list[tuple[int, _list[dict[str, Any]]]] = []
    touched: set[int] = set()
    timeline: _list[TimelineEntryIn] = []
    cancelled_now: _list[tuple[int, int]] = []  # (j, order id) newly cancelled
    pos = 0
    for k, j in enumerate(work):
        o = unique[j]
        lines, subtotal, items = _line_rows(o, pids[pos : pos + len(o.lines)])
        pos += len(o.lines)
        total = o.total if o.total is not None else (
            subtotal - o.discount_total + o.shipping_total + o.tax_total)  # fmt: skip
        prev = stored.get(o.external_id)
        if o.status is not None:
            status = OrderStatus(o.status).value
        elif o.cancelled_at is not None:
            status = _CANCELLED
        else:
            status = prev.status if prev is not None else OrderStatus.PLACED.value
        cid = customer_ids[k]
        header = {
            "customer_id": cid, "source_id": source_id, "number": o.number,
            "channel": o.channel, "status": status, "currency": currencies[j],
            "subtotal": subtotal, "discount_total": o.discount_total,
            "shipping_total": o.shipping_total, "tax_total": o.tax_total, "total": total,
            "base_total": conv.to_base(total, currencies[j]), "coupon_codes": o.coupon_codes,
            "properties": o.properties, "placed_at": o.placed_at,
            "cancelled_at": (o.cancelled_at or now) if status == _CANCELLED else None,
            "fingerprint": prints[j], "updated_at": now,
        }  # fmt: skip
        if cid is not None:
            touched.add(cid)
        if prev is None:
            new_rows.append({**header, "created_at": now, "refunded_total": 0,
                             "base_refunded_total": 0})  # fmt: skip
            new_meta.append((j, lines, items))
            if status == _CANCELLED:
                cancelled_now.append((j, -1))
        else:
            if prev.customer_id is not None:
                touched.add(prev.customer_id)
            upd_rows.append({"b_id": prev.id, **{f"v_{c}": header[c] for c in _HEADER}})
            upd_lines.append((prev.id, lines))
            if status == _CANCELLED and prev.status != _CANCELLED:
                cancelled_now.append((j, prev.id))
    all_lines: _list[dict[str, Any]] = []
    if new_rows:
        new_ids = session.scalars(
            insert(table_of(Order)).returning(table_of(Order).c.id, sort_by_parameter_order=True),
            new_rows,
        ).all()
        session.execute(
            insert(table_of(OrderExternalId)),
            [{"order_id": oid, "source_id": source_id, "external_id": unique[j].external_id}
             for (j, _, _), oid in zip(new_meta, new_ids, strict=True)],
        )  # fmt: skip
        for (j, lines, items), oid, row in zip(new_meta, new_ids, new_rows, strict=True):
            o = unique[j]
            ids_by_ext[o.external_id] = oid
            all_lines.extend({**line, "order_id": oid} for line in lines)
            if row["customer_id"] is not None:
                number = o.number or o.external_id
                timeline.append(TimelineEntryIn(
                    customer_id=row["customer_id"], occurred_at=o.placed_at,
                    kind=TimelineKind.ORDER,
                    title=_order_title(number, items, row["total"], row["currency"]),
                    channel=o.channel, ref_type="order", ref_id=oid,
                    data={"total": row["total"], "currency": row["currency"], "items": items,
                          "number": number, "status": row["status"]},
                ))  # fmt: skip
        summary.created = len(new_rows)
    if upd_rows:
        stmt = (
            sa.update(Order)
            .where(Order.id == bindparam("b_id"))
            .values({c: bindparam(f"v_{c}", type_=getattr(Order, c).type) for c in _HEADER})
            .execution_options(synchronize_session=False)
        )
        session.connection().execute(stmt, by_id(upd_rows))
        changed_ids = [oid for oid, _ in upd_lines]
        for chunk in _chunks(changed_ids):
            session.execute(sa.delete(OrderLine).where(OrderLine.order_id.in_(chunk)))
        for oid, lines in upd_lines:
            all_lines.extend({**line, "order_id": oid} for line in lines)
        summary.updated = len(upd_rows)
    if all_lines:
        session.execute(insert(table_of(OrderLine)), all_lines)
    if cancelled_now:
        real = [ids_by_ext[unique[j].external_id] if oid == -1 else oid for j, oid in cancelled_now]
        timeline.extend(_cancel_entries(session, real))
    customers_service.add_timeline_entries(session, timeline)
    refunds = [(ids_by_ext[unique[j].external_id], r) for j in work for r in unique[j].refunds]
    if refunds:
        _record_refunds(session, refunds, now)
    # Existing refunds keep counting after a header update (refunded_total is derived).
    if upd_rows:
        _recompute_refunds(session, [r["b_id"] for r in upd_rows])
    cart_links = [
        (str(unique[j].properties.get(key)), ids_by_ext[unique[j].external_id], unique[j].placed_at)
        for j in work
        for key in ("cart_id", "checkout_id")
        if unique[j].properties.get(key)
    ]
    if cart_links:
        _carts.mark_converted(session, source_id=source_id, links=cart_links)
    session.flush()
    refresh_stats(session, customer_ids=sorted(touched))


# --- refunds and cancellations ----------------------------------------------------------


def _order_rows(session: Session, order_ids: Iterable[int]) -> dict[int, Any]:
    o = table_of(Order).c
    out: dict[int, Any] = {}
    for chunk in _chunks(sorted(set(order_ids))):
        stmt = select(
            o.id, o.customer_id, o.currency, o.total, o.base_total, o.status, o.channel,
            o.number, o.placed_at, o.cancelled_at, o.refunded_total,
        ).where(o.id.in_(chunk))  # fmt: skip
        out.update((r.id, r) for r in session.execute(stmt))
    return out


def _ids_for_external(
    session: Session, source_id: int, external_ids: Sequence[str]
) -> dict[str, int]:
    found = {e: r.id for e, r in _orders_by_external(session, source_id, external_ids).items()}
    for e in external_ids:
        if e not in found:
            raise ValidationError(f"order {e!r} not found in source {source_id}", field="order_id")
    return found


def _recompute_refunds(session: Session, order_ids: Sequence[int]) -> None:
    """refunded_total = sum of refunds; base share proportional to base_total; status."""
    sums: dict[int, int] = {}
    for chunk in _chunks(sorted(set(order_ids))):
        sums.update(
            (oid, int(total))
            for oid, total in session.execute(
                select(Refund.order_id, func.sum(Refund.amount))
                .where(Refund.order_id.in_(chunk))
                .group_by(Refund.order_id)
            )
        )
    if not sums:
        return
    rows = _order_rows(session, sums)
    updates = []
    for oid, refunded in sums.items():
        r = rows[oid]
        if refunded >= r.total:
            base = r.base_total
        else:
            base = (2 * r.base_total * refunded + r.total) // (2 * r.total) if r.total else 0
        status = r.status
        if status != _CANCELLED:
            status = "refunded" if refunded >= r.total else "partially_refunded"
        updates.append({"b_id": oid, "v_r": refunded, "v_b": base, "v_s": status})
    session.connection().execute(
        sa.update(Order)
        .where(Order.id == bindparam("b_id"))
        .values(refunded_total=bindparam("v_r"), base_refunded_total=bindparam("v_b"),
                status=bindparam("v_s"))
        .execution_options(synchronize_session=False),
        by_id(updates),
    )  # fmt: skip


def _record_refunds(
    session: Session, pairs: Sequence[tuple[int, RefundIn]], now: datetime
) -> tuple[int, set[int]]:
    """Insert refunds not yet recorded (by order + external id); timeline; totals."""
    rows = _order_rows(session, (oid for oid, _ in pairs))
    seen: set[tuple[int, str]] = set()
    for chunk in _chunks(sorted(rows)):
        seen.update(
            (r[0], r[1])
            for r in session.execute(
                select(Refund.order_id, Refund.external_id).where(Refund.order_id.in_(chunk))
            )
        )
    new: _list[tuple[int, RefundIn]] = []
    for oid, r in pairs:
        if (oid, r.external_id) not in seen:
            seen.add((oid, r.external_id))
            new.append((oid, r))
    if not new:
        return 0, set()
    ids = session.scalars(
        insert(table_of(Refund)).returning(table_of(Refund).c.id, sort_by_parameter_order=True),
        [{"order_id": oid, "external_id": r.external_id, "amount": r.amount,
          "currency": rows[oid].currency, "reason": r.reason, "lines": r.lines,
          "refunded_at": r.refunded_at} for oid, r in new],
    ).all()  # fmt: skip
    _recompute_refunds(session, [oid for oid, _ in new])
    entries = []
    customers: set[int] = set()
    for (oid, r), rid in zip(new, ids, strict=True):
        o = rows[oid]
        if o.customer_id is None:
            continue
        customers.add(o.customer_id)
        number = o.number or str(oid)
        entries.append(TimelineEntryIn(
            customer_id=o.customer_id, occurred_at=r.refunded_at, kind=TimelineKind.REFUND,
            title=f"Refund on order #{number} · {to_major(r.amount, o.currency)} {o.currency}",
            channel=o.channel, ref_type="refund", ref_id=rid,
            data={"order_id": oid, "amount": r.amount, "currency": o.currency,
                  "reason": r.reason, "number": number},
        ))  # fmt: skip
    customers_service.add_timeline_entries(session, entries)
    session.flush()
    return len(new), customers


def _cancel_entries(session: Session, order_ids: Sequence[int]) -> _list[TimelineEntryIn]:
    out = []
    for oid, o in _order_rows(session, order_ids).items():
        if o.customer_id is None:
            continue
        number = o.number or str(oid)
        out.append(TimelineEntryIn(
            customer_id=o.customer_id, occurred_at=o.cancelled_at or o.placed_at,
            kind=TimelineKind.CANCELLATION, title=f"Order #{number} cancelled",
            channel=o.channel, ref_type="order", ref_id=oid,
            data={"number": number, "total": o.total, "currency": o.currency},
        ))  # fmt: skip
    return out


def _cancel(session: Session, pairs: Sequence[tuple[int, datetime]]) -> tuple[int, set[int]]:
    rows = _order_rows(session, (oid for oid, _ in pairs))
    todo: dict[int, datetime] = {}
    for oid, at in pairs:
        if rows[oid].status != _CANCELLED:
            todo.setdefault(oid, at)
    if not todo:
        return 0, set()
    now = utcnow()
    session.connection().execute(
        sa.update(Order)
        .where(Order.id == bindparam("b_id"))
        .values(status=_CANCELLED, cancelled_at=bindparam("v_at", type_=UTCDateTime()),
                updated_at=bindparam("v_now", type_=UTCDateTime()))
        .execution_options(synchronize_session=False),
        by_id([{"b_id": oid, "v_at": at, "v_now": now} for oid, at in todo.items()]),
    )  # fmt: skip
    customers_service.add_timeline_entries(session, _cancel_entries(session, _list(todo)))
    session.flush()
    return len(todo), {rows[o].customer_id for o in todo if rows[o].customer_id is not None}


def add_refunds(
    session: Session, *, source_id: int, refunds: Sequence[tuple[str, RefundIn]]
) -> int:
    """Record refunds given as (order external id, refund); a refund already recorded (by
    its external id) is skipped. Returns how many were new. Unknown orders: ValidationError
    naming `order_id`."""
    if not refunds:
        return 0
    ids = _ids_for_external(session, source_id, [e for e, _ in refunds])
    count, customers = _record_refunds(session, [(ids[e], r) for e, r in refunds], utcnow())
    refresh_stats(session, customer_ids=sorted(customers))
    return count


def cancel_orders(
    session: Session, *, source_id: int, cancellations: Sequence[tuple[str, datetime]]
) -> int:
    """Cancel orders given as (order external id, cancelled at); idempotent."""
    if not cancellations:
        return 0
    ids = _ids_for_external(session, source_id, [e for e, _ in cancellations])
    count, customers = _cancel(session, [(ids[e], at) for e, at in cancellations])
    refresh_stats(session, customer_ids=sorted(customers))
    return count


# --- stats ------------------------------------------------------------------------------


def apply_cart_item_changes(
    session: Session, *, changes: Sequence[CartItemChangeIn], source_id: int
) -> _list[int]:
    """Items added to or removed from carts (Product Added/Removed), applied in order on
    top of the stored lines. Cart ids in input order."""
    return _carts.apply_item_changes(session, changes=changes, source_id=source_id)


def refresh_stats(session: Session, *, customer_ids: Sequence[int]) -> None:
    """Recompute orders count, total spent (base currency, net of refunds, cancelled
    excluded), first/last order and channels for these customers, in SQL; and each of
    their orders' `prev_placed_at` (the previous counted order, for analytics)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return
    live = Order.status != _CANCELLED
    stats: _list[CustomerStats] = []
    for chunk in _chunks(ids):
        agg = {
            r.customer_id: r
            for r in session.execute(
                select(
                    Order.customer_id,
                    func.count(case((live, 1))).label("n"),
                    func.coalesce(
                        func.sum(
                            case((live, Order.base_total - Order.base_refunded_total), else_=0)
                        ),
                        0,
                    ).label("spent"),  # fmt: skip
                    type_coerce(func.min(case((live, Order.placed_at))), UTCDateTime()).label(
                        "first"
                    ),
                    type_coerce(func.max(case((live, Order.placed_at))), UTCDateTime()).label(
                        "last"
                    ),
                )
                .where(Order.customer_id.in_(chunk))
                .group_by(Order.customer_id)
            )
        }
        chans: dict[int, set[str]] = {}
        for cid, ch in session.execute(
            select(Order.customer_id, Order.channel)
            .where(Order.customer_id.in_(chunk), live)
            .distinct()
        ):
            if cid is not None:
                chans.setdefault(cid, set()).add(ch)
        seen = customers_service.channels_of(session, customer_ids=chunk)
        for cid in chunk:
            r = agg.get(cid)
            stats.append(
                CustomerStats(
                    customer_id=cid,
                    orders_count=int(r.n) if r else 0,
                    total_spent=int(r.spent) if r else 0,
                    first_order_at=r.first if r else None,
                    last_order_at=r.last if r else None,
                    channels=sorted(chans.get(cid, set()) | set(seen.get(cid, []))),
                )
            )
        _refresh_previous(session, chunk)
    customers_service.apply_stats(session, stats)


def _refresh_previous(session: Session, customer_ids: Sequence[int]) -> None:
    """Set every order's `prev_placed_at` for these customers from their orders as they are
    now (one window over their counted orders; cancelled orders get null). Recomputed, not
    adjusted, so a replay, a cancel, a late order or a merge and its undo all end exact."""
    o = table_of(Order)
    seq = (
        select(
            o.c.id.label("oid"),
            func.lag(o.c.placed_at)
            .over(partition_by=o.c.customer_id, order_by=(o.c.placed_at, o.c.id))
            .label("prev"),
        )
        .where(o.c.customer_id.in_(customer_ids), o.c.status != _CANCELLED)
        .subquery("seq")
    )
    session.execute(
        sa.update(o)
        .where(o.c.id == seq.c.oid, o.c.prev_placed_at.is_distinct_from(seq.c.prev))
        .values(prev_placed_at=seq.c.prev)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        sa.update(o)
        .where(
            o.c.customer_id.in_(customer_ids),
            o.c.status == _CANCELLED,
            o.c.prev_placed_at.is_not(None),
        )
        .values(prev_placed_at=None)
        .execution_options(synchronize_session=False)
    )


# --- merge hooks ------------------------------------------------------------------------


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
    from patron.catalog.schemas import ProductRef

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
