"""The segment language's functions, each one `customers.id IN (SELECT customer_id ...)`
over an indexed table: did (events), ordered (orders, their lines and products),
abandoned_cart (carts), in_segment (another segment, nested or listed) and has_tag.

Every relative time bound (`within = 30d`, `after = -7d`, a cart's idle time) is also
recorded as a TimeAtom (ADR 13).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import FromClause, func, not_, or_, select

from patron.catalog import service as catalog_service
from patron.customers import service as customers_service
from patron.events import service as events_service
from patron.orders import service as orders_service
from patron.orders.schemas import CartStatus, OrderStatus
from patron.segments.conditions import (
    COMPARISONS,
    FUNCTIONS,
    PROFILE_FIELDS,
    Cond,
    Context,
    TimeAtom,
    json_array_has,
    json_test,
    json_text,
    like_prefix,
    literal,
    negate,
    query_error,
    scalar_test,
    text_value,
    unknown_name,
)
from patron.segments.language import N_, Call, Compare, Node, SegmentQueryError
from patron.segments.language import parse as parse_query

_CANCELLED = OrderStatus.CANCELLED.value
_CONVERTED = CartStatus.CONVERTED.value


def compile_call(call: Call, ctx: Context, walk: Callable[[Node, Context], Cond]) -> Cond:
    """The condition of one function call; `walk` compiles a nested segment's tree."""
    if call.name == "did":
        return _did(call, ctx)
    if call.name == "ordered":
        return _ordered(call, ctx)
    if call.name == "abandoned_cart":
        return _abandoned(call, ctx)
    if call.name == "in_segment":
        return _in_segment(call, ctx, walk)
    if call.name == "has_tag":
        c = customers_service.customers_table().c
        if len(call.args) != 1 or call.named:
            raise query_error(N_('has_tag takes one tag, like has_tag("vip")'), call.pos, '"tag"')
        return json_array_has(c.tags, None, _text_arg(call, 0), ctx)
    choices = [*FUNCTIONS, *PROFILE_FIELDS]
    raise unknown_name(call.name, call.pos, choices, "function")


def _text_arg(call: Call, i: int) -> str:
    v = call.args[i]
    if v.kind != "string":
        raise query_error(
            N_("{function} expects a name in quotes, found {found}"), v.pos, '"name"',
            function=call.name, found=v.describe(),
        )  # fmt: skip
    return v.text


@dataclass
class _Window:
    conds: list[Cond] = field(default_factory=list)
    count: Compare | None = None


def _window(
    arg: Compare, col: Any, ctx: Context, out: _Window, customer_col: Any, where: tuple[Cond, ...]
) -> bool:
    """within / after / before / count arguments; False when `arg` is none of them."""
    key = arg.path[0]
    if key == "count":
        v = arg.values[0] if arg.values else None
        if arg.op not in COMPARISONS or v is None or v.kind != "number" or v.number < 0:
            message = N_("count takes a comparison with a whole number, like count >= 3")
            raise query_error(message, arg.pos, "count >= N")
        out.count = arg
        return True
    if key not in ("within", "after", "before"):
        return False
    v = arg.values[0] if arg.values else None
    if arg.op != "=" or v is None:
        raise query_error(N_("write {key} = <time>, like {key} = 30d"), arg.pos, "=", key=key)
    if key == "within":
        if v.kind != "duration" or v.duration <= timedelta(0):
            raise query_error(
                N_("within takes a positive duration, like within = 30d"), v.pos, "like 30d"
            )
        out.conds.append(col >= ctx.now - v.duration)
        ctx.atoms.append(TimeAtom(customer_col, col, -v.duration, where))
        return True
    cmp = Compare((key,), ">=" if key == "after" else "<", (v,), arg.pos)
    bound, offset = literal(v, "time", cmp, ctx)
    out.conds.append(col >= bound if key == "after" else col < bound)
    if offset is not None:
        ctx.atoms.append(TimeAtom(customer_col, col, offset, where))
    return True


def _grouped(
    ids: Any, base: sa.Select[Any], count_expr: Any, window: _Window, ctx: Context
) -> Cond:
    """customers.id IN (... GROUP BY customer HAVING count op n), zero counts included."""
    c = customers_service.customers_table().c
    base = ctx.scoped(base, ids)
    if window.count is None:
        return c.id.in_(base)
    op, n = window.count.op, int(window.count.values[0].number)
    pred = COMPARISONS[op]
    zero_matches = {"=": 0 == n, "!=": 0 != n, ">": 0 > n, ">=": 0 >= n, "<": 0 < n, "<=": 0 <= n}
    grouped = base.group_by(ids)
    if zero_matches[op]:
        # Customers with no matching rows count as 0 and match: exclude those that fail.
        return not_(c.id.in_(grouped.having(not_(pred(count_expr, n)))))
    return c.id.in_(grouped.having(pred(count_expr, n)))


def _did(call: Call, ctx: Context) -> Cond:
    if len(call.args) != 1:
        raise query_error(
            N_('did takes the event name first, like did("Product Viewed", within = 30d)'),
            call.pos,
            '"event name"',
        )
    name = _text_arg(call, 0)
    e = events_service.events_table().c
    ctx.uses.add("events")
    # Incremental runs on SQLite (no planner statistics): hide the (name, time) index so the
    # plan starts from the few scoped customers and their (customer, time) index.
    name_col = e.name.concat("") if ctx.scope is not None and ctx.dialect == "sqlite" else e.name
    where: tuple[Cond, ...] = (name_col == name, e.customer_id.is_not(None))
    window = _Window()
    filters: list[Cond] = []
    for arg in call.named:
        if _window(arg, e.timestamp, ctx, window, e.customer_id, where):
            continue
        key = arg.path[0]
        if key == "category" and arg.op == "=" and arg.values[0].kind == "string":
            text = arg.values[0].text
            as_text = json_text(e.properties, ("category",), ctx)
            filters.append(
                or_(as_text == text, as_text.like(like_prefix(text) + " > %", escape="\\"))
            )
            continue
        filters.append(json_test(e.properties, (key,), arg, ctx))
    base = select(e.customer_id).where(*where, *window.conds, *filters)
    return _grouped(e.customer_id, base, func.count(), window, ctx)


_ORDER_KEYS = ("product", "sku", "product_id", "category", "brand", "channel", "total")


def _ordered(call: Call, ctx: Context) -> Cond:
    if call.args:
        raise query_error(
            N_('ordered takes named filters only, like ordered(category = "Shoes")'),
            call.args[0].pos,
            "a named filter",
        )
    o = orders_service.orders_table().c
    ctx.uses.add("orders")
    where: tuple[Cond, ...] = (o.customer_id.is_not(None), o.status != _CANCELLED)
    window = _Window()
    order_conds: list[Cond] = []
    line_conds: list[Cond] = []
    lines = orders_service.order_lines_table()
    products = catalog_service.products_table()
    l_, p = lines.c, products.c
    need_products = False
    for arg in call.named:
        if _window(arg, o.placed_at, ctx, window, o.customer_id, where):
            continue
        key = arg.path[0]
        if key not in _ORDER_KEYS:
            raise unknown_name(
                key,
                arg.pos,
                [*_ORDER_KEYS, "within", "after", "before", "count"],
                "ordered() filter",
            )
        if key == "total":
            order_conds.append(
                scalar_test(o.base_total, "money", arg, ctx, customer_col=o.customer_id)
            )
        elif key == "channel":
            order_conds.append(scalar_test(o.channel, "text", arg, ctx, customer_col=o.customer_id))
        elif key == "product_id":
            line_conds.append(
                scalar_test(l_.product_id, "number", arg, ctx, customer_col=o.customer_id)
            )
        elif key in ("product", "sku"):
            line_conds.append(scalar_test(l_.sku, "text", arg, ctx, customer_col=o.customer_id))
        elif key == "brand":
            need_products = True
            line_conds.append(scalar_test(p.brand, "text", arg, ctx, customer_col=o.customer_id))
        else:  # category: the category or any sub-category ("Shoes" matches "Shoes > Running")
            need_products = True
            if arg.op not in ("=", "!=", "in", "not_in"):
                raise query_error(N_("compare category with =, !=, IN"), arg.pos, "=")
            texts = [text_value(v, arg) for v in arg.values]
            cond = or_(
                *(
                    or_(
                        p.category_path == t,
                        p.category_path.like(like_prefix(t) + " > %", escape="\\"),
                    )
                    for t in texts
                )
            )
            line_conds.append(cond if arg.op in ("=", "in") else negate(cond))
    source: FromClause = orders_service.orders_table()
    if line_conds:
        source = source.join(lines, l_.order_id == o.id)
        if need_products:
            source = source.join(products, p.id == l_.product_id)
    base = (
        select(o.customer_id)
        .select_from(source)
        .where(*where, *window.conds, *order_conds, *line_conds)
    )
    count_expr = func.count(sa.distinct(o.id)) if line_conds else func.count()
    return _grouped(o.customer_id, base, count_expr, window, ctx)


def _abandoned(call: Call, ctx: Context) -> Cond:
    """A cart or checkout with items, not converted, idle for `idle` (default 1h)."""
    if call.args:
        raise query_error(
            N_("abandoned_cart takes named arguments only, like abandoned_cart(within = 7d)"),
            call.args[0].pos,
            "a named argument",
        )
    k = orders_service.carts_table().c
    ctx.uses.add("carts")
    where: tuple[Cond, ...] = (
        k.customer_id.is_not(None),
        k.status != _CONVERTED,
        k.converted_at.is_(None),
        k.item_count > 0,
    )
    window = _Window()
    idle = timedelta(hours=1)
    extra: list[Cond] = []
    for arg in call.named:
        if arg.path[0] == "idle":
            v = arg.values[0] if arg.values else None
            if arg.op != "=" or v is None or v.kind != "duration" or v.duration <= timedelta(0):
                raise query_error(
                    N_("idle takes a positive duration, like idle = 2h"), arg.pos, "like 2h"
                )
            idle = v.duration
            continue
        if arg.path[0] == "value":
            extra.append(scalar_test(k.value, "money", arg, ctx, customer_col=k.customer_id))
            continue
        if not _window(arg, k.updated_at, ctx, window, k.customer_id, where):
            raise unknown_name(
                arg.path[0],
                arg.pos,
                ["within", "after", "before", "idle", "value", "count"],
                "abandoned_cart() argument",
            )
    ctx.atoms.append(TimeAtom(k.customer_id, k.updated_at, -idle, where))
    base = select(k.customer_id).where(
        *where, k.updated_at <= ctx.now - idle, *window.conds, *extra
    )
    return _grouped(k.customer_id, base, func.count(), window, ctx)


_CYCLE = N_("segments refer to each other in a cycle: {chain}")


def _in_segment(call: Call, ctx: Context, walk: Callable[[Node, Context], Cond]) -> Cond:
    if len(call.args) != 1 or call.named:
        message = N_('in_segment takes one segment name, like in_segment("VIP")')
        raise query_error(message, call.pos, '"segment name"')
    name = _text_arg(call, 0)
    pos = call.args[0].pos
    if name in ctx.stack:
        chain = " -> ".join([*ctx.stack[ctx.stack.index(name) :], name])
        raise query_error(_CYCLE, pos, "no cycle", chain=chain)
    ref = ctx.resolve_segment(name)
    if ref is None:
        raise query_error(
            N_('there is no segment named "{name}"'), pos, "an existing segment name", name=name
        )
    ctx.segments.add(ref.id)
    c = customers_service.customers_table().c
    if ref.kind == "static" or not ref.query:
        listed = ctx.members_of(ref.id)
        return c.id.in_(ctx.scoped(listed, listed.selected_columns[0]))
    ctx.stack.append(name)
    try:
        inner = walk(parse_query(ref.query), ctx)
    except SegmentQueryError as exc:
        if exc.template == _CYCLE:
            raise query_error(exc.phrase, pos, "no cycle") from None
        message = N_('segment "{name}" has a query that no longer compiles: {problem}')
        raise query_error(message, pos, name=name, problem=exc.phrase) from None
    finally:
        ctx.stack.pop()
    return inner
