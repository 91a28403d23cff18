"""Orders, revenue and new vs returning customers per day, week or month of a period.

Buckets are store-local days, weeks (Monday to Sunday) or calendar months, clipped to the
period [start, end); each bucket's bounds are exact store-local midnights in UTC (daylight
saving time included), joined to the orders as a small derived table, so every bucket is
an index range scan of its orders. A customer is new in a bucket when their first counted
order (the profile's `first_order_at`) is in it, returning when they ordered in it and are
not new: the KPI report's definitions, bucket by bucket.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import Integer, and_, func, literal, select, union_all
from sqlalchemy.orm import Session

from patron.analytics.kpis import period, store_zone
from patron.analytics.order_days import midnight
from patron.analytics.schemas import SeriesBucket, SeriesPoint, SeriesReport
from patron.analytics.sqlfns import at, counted, net, orders
from patron.customers import service as customers_service
from patron.store import service as store_service

DAILY_UP_TO_DAYS = 62
WEEKLY_UP_TO_DAYS = 371


def auto_bucket(days: int) -> SeriesBucket:
    """Days for two months or less, weeks up to a year, months beyond."""
    if days <= DAILY_UP_TO_DAYS:
        return SeriesBucket.DAY
    if days <= WEEKLY_UP_TO_DAYS:
        return SeriesBucket.WEEK
    return SeriesBucket.MONTH


def _next(d: date, bucket: SeriesBucket) -> date:
    if bucket is SeriesBucket.DAY:
        return d + timedelta(days=1)
    if bucket is SeriesBucket.WEEK:
        return d + timedelta(days=7 - d.weekday())
    return (d.replace(day=28) + timedelta(days=4)).replace(day=1)


def bounds(start: date, end: date, bucket: SeriesBucket) -> list[tuple[date, date]]:
    """[(bucket start, bucket end)] covering [start, end), the first and last clipped."""
    out: list[tuple[date, date]] = []
    d = start
    while d < end:
        nxt = min(_next(d, bucket), end)
        out.append((d, nxt))
        d = nxt
    return out


def series(
    session: Session, *, start: date, end: date, bucket: SeriesBucket | None = None
) -> SeriesReport:
    p = period(session, start, end)
    bucket = SeriesBucket(bucket) if bucket else auto_bucket((end - start).days)
    spans = bounds(start, end, bucket)
    _, zone = store_zone(session)

    parts = [  # one row per bucket: its index and UTC bounds
        select(
            literal(i, Integer).label("i"),
            at(midnight(zone, a)).label("s"),
            at(midnight(zone, z)).label("e"),
        )  # fmt: skip
        for i, (a, z) in enumerate(spans)
    ]
    b = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("b")
    o = orders()
    by_orders: dict[int, Any] = {
        int(row[0]): row
        for row in session.execute(
            select(
                b.c.i,
                func.count(),
                func.coalesce(func.sum(net(o)), 0),
                func.count(func.distinct(o.c.customer_id)),
            )
            .select_from(b.join(o, and_(o.c.placed_at >= b.c.s, o.c.placed_at < b.c.e)))
            .where(counted(o))
            .group_by(b.c.i)
        )
    }
    c = customers_service.customers_table()
    new: dict[int, int] = {
        int(i): int(n)
        for i, n in session.execute(
            select(b.c.i, func.count())
            .select_from(b.join(c, and_(c.c.first_order_at >= b.c.s, c.c.first_order_at < b.c.e)))
            .where(c.c.merged_into_id.is_(None))
            .group_by(b.c.i)
        )
    }
    points: list[SeriesPoint] = []
    for i, (a, z) in enumerate(spans):
        row = by_orders.get(i)
        n_orders, revenue, buyers = (int(row[1]), int(row[2]), int(row[3])) if row else (0, 0, 0)
        fresh = min(new.get(i, 0), buyers)
        points.append(
            SeriesPoint(
                start=a,
                end=z,
                orders=n_orders,
                revenue=revenue,
                customers=buyers,
                new_customers=fresh,
                returning_customers=buyers - fresh,
            )
        )
    return SeriesReport(
        currency=store_service.get_settings(session).base_currency,
        timezone=store_zone(session)[0],
        bucket=bucket,
        period=p,
        points=points,
    )
