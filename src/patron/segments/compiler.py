"""Segment syntax tree -> one SQLAlchemy Core condition on the customers table.

The condition runs on SQLite and PostgreSQL (JSON access differs and is spelled per
dialect). Event, order, cart, RFM and nested-segment conditions become `customers.id IN
(SELECT customer_id ... GROUP BY ... HAVING ...)` over indexed columns. Every relative time
bound (`-60d`, `within = 30d`) is also recorded as a TimeAtom: which customers' result can
flip when the clock moves from t1 to t2 (membership.py uses it; ADR 13).

Error messages are Phrases (templates marked with `N_`, see language.py), so the web app
can show them in the reader's language.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import ColumnElement, FromClause, and_, false, func, not_, or_, select

from patron.analytics import service as analytics_service
from patron.catalog import service as catalog_service
from patron.core.errors import ValidationError
from patron.core.money import KNOWN_CURRENCIES, to_minor
from patron.core.time import parse_datetime
from patron.customers import service as customers_service
from patron.events import service as events_service
from patron.orders import service as orders_service
from patron.orders.schemas import CartStatus, OrderStatus
from patron.segments.language import (
    N_,
    BoolOp,
    Call,
    Compare,
    Node,
    Not,
    Param,
    Phrase,
    SegmentQueryError,
    Value,
)
from patron.segments.language import parse as parse_query

Cond = ColumnElement[bool]
FieldKind = Literal["text", "number", "money", "time", "date", "list", "json"]


@dataclass(frozen=True, slots=True)
class ExtraField:
    """A per-customer value another domain provides (predictive scores, ...).

    `source()` returns (from clause, its customer id column, its value column); registered
    through `register_field` in patron.wiring, so segments never imports the provider."""

    kind: Literal["number", "money", "text", "time"]
    source: Callable[[], tuple[FromClause, ColumnElement[Any], ColumnElement[Any]]]
    description: str = ""


EXTRA_FIELDS: dict[str, ExtraField] = {}


def register_field(name: str, spec: ExtraField) -> None:
    if name in PROFILE_FIELDS or name in RFM_FIELDS or name in FUNCTIONS:
        raise ValueError(f"{name!r} is a built-in segment field")
    EXTRA_FIELDS[name] = spec


# name -> (column, kind). total_spent is in the base currency, net of refunds.
PROFILE_FIELDS: dict[str, FieldKind] = {
    "email": "text",
    "phone": "text",
    "first_name": "text",
    "last_name": "text",
    "gender": "text",
    "locale": "text",
    "timezone": "text",
    "country": "text",
    "city": "text",
    "birthday": "date",
    "created_at": "time",
    "updated_at": "time",
    "last_seen_at": "time",
    "first_order_at": "time",
    "last_order_at": "time",
    "orders_count": "number",
    "total_spent": "money",
    "aov": "money",
    "tags": "list",
    "channels": "list",
    "properties": "json",
}
RFM_FIELDS: dict[str, FieldKind] = {
    "rfm_group": "text",
    "r_score": "number",
    "f_score": "number",
    "m_score": "number",
}
FUNCTIONS = ("did", "ordered", "abandoned_cart", "in_segment", "has_tag")
_CANCELLED = OrderStatus.CANCELLED.value
_CONVERTED = CartStatus.CONVERTED.value


@dataclass(frozen=True, slots=True)
class SegmentRef:
    id: int
    name: str
    kind: str  # dynamic | static
    query: str | None


@dataclass(frozen=True, slots=True)
class TimeAtom:
    """Customers whose result may change while the clock moves: `time_col + (-offset)`
    passes. scope(t1, t2) = customer ids with time_col in (t1 + offset, t2 + offset]."""

    customer_col: ColumnElement[Any]
    time_col: ColumnElement[Any]
    offset: timedelta
    where: tuple[Cond, ...] = ()

    def scope(self, t1: datetime, t2: datetime) -> sa.Select[Any]:
        stmt = select(self.customer_col.label("customer_id")).where(
            self.time_col > t1 + self.offset, self.time_col <= t2 + self.offset, *self.where
        )
        return stmt


@dataclass
class Context:
    dialect: str
    now: datetime
    base_currency: str
    to_base: Callable[[int, str], int | None]
    resolve_segment: Callable[[str], SegmentRef | None]
    members_of: Callable[[int], sa.Select[Any]]
    stack: list[str] = field(default_factory=list)
    atoms: list[TimeAtom] = field(default_factory=list)
    segments: set[int] = field(default_factory=set)
    uses: set[str] = field(default_factory=set)
    # Incremental refreshes: only the customers of this table (one column, customer_id)
    # matter; every subquery joins it, so the database can start from the few ids.
    scope: Any = None

    def scoped(self, stmt: sa.Select[Any], ids: Any) -> sa.Select[Any]:
        if self.scope is None:
            return stmt
        return stmt.join(self.scope, self.scope.c.customer_id == ids)


@dataclass(frozen=True, slots=True)
class Compiled:
    condition: Cond
    atoms: tuple[TimeAtom, ...]
    segments: frozenset[int]  # ids of segments this one reads (directly or nested)
    uses: frozenset[str]  # "events", "orders", "carts", "rfm", "extra:<name>"


def compile_query(text: str, ctx: Context) -> Compiled:
    cond = _node(parse_query(text), ctx)
    return Compiled(cond, tuple(ctx.atoms), frozenset(ctx.segments), frozenset(ctx.uses))


def base_condition() -> Cond:
    """Who can be a member at all: live (not merged away), identified profiles."""
    c = customers_service.customers_table().c
    return and_(c.merged_into_id.is_(None), c.is_anonymous.is_(False))


# --- tree walking -----------------------------------------------------------------------


def _node(node: Node, ctx: Context) -> Cond:
    if isinstance(node, BoolOp):
        parts = [_node(n, ctx) for n in node.items]
        return and_(*parts) if node.op == "and" else or_(*parts)
    if isinstance(node, Not):
        # NOT of an unknown (a NULL field) is true: "NOT country = 'ID'" includes no country.
        return _negate(_node(node.item, ctx))
    if isinstance(node, Call):
        return _call(node, ctx)
    return _compare(node, ctx)


def _negate(cond: Cond) -> Cond:
    """NOT that treats unknown (NULL) as false, so the negation is true."""
    return not_(func.coalesce(cond, false()))


def _err(
    template: str | Phrase, pos: int, expected: str | None = None, **params: Param
) -> SegmentQueryError:
    """The error at column `pos`: `template` (marked with N_) filled with `params`."""
    message = template if isinstance(template, Phrase) else Phrase(template, **params)
    return SegmentQueryError(message, position=pos, expected=expected)


_UNKNOWN = {
    "field": N_("unknown field '{name}'"),
    "function": N_("unknown function '{name}'"),
    "ordered() filter": N_("unknown ordered() filter '{name}'"),
    "abandoned_cart() argument": N_("unknown abandoned_cart() argument '{name}'"),
    "RFM group": N_("unknown RFM group '{name}'"),
}


def _unknown(name: str, pos: int, choices: list[str], what: str) -> SegmentQueryError:
    """`unknown <what> 'name'`, with the closest of `choices` as a hint."""
    close = difflib.get_close_matches(name, choices, n=1)
    message = Phrase(_UNKNOWN[what], name=name)
    if close:
        hint = Phrase(N_("did you mean '{suggestion}'?"), suggestion=close[0])
        message = Phrase(N_("{message}; {hint}"), message=message, hint=hint)
    return _err(message, pos, expected=what)


def _compare(cmp: Compare, ctx: Context) -> Cond:
    c = customers_service.customers_table().c
    name = cmp.path[0]
    if name == "properties":
        if len(cmp.path) == 1:
            raise _err(N_("name the property, like properties.size"), cmp.pos, "properties.<name>")
        return _json_test(c.properties, cmp.path[1:], cmp, ctx)
    if len(cmp.path) > 1:
        raise _err(
            N_("'{name}' has no sub-fields (only properties.<name> does)"), cmp.pos, name=name
        )
    if name in RFM_FIELDS:
        return _rfm(cmp, ctx)
    if name in EXTRA_FIELDS:
        return _extra(cmp, EXTRA_FIELDS[name], ctx)
    kind = PROFILE_FIELDS.get(name)
    if kind is None:
        if name in FUNCTIONS:
            raise _err(N_("{name} is a function: write {name}(...)"), cmp.pos, "(", name=name)
        choices = [*PROFILE_FIELDS, *RFM_FIELDS, *EXTRA_FIELDS, "properties.<name>"]
        raise _unknown(name, cmp.pos, choices, "field")
    if name == "aov":
        return _aov(cmp, ctx)
    col = c[name]
    if kind == "list":
        return _list_test(col, cmp, ctx)
    if name == "country":
        cmp = Compare(cmp.path, cmp.op, tuple(_upper(v) for v in cmp.values), cmp.pos)
    if name == "email":
        cmp = Compare(cmp.path, cmp.op, tuple(_lower(v) for v in cmp.values), cmp.pos)
    return _scalar_test(col, kind, cmp, ctx, customer_col=c.id)


def _upper(v: Value) -> Value:
    return Value(v.kind, v.pos, text=v.text.upper()) if v.kind == "string" else v


def _lower(v: Value) -> Value:
    return Value(v.kind, v.pos, text=v.text.lower()) if v.kind == "string" else v


_CMP: dict[str, Callable[[Any, Any], Cond]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def _scalar_test(
    col: Any,
    kind: FieldKind,
    cmp: Compare,
    ctx: Context,
    *,
    customer_col: ColumnElement[Any],
    table_where: tuple[Cond, ...] = (),
) -> Cond:
    """`col op value` for a text, number, money, time or date column."""
    op = cmp.op
    if op == "is_null":
        return col.is_(None)  # type: ignore[no-any-return]
    if op == "is_not_null":
        return col.is_not(None)  # type: ignore[no-any-return]
    if op in ("contains", "not_contains"):
        if kind != "text":
            message = N_("CONTAINS works on text and lists, not on {field}")
            raise _err(message, cmp.pos, "=", field=cmp.name)
        needle = _text_value(cmp.values[0], cmp)
        cond = (
            func.instr(col, needle) > 0 if ctx.dialect == "sqlite" else func.strpos(col, needle) > 0
        )
        return cond if op == "contains" else or_(col.is_(None), not_(cond))
    values = [_literal(v, kind, cmp, ctx) for v in cmp.values]
    if op in ("in", "not_in"):
        if kind in ("time", "date"):
            raise _err(N_("IN takes texts or numbers; compare times with < or >"), cmp.pos, "<")
        cond = col.in_([v for v, _ in values])
        return cond if op == "in" else or_(col.is_(None), not_(cond))
    if kind == "text" and op not in ("=", "!="):
        raise _err(
            N_("{field} is text: compare it with =, !=, IN or CONTAINS"), cmp.pos, "=",
            field=cmp.name,
        )  # fmt: skip
    value, offset = values[0]
    if offset is not None:
        ctx.atoms.append(TimeAtom(customer_col, col, offset, table_where))
    cond = _CMP[op](col, value)
    if op == "!=":
        cond = or_(col.is_(None), cond)
    return cond


def _text_value(v: Value, cmp: Compare) -> str:
    if v.kind != "string":
        raise _err(
            N_("expected a text in quotes for {field}, found {found}"), v.pos, '"text"',
            field=cmp.name, found=v.describe(),
        )  # fmt: skip
    return v.text


def _literal(v: Value, kind: FieldKind, cmp: Compare, ctx: Context) -> tuple[Any, timedelta | None]:
    """(bound value, relative offset for time bounds or None)."""
    if kind == "text":
        return _text_value(v, cmp), None
    if kind == "number":
        if v.kind != "number":
            raise _err(
                N_("expected a number for {field}, found {found}"), v.pos, "a number",
                field=cmp.name, found=v.describe(),
            )  # fmt: skip
        return (int(v.number) if v.number == v.number.to_integral() else v.number), None
    if kind == "money":
        return _money(v, cmp, ctx), None
    if kind in ("time", "date"):
        if v.kind == "duration":
            if kind == "date":
                raise _err(
                    N_('{field} is a date: give it as "YYYY-MM-DD"'), v.pos, '"YYYY-MM-DD"',
                    field=cmp.name,
                )  # fmt: skip
            return ctx.now + v.duration, v.duration
        if v.kind == "string":
            try:
                at = parse_datetime(v.text, field="query")
            except ValidationError:
                message = N_('expected a date like "2026-01-31" for {field}, found "{text}"')
                raise _err(message, v.pos, '"YYYY-MM-DD"', field=cmp.name, text=v.text) from None
            return (at.date() if kind == "date" else at), None
        message = N_(
            "expected a time for {field}: relative like -60d (60 days ago) or a date "
            'like "2026-01-31", found {found}'
        )
        raise _err(message, v.pos, "a time like -60d", field=cmp.name, found=v.describe())
    message = N_("{field} cannot be compared like this")
    raise _err(message, cmp.pos, field=cmp.name)  # pragma: no cover


def _money(v: Value, cmp: Compare, ctx: Context) -> int:
    """An amount in base-currency minor units. Bare numbers are in the base currency."""
    if v.kind == "number":
        return to_minor(v.number, ctx.base_currency, field="query")
    if v.kind != "money":
        message = N_("expected an amount for {field}, like 100 {currency}, found {found}")
        raise _err(message, v.pos, "an amount", field=cmp.name, currency=ctx.base_currency,
                   found=v.describe())  # fmt: skip
    if v.currency not in KNOWN_CURRENCIES:
        raise _err(N_("unknown currency '{currency}'"), v.pos + len(str(v.number)) + 1,
                   "an ISO 4217 currency code", currency=v.currency)  # fmt: skip
    minor = to_minor(v.number, v.currency, field="query")
    if v.currency == ctx.base_currency:
        return minor
    converted = ctx.to_base(minor, v.currency)
    if converted is None:
        message = N_(
            "there is no exchange rate from {currency} to the store currency {base}; "
            "set it in the store settings or write the amount in {base}"
        )
        raise _err(message, v.pos, currency=v.currency, base=ctx.base_currency)
    return converted


def _aov(cmp: Compare, ctx: Context) -> Cond:
    c = customers_service.customers_table().c
    if cmp.op not in _CMP:
        raise _err(N_("compare aov with =, !=, >, >=, < or <="), cmp.pos, ">=")
    amount = _money(cmp.values[0], cmp, ctx)
    # total_spent / orders_count op amount, without integer division.
    return and_(c.orders_count > 0, _CMP[cmp.op](c.total_spent, c.orders_count * amount))


def _list_test(col: Any, cmp: Compare, ctx: Context) -> Cond:
    if cmp.op not in ("contains", "not_contains"):
        raise _err(
            N_('{field} is a list: use {field} CONTAINS "..."'), cmp.pos, "CONTAINS",
            field=cmp.name,
        )  # fmt: skip
    cond = _json_array_has(col, None, _text_value(cmp.values[0], cmp), ctx)
    return cond if cmp.op == "contains" else _negate(cond)


# --- JSON, per dialect ------------------------------------------------------------------


def _json_path(path: tuple[str, ...]) -> tuple[str, str]:
    for key in path:
        if not key.replace("_", "a").isalnum():
            raise ValueError(key)  # the tokenizer only produces identifiers
    return "$." + ".".join(path), "'{" + ",".join(path) + "}'::text[]"


def _json_array_has(col: Any, path: tuple[str, ...] | None, needle: Any, ctx: Context) -> Cond:
    if ctx.dialect == "postgresql":
        target = col if path is None else col.op("#>")(sa.literal_column(_json_path(path)[1]))
        return and_(
            func.jsonb_typeof(target) == "array", target.op("@>")(func.jsonb_build_array(needle))
        )
    each = (
        func.json_each(col) if path is None else func.json_each(col, _json_path(path)[0])
    ).table_valued("value", "type")
    kinds = ["text"] if isinstance(needle, str) else ["integer", "real"]
    return (
        select(1).select_from(each).where(each.c.value == needle, each.c.type.in_(kinds)).exists()
    )


def _json_test(col: Any, path: tuple[str, ...], cmp: Compare, ctx: Context) -> Cond:
    """properties.<path> op value: text, number and boolean values, missing = NULL."""
    sqlite_path, pg_path = _json_path(path)
    pg = ctx.dialect == "postgresql"
    node = col.op("#>")(sa.literal_column(pg_path)) if pg else None
    jtype = func.jsonb_typeof(node) if pg else func.json_type(col, sqlite_path)
    as_text = (
        col.op("#>>", return_type=sa.Text())(sa.literal_column(pg_path))
        if pg
        else func.json_extract(col, sqlite_path)
    )
    op = cmp.op
    if op == "is_null":
        return or_(jtype.is_(None), jtype == "null")
    if op == "is_not_null":
        return and_(jtype.is_not(None), jtype != "null")
    first = cmp.values[0]
    if op in ("contains", "not_contains"):
        needle = _text_value(first, cmp)
        substring = (func.strpos(as_text, needle) if pg else func.instr(as_text, needle)) > 0
        text_type = "string" if pg else "text"
        cond = or_(_json_array_has(col, path, needle, ctx), and_(jtype == text_type, substring))
        return cond if op == "contains" else _negate(cond)
    kinds = {v.kind for v in cmp.values}
    if len(kinds) > 1:
        raise _err(N_("give values of one kind in a list"), cmp.pos)
    if first.kind == "bool":
        if op not in ("=", "!="):
            raise _err(N_("compare true/false with = or !="), cmp.pos, "=")
        if pg:
            cond = and_(jtype == "boolean", as_text == ("true" if first.flag else "false"))
        else:
            cond = jtype == ("true" if first.flag else "false")
        return cond if op == "=" else _negate(cond)
    if first.kind == "duration":
        raise _err(N_("a property holds text, numbers or true/false, not a duration"), first.pos)
    if first.kind == "number" or first.kind == "money":
        if first.kind == "money":
            raise _err(
                N_("a property holds plain numbers: drop the currency"), first.pos, "a number"
            )
        number_type = "number" if pg else None
        num: Any
        if pg:
            num = sa.case((jtype == number_type, sa.cast(as_text, sa.Numeric)), else_=None)
        else:
            num = sa.case(
                (jtype.in_(["integer", "real"]), func.json_extract(col, sqlite_path)), else_=None
            )
        values = [v.number for v in cmp.values]
        if op in ("in", "not_in"):
            cond = num.in_(values)
            return cond if op == "in" else or_(num.is_(None), not_(cond))
        cond = _CMP[op](num, values[0])
        return or_(num.is_(None), cond) if op == "!=" else cond
    texts = [v.text for v in cmp.values]
    text_expr = sa.case((jtype == ("string" if pg else "text"), as_text), else_=None)
    if op in ("in", "not_in"):
        cond = text_expr.in_(texts)
        return cond if op == "in" else or_(text_expr.is_(None), not_(cond))
    if op not in ("=", "!="):
        raise _err(N_("compare a text property with =, !=, IN or CONTAINS"), cmp.pos, "=")
    cond = text_expr == texts[0]
    return cond if op == "=" else or_(text_expr.is_(None), not_(cond))


# --- functions --------------------------------------------------------------------------


def _call(call: Call, ctx: Context) -> Cond:
    if call.name == "did":
        return _did(call, ctx)
    if call.name == "ordered":
        return _ordered(call, ctx)
    if call.name == "abandoned_cart":
        return _abandoned(call, ctx)
    if call.name == "in_segment":
        return _in_segment(call, ctx)
    if call.name == "has_tag":
        c = customers_service.customers_table().c
        if len(call.args) != 1 or call.named:
            raise _err(N_('has_tag takes one tag, like has_tag("vip")'), call.pos, '"tag"')
        return _json_array_has(c.tags, None, _text_arg(call, 0), ctx)
    choices = [*FUNCTIONS, *PROFILE_FIELDS]
    raise _unknown(call.name, call.pos, choices, "function")


def _text_arg(call: Call, i: int) -> str:
    v = call.args[i]
    if v.kind != "string":
        raise _err(
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
        if arg.op not in _CMP or v is None or v.kind != "number" or v.number < 0:
            message = N_("count takes a comparison with a whole number, like count >= 3")
            raise _err(message, arg.pos, "count >= N")
        out.count = arg
        return True
    if key not in ("within", "after", "before"):
        return False
    v = arg.values[0] if arg.values else None
    if arg.op != "=" or v is None:
        raise _err(N_("write {key} = <time>, like {key} = 30d"), arg.pos, "=", key=key)
    if key == "within":
        if v.kind != "duration" or v.duration <= timedelta(0):
            raise _err(N_("within takes a positive duration, like within = 30d"), v.pos, "like 30d")
        out.conds.append(col >= ctx.now - v.duration)
        ctx.atoms.append(TimeAtom(customer_col, col, -v.duration, where))
        return True
    cmp = Compare((key,), ">=" if key == "after" else "<", (v,), arg.pos)
    bound, offset = _literal(v, "time", cmp, ctx)
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
    pred = _CMP[op]
    zero_matches = {"=": 0 == n, "!=": 0 != n, ">": 0 > n, ">=": 0 >= n, "<": 0 < n, "<=": 0 <= n}
    grouped = base.group_by(ids)
    if zero_matches[op]:
        # Customers with no matching rows count as 0 and match: exclude those that fail.
        return not_(c.id.in_(grouped.having(not_(pred(count_expr, n)))))
    return c.id.in_(grouped.having(pred(count_expr, n)))


def _did(call: Call, ctx: Context) -> Cond:
    if len(call.args) != 1:
        raise _err(
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
            as_text = _json_text(e.properties, ("category",), ctx)
            filters.append(
                or_(as_text == text, as_text.like(_like_prefix(text) + " > %", escape="\\"))
            )
            continue
        filters.append(_json_test(e.properties, (key,), arg, ctx))
    base = select(e.customer_id).where(*where, *window.conds, *filters)
    return _grouped(e.customer_id, base, func.count(), window, ctx)


def _json_text(col: Any, path: tuple[str, ...], ctx: Context) -> Any:
    sqlite_path, pg_path = _json_path(path)
    if ctx.dialect == "postgresql":
        return col.op("#>>", return_type=sa.Text())(sa.literal_column(pg_path))
    return func.json_extract(col, sqlite_path)


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_ORDER_KEYS = ("product", "sku", "product_id", "category", "brand", "channel", "total")


def _ordered(call: Call, ctx: Context) -> Cond:
    if call.args:
        raise _err(
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
            raise _unknown(
                key,
                arg.pos,
                [*_ORDER_KEYS, "within", "after", "before", "count"],
                "ordered() filter",
            )
        if key == "total":
            order_conds.append(
                _scalar_test(o.base_total, "money", arg, ctx, customer_col=o.customer_id)
            )
        elif key == "channel":
            order_conds.append(
                _scalar_test(o.channel, "text", arg, ctx, customer_col=o.customer_id)
            )
        elif key == "product_id":
            line_conds.append(
                _scalar_test(l_.product_id, "number", arg, ctx, customer_col=o.customer_id)
            )
        elif key in ("product", "sku"):
            line_conds.append(_scalar_test(l_.sku, "text", arg, ctx, customer_col=o.customer_id))
        elif key == "brand":
            need_products = True
            line_conds.append(_scalar_test(p.brand, "text", arg, ctx, customer_col=o.customer_id))
        else:  # category: the category or any sub-category ("Shoes" matches "Shoes > Running")
            need_products = True
            if arg.op not in ("=", "!=", "in", "not_in"):
                raise _err(N_("compare category with =, !=, IN"), arg.pos, "=")
            texts = [_text_value(v, arg) for v in arg.values]
            cond = or_(
                *(
                    or_(
                        p.category_path == t,
                        p.category_path.like(_like_prefix(t) + " > %", escape="\\"),
                    )
                    for t in texts
                )
            )
            line_conds.append(cond if arg.op in ("=", "in") else _negate(cond))
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
        raise _err(
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
                raise _err(N_("idle takes a positive duration, like idle = 2h"), arg.pos, "like 2h")
            idle = v.duration
            continue
        if arg.path[0] == "value":
            extra.append(_scalar_test(k.value, "money", arg, ctx, customer_col=k.customer_id))
            continue
        if not _window(arg, k.updated_at, ctx, window, k.customer_id, where):
            raise _unknown(
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


def _in_segment(call: Call, ctx: Context) -> Cond:
    if len(call.args) != 1 or call.named:
        message = N_('in_segment takes one segment name, like in_segment("VIP")')
        raise _err(message, call.pos, '"segment name"')
    name = _text_arg(call, 0)
    pos = call.args[0].pos
    if name in ctx.stack:
        chain = " -> ".join([*ctx.stack[ctx.stack.index(name) :], name])
        raise _err(_CYCLE, pos, "no cycle", chain=chain)
    ref = ctx.resolve_segment(name)
    if ref is None:
        raise _err(
            N_('there is no segment named "{name}"'), pos, "an existing segment name", name=name
        )
    ctx.segments.add(ref.id)
    c = customers_service.customers_table().c
    if ref.kind == "static" or not ref.query:
        listed = ctx.members_of(ref.id)
        return c.id.in_(ctx.scoped(listed, listed.selected_columns[0]))
    ctx.stack.append(name)
    try:
        inner = _node(parse_query(ref.query), ctx)
    except SegmentQueryError as exc:
        if exc.template == _CYCLE:
            raise _err(exc.phrase, pos, "no cycle") from None
        message = N_('segment "{name}" has a query that no longer compiles: {problem}')
        raise _err(message, pos, name=name, problem=exc.phrase) from None
    finally:
        ctx.stack.pop()
    return inner


def _rfm(cmp: Compare, ctx: Context) -> Cond:
    rfm = analytics_service.rfm_table()
    ctx.uses.add("rfm")
    name = cmp.path[0]
    col = rfm.c[name]
    kind = RFM_FIELDS[name]
    if name == "rfm_group":
        cmp = Compare(cmp.path, cmp.op, tuple(_rfm_group_value(v) for v in cmp.values), cmp.pos)
    c = customers_service.customers_table().c
    inner = _scalar_test(col, kind, cmp, ctx, customer_col=rfm.c.customer_id)
    return c.id.in_(ctx.scoped(select(rfm.c.customer_id).where(inner), rfm.c.customer_id))


def _rfm_group_value(v: Value) -> Value:
    """'Needs attention', 'needs_attention' and 'At Risk' all name a group key."""
    if v.kind != "string":
        return v
    key = v.text.strip().lower().replace(" ", "_").replace("-", "_")
    groups = _rfm_groups()
    if groups and key not in groups:
        raise _unknown(v.text, v.pos, sorted(groups), "RFM group")
    return Value("string", v.pos, text=key)


def _rfm_groups() -> set[str]:
    from patron.analytics.schemas import RfmGroup

    return {g.value for g in RfmGroup}


def _extra(cmp: Compare, spec: ExtraField, ctx: Context) -> Cond:
    source, cid, value = spec.source()
    ctx.uses.add(f"extra:{cmp.path[0]}")
    c = customers_service.customers_table().c
    inner = _scalar_test(value, spec.kind, cmp, ctx, customer_col=cid)
    return c.id.in_(ctx.scoped(select(cid).select_from(source).where(inner), cid))


def describe_fields() -> Mapping[str, str]:
    """Field name -> kind, for the API's help and the CLI."""
    out: dict[str, str] = dict(PROFILE_FIELDS)
    out.update(RFM_FIELDS)
    out.update({k: v.kind for k, v in EXTRA_FIELDS.items()})
    return out
