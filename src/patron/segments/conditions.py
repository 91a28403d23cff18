"""The pieces every segment condition is built of: the fields a query can name, the
compile context, errors, and the SQL test of one column or JSON value against a literal
(per dialect: SQLite and PostgreSQL spell JSON access differently).

compiler.py walks the syntax tree with these; calls.py compiles the functions (did,
ordered, abandoned_cart, in_segment, has_tag) with them. Error messages are Phrases
(templates marked with `N_`, see language.py), so the web app can show them in the
reader's language.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import ColumnElement, FromClause, and_, false, func, not_, or_, select

from patron.core.errors import ValidationError
from patron.core.money import KNOWN_CURRENCIES, to_minor
from patron.core.time import parse_datetime
from patron.segments.language import N_, Compare, Param, Phrase, SegmentQueryError, Value

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


def negate(cond: Cond) -> Cond:
    """NOT that treats unknown (NULL) as false, so the negation is true."""
    return not_(func.coalesce(cond, false()))


def query_error(
    template: str | Phrase, pos: int, expected: str | None = None, **params: Param
) -> SegmentQueryError:
    """The error at column `pos`: `template` (marked with N_) filled with `params`."""
    message = template if isinstance(template, Phrase) else Phrase(template, **params)
    return SegmentQueryError(message, position=pos, expected=expected)


UNKNOWN_MESSAGES = {
    "field": N_("unknown field '{name}'"),
    "function": N_("unknown function '{name}'"),
    "ordered() filter": N_("unknown ordered() filter '{name}'"),
    "abandoned_cart() argument": N_("unknown abandoned_cart() argument '{name}'"),
    "RFM group": N_("unknown RFM group '{name}'"),
}


def unknown_name(name: str, pos: int, choices: list[str], what: str) -> SegmentQueryError:
    """`unknown <what> 'name'`, with the closest of `choices` as a hint."""
    close = difflib.get_close_matches(name, choices, n=1)
    message = Phrase(UNKNOWN_MESSAGES[what], name=name)
    if close:
        hint = Phrase(N_("did you mean '{suggestion}'?"), suggestion=close[0])
        message = Phrase(N_("{message}; {hint}"), message=message, hint=hint)
    return query_error(message, pos, expected=what)


COMPARISONS: dict[str, Callable[[Any, Any], Cond]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def scalar_test(
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
            raise query_error(message, cmp.pos, "=", field=cmp.name)
        needle = text_value(cmp.values[0], cmp)
        cond = (
            func.instr(col, needle) > 0 if ctx.dialect == "sqlite" else func.strpos(col, needle) > 0
        )
        return cond if op == "contains" else or_(col.is_(None), not_(cond))
    values = [literal(v, kind, cmp, ctx) for v in cmp.values]
    if op in ("in", "not_in"):
        if kind in ("time", "date"):
            raise query_error(
                N_("IN takes texts or numbers; compare times with < or >"), cmp.pos, "<"
            )
        cond = col.in_([v for v, _ in values])
        return cond if op == "in" else or_(col.is_(None), not_(cond))
    if kind == "text" and op not in ("=", "!="):
        raise query_error(
            N_("{field} is text: compare it with =, !=, IN or CONTAINS"), cmp.pos, "=",
            field=cmp.name,
        )  # fmt: skip
    value, offset = values[0]
    if offset is not None:
        ctx.atoms.append(TimeAtom(customer_col, col, offset, table_where))
    cond = COMPARISONS[op](col, value)
    if op == "!=":
        cond = or_(col.is_(None), cond)
    return cond


def text_value(v: Value, cmp: Compare) -> str:
    if v.kind != "string":
        raise query_error(
            N_("expected a text in quotes for {field}, found {found}"), v.pos, '"text"',
            field=cmp.name, found=v.describe(),
        )  # fmt: skip
    return v.text


def literal(v: Value, kind: FieldKind, cmp: Compare, ctx: Context) -> tuple[Any, timedelta | None]:
    """(bound value, relative offset for time bounds or None)."""
    if kind == "text":
        return text_value(v, cmp), None
    if kind == "number":
        if v.kind != "number":
            raise query_error(
                N_("expected a number for {field}, found {found}"), v.pos, "a number",
                field=cmp.name, found=v.describe(),
            )  # fmt: skip
        return (int(v.number) if v.number == v.number.to_integral() else v.number), None
    if kind == "money":
        return money_value(v, cmp, ctx), None
    if kind in ("time", "date"):
        if v.kind == "duration":
            if kind == "date":
                raise query_error(
                    N_('{field} is a date: give it as "YYYY-MM-DD"'), v.pos, '"YYYY-MM-DD"',
                    field=cmp.name,
                )  # fmt: skip
            return ctx.now + v.duration, v.duration
        if v.kind == "string":
            try:
                at = parse_datetime(v.text, field="query")
            except ValidationError:
                message = N_('expected a date like "2026-01-31" for {field}, found "{text}"')
                raise query_error(
                    message, v.pos, '"YYYY-MM-DD"', field=cmp.name, text=v.text
                ) from None
            return (at.date() if kind == "date" else at), None
        message = N_(
            "expected a time for {field}: relative like -60d (60 days ago) or a date "
            'like "2026-01-31", found {found}'
        )
        raise query_error(message, v.pos, "a time like -60d", field=cmp.name, found=v.describe())
    message = N_("{field} cannot be compared like this")
    raise query_error(message, cmp.pos, field=cmp.name)  # pragma: no cover


def money_value(v: Value, cmp: Compare, ctx: Context) -> int:
    """An amount in base-currency minor units. Bare numbers are in the base currency."""
    if v.kind == "number":
        return to_minor(v.number, ctx.base_currency, field="query")
    if v.kind != "money":
        message = N_("expected an amount for {field}, like 100 {currency}, found {found}")
        raise query_error(message, v.pos, "an amount", field=cmp.name, currency=ctx.base_currency,
                   found=v.describe())  # fmt: skip
    if v.currency not in KNOWN_CURRENCIES:
        raise query_error(N_("unknown currency '{currency}'"), v.pos + len(str(v.number)) + 1,
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
        raise query_error(message, v.pos, currency=v.currency, base=ctx.base_currency)
    return converted


def list_test(col: Any, cmp: Compare, ctx: Context) -> Cond:
    if cmp.op not in ("contains", "not_contains"):
        raise query_error(
            N_('{field} is a list: use {field} CONTAINS "..."'), cmp.pos, "CONTAINS",
            field=cmp.name,
        )  # fmt: skip
    cond = json_array_has(col, None, text_value(cmp.values[0], cmp), ctx)
    return cond if cmp.op == "contains" else negate(cond)


# --- JSON, per dialect ------------------------------------------------------------------


def json_path(path: tuple[str, ...]) -> tuple[str, str]:
    for key in path:
        if not key.replace("_", "a").isalnum():
            raise ValueError(key)  # the tokenizer only produces identifiers
    return "$." + ".".join(path), "'{" + ",".join(path) + "}'::text[]"


def json_array_has(col: Any, path: tuple[str, ...] | None, needle: Any, ctx: Context) -> Cond:
    if ctx.dialect == "postgresql":
        target = col if path is None else col.op("#>")(sa.literal_column(json_path(path)[1]))
        return and_(
            func.jsonb_typeof(target) == "array", target.op("@>")(func.jsonb_build_array(needle))
        )
    each = (
        func.json_each(col) if path is None else func.json_each(col, json_path(path)[0])
    ).table_valued("value", "type")
    kinds = ["text"] if isinstance(needle, str) else ["integer", "real"]
    return (
        select(1).select_from(each).where(each.c.value == needle, each.c.type.in_(kinds)).exists()
    )


def json_test(col: Any, path: tuple[str, ...], cmp: Compare, ctx: Context) -> Cond:
    """properties.<path> op value: text, number and boolean values, missing = NULL."""
    sqlite_path, pg_path = json_path(path)
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
        needle = text_value(first, cmp)
        substring = (func.strpos(as_text, needle) if pg else func.instr(as_text, needle)) > 0
        text_type = "string" if pg else "text"
        cond = or_(json_array_has(col, path, needle, ctx), and_(jtype == text_type, substring))
        return cond if op == "contains" else negate(cond)
    kinds = {v.kind for v in cmp.values}
    if len(kinds) > 1:
        raise query_error(N_("give values of one kind in a list"), cmp.pos)
    if first.kind == "bool":
        if op not in ("=", "!="):
            raise query_error(N_("compare true/false with = or !="), cmp.pos, "=")
        if pg:
            cond = and_(jtype == "boolean", as_text == ("true" if first.flag else "false"))
        else:
            cond = jtype == ("true" if first.flag else "false")
        return cond if op == "=" else negate(cond)
    if first.kind == "duration":
        raise query_error(
            N_("a property holds text, numbers or true/false, not a duration"), first.pos
        )
    if first.kind == "number" or first.kind == "money":
        if first.kind == "money":
            raise query_error(
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
        cond = COMPARISONS[op](num, values[0])
        return or_(num.is_(None), cond) if op == "!=" else cond
    texts = [v.text for v in cmp.values]
    text_expr = sa.case((jtype == ("string" if pg else "text"), as_text), else_=None)
    if op in ("in", "not_in"):
        cond = text_expr.in_(texts)
        return cond if op == "in" else or_(text_expr.is_(None), not_(cond))
    if op not in ("=", "!="):
        raise query_error(N_("compare a text property with =, !=, IN or CONTAINS"), cmp.pos, "=")
    cond = text_expr == texts[0]
    return cond if op == "=" else or_(text_expr.is_(None), not_(cond))


def json_text(col: Any, path: tuple[str, ...], ctx: Context) -> Any:
    sqlite_path, pg_path = json_path(path)
    if ctx.dialect == "postgresql":
        return col.op("#>>", return_type=sa.Text())(sa.literal_column(pg_path))
    return func.json_extract(col, sqlite_path)


def like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
