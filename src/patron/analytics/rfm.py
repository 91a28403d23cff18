"""RFM scores for every customer with orders, in one INSERT ... SELECT (ADR 14).

Inputs are the customer stats the orders domain keeps on the profile (last order, orders
count, net spend in the base currency), so a refresh reads one row per customer, never the
orders. Scores are tie-aware quantiles computed with RANK() (portable to SQLite 3.25+ and
PostgreSQL):

    score = 1 + floor(5 * (rank - 1) / n)

where rank is the 1-based RANK() of the customer's value, ascending from worst to best
(recency: most days since the last order first), and n the number of scored customers.
(rank - 1) / n is the share of customers strictly worse, so equal values always get equal
scores, and a value shared by many customers (one order) gets the score of the lowest of
them.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from patron.analytics.models import RfmRun, RfmScore
from patron.analytics.schemas import (
    GROUP_LABELS,
    RfmGroup,
    RfmGroupRow,
    RfmRefresh,
    RfmScorePage,
    RfmScoreRead,
    RfmSummary,
)
from patron.analytics.sqlfns import at, whole_days_between
from patron.core.errors import ValidationError
from patron.core.time import as_utc, utcnow
from patron.customers import service as customers_service
from patron.db import table_of
from patron.store import service as store_service

# (group, R scores, FM scores) where FM = round-half-up((F + M) / 2). Every (R, FM) pair of
# 1..5 x 1..5 is covered exactly once (checked by the tests); docs/analytics.md draws it.
GRID: list[tuple[RfmGroup, tuple[int, ...], tuple[int, ...]]] = [
    (RfmGroup.CHAMPIONS, (5,), (4, 5)),
    (RfmGroup.LOYAL, (3, 4), (4, 5)),
    (RfmGroup.ACTIVE, (4, 5), (2, 3)),
    (RfmGroup.NEW, (5,), (1,)),
    (RfmGroup.PROMISING, (3, 4), (1,)),
    (RfmGroup.NEEDS_ATTENTION, (3,), (2, 3)),
    (RfmGroup.PREVIOUSLY_LOYAL, (1, 2), (5,)),
    (RfmGroup.AT_RISK, (1, 2), (3, 4)),
    (RfmGroup.ALMOST_LOST, (2,), (1, 2)),
    (RfmGroup.DORMANT, (1,), (1, 2)),
]


def group_of(r: int, f: int, m: int) -> RfmGroup:
    """The group of one score triple (the same table the SQL CASE is built from)."""
    fm = (f + m + 1) // 2
    for group, rs, fms in GRID:
        if r in rs and fm in fms:
            return group
    raise ValueError(f"no RFM group for R={r} F={f} M={m}")


def _group_case(r: Any, f: Any, m: Any) -> ColumnElement[str]:
    fm = (f + m + 1) // 2  # integer division on both backends
    whens = [(and_(r.in_(rs), fm.in_(fms)), literal(g.value)) for g, rs, fms in GRID]
    return case(*whens, else_=literal(RfmGroup.DORMANT.value))


def _score(rank: Any, n: Any) -> ColumnElement[int]:
    return cast(1 + (5 * (rank - 1)) // n, Integer)


def refresh(session: Session, *, as_of: datetime | None = None) -> RfmRefresh:
    """Recompute every customer's RFM row (replacing the table's contents) in SQL."""
    started = time.perf_counter()
    now = utcnow()
    as_of = as_utc(as_of) if as_of else now
    c = customers_service.customers_table()
    t = table_of(RfmScore)
    recency = whole_days_between(session, c.c.last_order_at, at(as_of))
    base = (
        select(
            c.c.id.label("customer_id"),
            recency.label("recency_days"),
            c.c.orders_count.label("frequency"),
            c.c.total_spent.label("monetary"),
        )
        .where(
            c.c.orders_count > 0,
            c.c.last_order_at.is_not(None),
            c.c.merged_into_id.is_(None),
            c.c.is_anonymous.is_(False),
        )
        .subquery("b")
    )
    n = func.count().over()
    ranked = select(
        base.c.customer_id,
        base.c.recency_days,
        base.c.frequency,
        base.c.monetary,
        _score(func.rank().over(order_by=base.c.recency_days.desc()), n).label("r"),
        _score(func.rank().over(order_by=base.c.frequency.asc()), n).label("f"),
        _score(func.rank().over(order_by=base.c.monetary.asc()), n).label("m"),
    ).subquery("s")
    rows = select(
        ranked.c.customer_id,
        ranked.c.r,
        ranked.c.f,
        ranked.c.m,
        cast(_group_case(ranked.c.r, ranked.c.f, ranked.c.m), String),
        ranked.c.recency_days,
        ranked.c.frequency,
        ranked.c.monetary,
        at(now),
    )
    if session.get_bind().dialect.name == "postgresql":
        # three window sorts of one row per customer: keep them in memory (this transaction)
        session.execute(text("SET LOCAL work_mem = '128MB'"))
    session.execute(delete(t))
    session.execute(
        insert(t).from_select(
            [
                "customer_id",
                "r_score",
                "f_score",
                "m_score",
                "rfm_group",
                "recency_days",
                "frequency",
                "monetary",
                "computed_at",
            ],
            rows,
        )
    )
    edges: dict[str, dict[str, list[int]]] = {}
    total = 0
    for name, score_col, value_col in (
        ("recency_days", t.c.r_score, t.c.recency_days),
        ("frequency", t.c.f_score, t.c.frequency),
        ("monetary", t.c.m_score, t.c.monetary),
    ):
        dim: dict[str, list[int]] = {}
        count = 0
        for score, lo, hi, k in session.execute(
            select(score_col, func.min(value_col), func.max(value_col), func.count())
            .group_by(score_col)
            .order_by(score_col)
        ):
            dim[str(score)] = [int(lo), int(hi)]
            count += int(k)
        edges[name] = dim
        total = count
    currency = store_service.get_settings(session).base_currency
    duration_ms = int((time.perf_counter() - started) * 1000)
    session.add(
        RfmRun(
            computed_at=now,
            as_of=as_of,
            customers=total,
            currency=currency,
            edges=edges,
            duration_ms=duration_ms,
        )
    )
    session.flush()
    return RfmRefresh(
        computed_at=now,
        as_of=as_of,
        customers=total,
        currency=currency,
        duration_ms=duration_ms,
        edges=edges,
    )


def last_run(session: Session) -> RfmRun | None:
    return session.scalar(select(RfmRun).order_by(RfmRun.id.desc()).limit(1))


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def summary(session: Session) -> RfmSummary:
    """Customers and lifetime revenue per RFM group (prospects included) at the last
    refresh."""
    run = last_run(session)
    rows, customers, revenue = group_rows(session)
    return RfmSummary(
        computed_at=run.computed_at if run else None,
        currency=run.currency if run else store_service.get_settings(session).base_currency,
        customers=customers,
        revenue=revenue,
        groups=rows,
        edges=run.edges if run else {},
    )


def group_rows(session: Session) -> tuple[list[RfmGroupRow], int, int]:
    """Customers and lifetime revenue per group, prospects included; (rows, customers,
    revenue)."""
    t = table_of(RfmScore)
    stats = {
        g: (int(k), int(rev or 0), float(r), float(f), float(mon))
        for g, k, rev, r, f, mon in session.execute(
            select(
                t.c.rfm_group,
                func.count(),
                func.sum(t.c.monetary),
                func.avg(t.c.recency_days),
                func.avg(t.c.frequency),
                func.avg(t.c.monetary),
            ).group_by(t.c.rfm_group)
        )
    }
    c = customers_service.customers_table()
    prospects = int(
        session.scalar(
            select(func.count())
            .select_from(c)
            .outerjoin(t, t.c.customer_id == c.c.id)
            .where(
                t.c.customer_id.is_(None),
                c.c.merged_into_id.is_(None),
                c.c.is_anonymous.is_(False),
            )
        )
        or 0
    )
    customers = sum(s[0] for s in stats.values()) + prospects
    revenue = sum(s[1] for s in stats.values())
    rows: list[RfmGroupRow] = []
    for group in RfmGroup:
        if group is RfmGroup.PROSPECTS:
            rows.append(
                RfmGroupRow(
                    group=group,
                    label=GROUP_LABELS[group],
                    customers=prospects,
                    customer_share=_ratio(prospects, customers),
                    revenue=0,
                    revenue_share=0.0,
                    avg_recency_days=None,
                    avg_frequency=None,
                    avg_monetary=None,
                )
            )
            continue
        k, rev, r, f, mon = stats.get(group.value, (0, 0, 0.0, 0.0, 0.0))
        rows.append(
            RfmGroupRow(
                group=group,
                label=GROUP_LABELS[group],
                customers=k,
                customer_share=_ratio(k, customers),
                revenue=rev,
                revenue_share=_ratio(rev, revenue),
                avg_recency_days=round(r, 2) if k else None,
                avg_frequency=round(f, 4) if k else None,
                avg_monetary=round(mon) if k else None,
            )
        )
    return rows, customers, revenue


def scores(
    session: Session,
    *,
    group: RfmGroup | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> RfmScorePage:
    """Scored customers by id, optionally of one group (prospects have no scores)."""
    t = table_of(RfmScore)
    q = select(t).order_by(t.c.customer_id).limit(limit + 1)
    if group is not None:
        if group is RfmGroup.PROSPECTS:
            raise ValidationError("prospects have no RFM scores (no orders)", field="group")
        q = q.where(t.c.rfm_group == group.value)
    if cursor:
        try:
            after = int(cursor)
        except ValueError:
            raise ValidationError("cursor is not valid", field="cursor") from None
        q = q.where(t.c.customer_id > after)
    rows = session.execute(q).mappings().all()
    items = [
        RfmScoreRead(
            customer_id=r["customer_id"],
            r_score=r["r_score"],
            f_score=r["f_score"],
            m_score=r["m_score"],
            rfm_group=RfmGroup(r["rfm_group"]),
            recency_days=r["recency_days"],
            frequency=r["frequency"],
            monetary=r["monetary"],
            computed_at=r["computed_at"],
        )
        for r in rows[:limit]
    ]
    nxt = str(items[-1].customer_id) if len(rows) > limit and items else None
    return RfmScorePage(items=items, next_cursor=nxt)
