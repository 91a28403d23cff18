"""Orders in bulk: upsert with lines and external ids, refunds, cancellations, and the
customer stats they change (set-based; the public functions are re-exported by service)."""

from __future__ import annotations

import dataclasses
import hashlib
import operator
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import bindparam, case, func, select, type_coerce
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from patron.catalog import service as catalog_service
from patron.catalog.schemas import ProductRef
from patron.core.errors import ValidationError
from patron.core.money import normalize_currency, to_major
from patron.core.time import utcnow
from patron.customers import service as customers_service
from patron.customers.schemas import (
    CustomerStats,
    TimelineEntryIn,
    TimelineKind,
)
from patron.db import (
    UTCDateTime,
    allocate_ids,
    by_id,
    insert_rows,
    insert_rows_with_ids,
    json_text,
    table_of,
)
from patron.orders import carts as _carts
from patron.orders.carts import resolve_customers
from patron.orders.models import Order, OrderExternalId, OrderLine, Refund
from patron.orders.schemas import (
    CartItemChangeIn,
    OrderIn,
    OrderStatus,
    RefundIn,
    UpsertSummary,
)
from patron.store import service as store_service

_list = list

_CHUNK = 500
_CANCELLED = OrderStatus.CANCELLED.value
_HEADER = (
    "customer_id", "source_id", "number", "channel", "status", "currency", "subtotal",
    "discount_total", "shipping_total", "tax_total", "total", "base_total", "coupon_codes",
    "properties", "placed_at", "cancelled_at", "fingerprint", "updated_at",
)  # fmt: skip


_NEW_ORDER_COLUMNS = ("id", *_HEADER, "created_at", "refunded_total", "base_refunded_total")


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


_FIELDS: dict[type, Any] = {}


def _fields_of(value: Any) -> Any:
    """orjson's `default` for the fingerprint: a dataclass as the tuple of its fields (in
    declaration order, nested ones likewise); anything else orjson does not know as str."""
    get = _FIELDS.get(type(value))
    if get is None:
        if not dataclasses.is_dataclass(value) or isinstance(value, type):
            return str(value)
        names = [f.name for f in dataclasses.fields(value)]
        get = operator.attrgetter(*names) if len(names) > 1 else (
            lambda v, n=names[0]: (getattr(v, n),))  # fmt: skip
        _FIELDS[type(value)] = get
    return get(value)


_PRINT_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS


def _fingerprint(o: OrderIn) -> str:
    """A digest of everything the order says: equal inputs, equal digests (across runs)."""
    try:
        data = orjson.dumps(o, default=_fields_of, option=_PRINT_OPTIONS)
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits
        data = repr(o).encode()
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


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


_LINE_COLUMNS = (
    "order_id", "product_id", "variant_id", "sku", "title", "quantity", "unit_price",
    "discount", "total", "properties",
)  # fmt: skip


def _line_rows(
    o: OrderIn, oid: int, pids: Sequence[int | None], out: _list[tuple[Any, ...]]
) -> tuple[int, int]:
    """Append the order's line rows (`_LINE_COLUMNS`, properties as JSON text) to `out`;
    return its subtotal and item count."""
    subtotal = items = 0
    for line, pid in zip(o.lines, pids, strict=True):
        quantity, price = line.quantity, line.unit_price
        total = quantity * price - line.discount
        subtotal += total
        items += quantity
        p = line.product
        out.append((oid, pid, None, p.sku, (p.title or p.sku or p.external_id or "")[:500],
                    quantity, price, line.discount, total, json_text(line.properties)))  # fmt: skip
    return subtotal, items


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


def _resolve_products(
    session: Session, refs: Sequence[ProductRef], source_id: int
) -> _list[int | None]:
    """catalog.resolve_products, each ref object once (an importer shares one ref between
    the lines that name the same product: 540,000 lines, 4,000 products)."""
    slot: dict[int, int] = {}  # id(ref) -> position in `distinct`; refs outlive the call
    distinct: _list[ProductRef] = []
    index = []
    for ref in refs:
        k = slot.get(id(ref))
        if k is None:
            k = slot[id(ref)] = len(distinct)
            distinct.append(ref)
        index.append(k)
    found = catalog_service.resolve_products(session, refs=distinct, source_id=source_id)
    return [found[k] for k in index]


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
    pids = _resolve_products(
        session, [line.product for j in work for line in unique[j].lines], source_id
    )
    conv = store_service.converter(session)
    # Ids first (one statement), so each line row is built once, with its order id.
    new_count = sum(1 for j in work if unique[j].external_id not in stored)
    fresh = iter(allocate_ids(session, table_of(Order), new_count))
    new_rows: _list[tuple[Any, ...]] = []
    new_meta: _list[tuple[int, int, dict[str, Any], int]] = []  # (j, id, header, items)
    new_lines: _list[tuple[Any, ...]] = []
    upd_rows: _list[dict[str, Any]] = []
    upd_lines: _list[tuple[Any, ...]] = []
    touched: set[int] = set()
    timeline: _list[TimelineEntryIn] = []
    cancelled_now: _list[tuple[int, int]] = []  # (j, order id) newly cancelled
    pos = 0
    for k, j in enumerate(work):
        o = unique[j]
        prev = stored.get(o.external_id)
        oid = next(fresh) if prev is None else prev.id
        subtotal, items = _line_rows(o, oid, pids[pos : pos + len(o.lines)],
                                     new_lines if prev is None else upd_lines)  # fmt: skip
        pos += len(o.lines)
        total = o.total if o.total is not None else (
            subtotal - o.discount_total + o.shipping_total + o.tax_total)  # fmt: skip
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
            new_rows.append((oid, *(header[c] for c in _HEADER), now, 0, 0))
            new_meta.append((j, oid, header, items))
            if status == _CANCELLED:
                cancelled_now.append((j, -1))
        else:
            if prev.customer_id is not None:
                touched.add(prev.customer_id)
            upd_rows.append({"b_id": prev.id, **{f"v_{c}": header[c] for c in _HEADER}})
            if status == _CANCELLED and prev.status != _CANCELLED:
                cancelled_now.append((j, prev.id))
    if new_rows:
        insert_rows(session, table_of(Order), _NEW_ORDER_COLUMNS, new_rows)
        insert_rows(
            session, table_of(OrderExternalId), ("order_id", "source_id", "external_id"),
            [(oid, source_id, unique[j].external_id) for j, oid, _, _ in new_meta],
        )  # fmt: skip
        for j, oid, row, items in new_meta:
            o = unique[j]
            ids_by_ext[o.external_id] = oid
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
        changed_ids = [r["b_id"] for r in upd_rows]
        for chunk in _chunks(changed_ids):
            session.execute(sa.delete(OrderLine).where(OrderLine.order_id.in_(chunk)))
        summary.updated = len(upd_rows)
    insert_rows(session, table_of(OrderLine), _LINE_COLUMNS, new_lines + upd_lines,
                json_encoded=True)  # fmt: skip
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
    now = utcnow()  # changed: segments' incremental refresh looks at the customer again
    for oid, refunded in sums.items():
        r = rows[oid]
        if refunded >= r.total:
            base = r.base_total
        else:
            base = (2 * r.base_total * refunded + r.total) // (2 * r.total) if r.total else 0
        status = r.status
        if status != _CANCELLED:
            status = "refunded" if refunded >= r.total else "partially_refunded"
        updates.append({"b_id": oid, "v_r": refunded, "v_b": base, "v_s": status, "v_now": now})
    session.connection().execute(
        sa.update(Order)
        .where(Order.id == bindparam("b_id"))
        .values(refunded_total=bindparam("v_r"), base_refunded_total=bindparam("v_b"),
                status=bindparam("v_s"), updated_at=bindparam("v_now", type_=UTCDateTime()))
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
    ids = insert_rows_with_ids(
        session, table_of(Refund),
        ("order_id", "external_id", "amount", "currency", "reason", "lines", "refunded_at"),
        [(oid, r.external_id, r.amount, rows[oid].currency, r.reason, r.lines, r.refunded_at)
         for oid, r in new],
    )  # fmt: skip
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
