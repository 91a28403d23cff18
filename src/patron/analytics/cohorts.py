"""Acquisition-month cohorts and period breakdowns (channel, country, RFM group).

Cohort month = the store-local month of a customer's first counted order (the profile's
`first_order_at`, kept by the orders domain). Month k = calendar months between the
cohort month and the order's month. Months are taken in the store timezone using its UTC
offset at the time of the report (exact for zones without daylight saving time; in zones
with it, an order in the hour around a month boundary may land in the adjacent month).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from patron.analytics.kpis import period, spend_in, store_zone
from patron.analytics.models import MarketingSpend, RfmScore
from patron.analytics.schemas import (
    BreakdownDimension,
    BreakdownReport,
    BreakdownRow,
    CohortReport,
    CohortRow,
    RfmGroup,
)
from patron.analytics.sqlfns import at, counted, month_index, net, orders
from patron.core.errors import ValidationError
from patron.customers import service as customers_service
from patron.db import table_of
from patron.store import service as store_service

MAX_COHORTS = 120

# A higher layer's membership, as a selectable of (customer_id, key) rows: segments wires
# its members here (patron.wiring), so analytics can break down by segment without
# importing it. A customer in two segments counts in both rows.
MembershipSource = Callable[[Session], Any]
MEMBERSHIP_SOURCES: dict[BreakdownDimension, MembershipSource] = {}


def parse_month(text: str, *, field: str) -> int:
    """'YYYY-MM' -> year * 12 + month - 1."""
    try:
        year, month = (int(x) for x in text.strip().split("-"))
        if not (1 <= month <= 12 and 1900 <= year <= 9999) or len(text.strip()) != 7:
            raise ValueError
    except ValueError:
        raise ValidationError(f"must be a month YYYY-MM, got {text!r}", field=field) from None
    return year * 12 + month - 1


def month_text(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _offset_minutes(session: Session) -> int:
    _, zone = store_zone(session)
    offset = datetime.now(UTC).astimezone(zone).utcoffset()
    return int(offset.total_seconds() // 60) if offset else 0


def cohorts(session: Session, *, start: str | None = None, end: str | None = None) -> CohortReport:
    """Cohorts from `start` to `end` (YYYY-MM, inclusive; default: the last 12 months)."""
    offset = _offset_minutes(session)
    now_local = datetime.now(UTC).astimezone(store_zone(session)[1])
    this_month = now_local.year * 12 + now_local.month - 1
    hi = parse_month(end, field="to") if end else this_month
    lo = parse_month(start, field="from") if start else hi - 11
    if hi < lo:
        raise ValidationError("to must not be before from", field="to")
    if hi - lo + 1 > MAX_COHORTS:
        raise ValidationError(f"at most {MAX_COHORTS} cohorts at once", field="from")
    last = max(hi, this_month)
    c = customers_service.customers_table()
    o = orders()
    cm = month_index(session, c.c.first_order_at, offset)
    live_customer = and_(c.c.merged_into_id.is_(None), c.c.first_order_at.is_not(None))
    sizes = dict(
        session.execute(
            select(cm.label("cm"), func.count())
            .where(live_customer, cm >= lo, cm <= hi)
            .group_by(cm)
        ).all()
    )
    om = month_index(session, o.c.placed_at, offset)
    cells: dict[tuple[int, int], tuple[int, int]] = {}
    for cohort, month, n_active, n_revenue in session.execute(
        select(cm, om, func.count(func.distinct(o.c.customer_id)), func.sum(net(o)))
        .select_from(o.join(c, c.c.id == o.c.customer_id))
        .where(counted(o), live_customer, cm >= lo, cm <= hi)
        .group_by(cm, om)
    ):
        cells[(int(cohort), int(month))] = (int(n_active), int(n_revenue or 0))
    rows: list[CohortRow] = []
    for cohort in range(lo, hi + 1):
        size = int(sizes.get(cohort, 0))
        span = range(0, last - cohort + 1)
        cells_of = [cells.get((cohort, cohort + k), (0, 0)) for k in span]
        active = [a for a, _ in cells_of]
        revenue = [r for _, r in cells_of]
        cumulative: list[int] = []
        running = 0
        for r in revenue:
            running += r
            cumulative.append(round(Fraction(running, size)) if size else 0)
        rows.append(
            CohortRow(
                cohort=month_text(cohort),
                customers=size,
                active=active,
                retention=[round(a / size, 6) if size else 0.0 for a in active],
                revenue=revenue,
                revenue_per_customer=cumulative,
            )
        )
    return CohortReport(
        currency=store_service.get_settings(session).base_currency,
        timezone=store_zone(session)[0],
        start=month_text(lo),
        end=month_text(hi),
        cohorts=rows,
    )


def breakdown(
    session: Session, *, dimension: BreakdownDimension, start: date, end: date
) -> BreakdownReport:
    """Orders, revenue, customers and new customers of the period, by one dimension."""
    dimension = BreakdownDimension(dimension)
    p = period(session, start, end)
    o = orders()
    c = customers_service.customers_table()
    r = table_of(RfmScore)
    frm = o.outerjoin(c, c.c.id == o.c.customer_id)
    key: ColumnElement[Any]
    if dimension is BreakdownDimension.CHANNEL:
        key = o.c.channel
    elif dimension is BreakdownDimension.COUNTRY:
        key = func.coalesce(c.c.country, literal("unknown"))
    elif dimension is BreakdownDimension.SEGMENT:
        source = MEMBERSHIP_SOURCES.get(dimension)
        if source is None:
            raise ValidationError(
                "no segment membership is wired (the segments domain provides it)", field="by"
            )
        members = source(session).subquery("members")
        frm = frm.join(members, members.c.customer_id == o.c.customer_id)
        key = members.c.key
    else:
        frm = frm.outerjoin(r, r.c.customer_id == o.c.customer_id)
        key = case(
            (o.c.customer_id.is_(None), literal("guest")),
            else_=func.coalesce(r.c.rfm_group, literal(RfmGroup.PROSPECTS.value)),
        )
    is_new = and_(c.c.first_order_at >= at(p.start_at), c.c.first_order_at < at(p.end_at))
    first_order = and_(is_new, o.c.placed_at == c.c.first_order_at)
    rows = session.execute(
        select(
            key.label("k"),
            func.count(),
            func.coalesce(func.sum(net(o)), 0),
            func.count(func.distinct(o.c.customer_id)),
            # a new customer counts for the dimension value of their first order
            func.count(func.distinct(case((first_order, o.c.customer_id)))),
        )
        .select_from(frm)
        .where(counted(o), o.c.placed_at >= at(p.start_at), o.c.placed_at < at(p.end_at))
        .group_by(key)
        .order_by(func.sum(net(o)).desc(), key)
    ).all()
    total = sum(int(x[2]) for x in rows)
    if dimension is BreakdownDimension.SEGMENT:  # rows overlap: share of all revenue
        total = int(
            session.scalar(
                select(func.coalesce(func.sum(net(o)), 0)).where(
                    counted(o), o.c.placed_at >= at(p.start_at), o.c.placed_at < at(p.end_at)
                )
            )
            or 0
        )
    spend: dict[str, Fraction] = {}
    if dimension is BreakdownDimension.CHANNEL:
        for channel in session.scalars(select(MarketingSpend.channel).distinct()):
            amount = spend_in(session, p, channel=channel)
            if amount is not None:
                spend[channel] = amount
    out: list[BreakdownRow] = []
    for k, n, rev, buyers, new in rows:
        s = spend.pop(str(k), None)
        out.append(
            BreakdownRow(
                key=str(k),
                orders=int(n),
                revenue=int(rev),
                revenue_share=round(int(rev) / total, 6) if total else 0.0,
                customers=int(buyers),
                new_customers=int(new),
                aov=round(Fraction(int(rev), int(n))) if n else None,
                spend=round(s) if s is not None else None,
                cac=round(s / int(new)) if s is not None and new else None,
            )
        )
    for channel, s in sorted(spend.items()):  # spend on channels without orders
        out.append(
            BreakdownRow(
                key=channel,
                orders=0,
                revenue=0,
                revenue_share=0.0,
                customers=0,
                new_customers=0,
                aov=None,
                spend=round(s),
                cac=None,
            )
        )
    return BreakdownReport(
        currency=store_service.get_settings(session).base_currency,
        dimension=dimension,
        period=p,
        rows=out,
    )
