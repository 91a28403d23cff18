"""Segment syntax tree -> one SQLAlchemy Core condition on the customers table.

The condition runs on SQLite and PostgreSQL (JSON access differs and is spelled per
dialect). Event, order, cart, RFM and nested-segment conditions become `customers.id IN
(SELECT customer_id ... GROUP BY ... HAVING ...)` over indexed columns. Every relative time
bound (`-60d`, `within = 30d`) is also recorded as a TimeAtom: which customers' result can
flip when the clock moves from t1 to t2 (membership.py uses it; ADR 13).

The fields, the context and the column tests are in conditions.py, the functions (did,
ordered, ...) in calls.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import and_, or_, select

from patron.analytics import service as analytics_service
from patron.customers import service as customers_service
from patron.segments.calls import compile_call
from patron.segments.conditions import (
    COMPARISONS,
    EXTRA_FIELDS,
    FUNCTIONS,
    PROFILE_FIELDS,
    RFM_FIELDS,
    Cond,
    Context,
    ExtraField,
    SegmentRef,
    TimeAtom,
    json_test,
    list_test,
    money_value,
    negate,
    query_error,
    register_field,
    scalar_test,
    unknown_name,
)
from patron.segments.language import N_, BoolOp, Call, Compare, Node, Not, Value
from patron.segments.language import parse as parse_query

__all__ = ["Compiled", "Context", "ExtraField", "SegmentRef", "TimeAtom", "EXTRA_FIELDS",
           "base_condition", "compile_query", "describe_fields", "register_field"]  # fmt: skip


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
        return negate(_node(node.item, ctx))
    if isinstance(node, Call):
        return compile_call(node, ctx, _node)
    return _compare(node, ctx)


def _compare(cmp: Compare, ctx: Context) -> Cond:
    c = customers_service.customers_table().c
    name = cmp.path[0]
    if name == "properties":
        if len(cmp.path) == 1:
            raise query_error(
                N_("name the property, like properties.size"), cmp.pos, "properties.<name>"
            )
        return json_test(c.properties, cmp.path[1:], cmp, ctx)
    if len(cmp.path) > 1:
        raise query_error(
            N_("'{name}' has no sub-fields (only properties.<name> does)"), cmp.pos, name=name
        )
    if name in RFM_FIELDS:
        return _rfm(cmp, ctx)
    if name in EXTRA_FIELDS:
        return _extra(cmp, EXTRA_FIELDS[name], ctx)
    kind = PROFILE_FIELDS.get(name)
    if kind is None:
        if name in FUNCTIONS:
            raise query_error(
                N_("{name} is a function: write {name}(...)"), cmp.pos, "(", name=name
            )
        choices = [*PROFILE_FIELDS, *RFM_FIELDS, *EXTRA_FIELDS, "properties.<name>"]
        raise unknown_name(name, cmp.pos, choices, "field")
    if name == "aov":
        return _aov(cmp, ctx)
    col = c[name]
    if kind == "list":
        return list_test(col, cmp, ctx)
    if name == "country":
        cmp = Compare(cmp.path, cmp.op, tuple(_upper(v) for v in cmp.values), cmp.pos)
    if name == "email":
        cmp = Compare(cmp.path, cmp.op, tuple(_lower(v) for v in cmp.values), cmp.pos)
    return scalar_test(col, kind, cmp, ctx, customer_col=c.id)


def _upper(v: Value) -> Value:
    return Value(v.kind, v.pos, text=v.text.upper()) if v.kind == "string" else v


def _lower(v: Value) -> Value:
    return Value(v.kind, v.pos, text=v.text.lower()) if v.kind == "string" else v


def _aov(cmp: Compare, ctx: Context) -> Cond:
    c = customers_service.customers_table().c
    if cmp.op not in COMPARISONS:
        raise query_error(N_("compare aov with =, !=, >, >=, < or <="), cmp.pos, ">=")
    amount = money_value(cmp.values[0], cmp, ctx)
    # total_spent / orders_count op amount, without integer division.
    return and_(c.orders_count > 0, COMPARISONS[cmp.op](c.total_spent, c.orders_count * amount))


def _rfm(cmp: Compare, ctx: Context) -> Cond:
    rfm = analytics_service.rfm_table()
    ctx.uses.add("rfm")
    name = cmp.path[0]
    col = rfm.c[name]
    kind = RFM_FIELDS[name]
    if name == "rfm_group":
        cmp = Compare(cmp.path, cmp.op, tuple(_rfm_group_value(v) for v in cmp.values), cmp.pos)
    c = customers_service.customers_table().c
    inner = scalar_test(col, kind, cmp, ctx, customer_col=rfm.c.customer_id)
    return c.id.in_(ctx.scoped(select(rfm.c.customer_id).where(inner), rfm.c.customer_id))


def _rfm_group_value(v: Value) -> Value:
    """'Needs attention', 'needs_attention' and 'At Risk' all name a group key."""
    if v.kind != "string":
        return v
    key = v.text.strip().lower().replace(" ", "_").replace("-", "_")
    groups = _rfm_groups()
    if groups and key not in groups:
        raise unknown_name(v.text, v.pos, sorted(groups), "RFM group")
    return Value("string", v.pos, text=key)


def _rfm_groups() -> set[str]:
    from patron.analytics.schemas import RfmGroup

    return {g.value for g in RfmGroup}


def _extra(cmp: Compare, spec: ExtraField, ctx: Context) -> Cond:
    source, cid, value = spec.source()
    ctx.uses.add(f"extra:{cmp.path[0]}")
    c = customers_service.customers_table().c
    inner = scalar_test(value, spec.kind, cmp, ctx, customer_col=cid)
    return c.id.in_(ctx.scoped(select(cid).select_from(source).where(inner), cid))


def describe_fields() -> Mapping[str, str]:
    """Field name -> kind, for the API's help and the CLI."""
    out: dict[str, str] = dict(PROFILE_FIELDS)
    out.update(RFM_FIELDS)
    out.update({k: v.kind for k, v in EXTRA_FIELDS.items()})
    return out
