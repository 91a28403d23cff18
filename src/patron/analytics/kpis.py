"""The store's KPIs for a period [start, end) next to the previous period of equal length.

Every figure is one aggregate query (or a few) over the period's orders, the customers'
first-order dates and the period's events; nothing loops over customers in Python. The
formulas are in docs/analytics.md; the metric keys below are the API's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Integer, and_, case, cast, exists, func, or_, select
from sqlalchemy.orm import Session

from patron.analytics.models import KpiTarget, MarketingSpend
from patron.analytics.schemas import KpiReport, KpiValue, Period, Trend, Unit
from patron.analytics.sqlfns import at, counted, days, net, orders, unindexed
from patron.core.errors import ValidationError
from patron.customers import service as customers_service
from patron.events import service as events_service
from patron.store import service as store_service

SESSION_GAP_DAYS = 30 / 1440  # 30 minutes of inactivity end a session
SESSION_EVENT_TYPES = ("page", "screen", "track")
MAX_PERIOD_DAYS = 3660
LONG_WINDOW = timedelta(days=120)


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: Unit
    higher_is_better: bool | None  # None: neither direction is better (spend)


METRICS: list[Metric] = [
    Metric("revenue", "Revenue (net)", Unit.MONEY, True),
    Metric("orders", "Orders", Unit.COUNT, True),
    Metric("aov", "Average order value", Unit.MONEY, True),
    Metric("customers", "Customers who ordered", Unit.COUNT, True),
    Metric("new_customers", "New customers", Unit.COUNT, True),
    Metric("returning_customers", "Returning customers", Unit.COUNT, True),
    Metric("new_customer_revenue", "Revenue from new customers", Unit.MONEY, True),
    Metric("returning_customer_revenue", "Revenue from returning customers", Unit.MONEY, True),
    Metric("returning_revenue_share", "Returning customers' share of revenue", Unit.RATIO, True),
    Metric("revenue_per_customer", "Revenue per customer", Unit.MONEY, True),
    Metric("purchase_frequency", "Purchase frequency (orders per customer)", Unit.NUMBER, True),
    Metric("repeat_purchase_rate", "Repeat purchase rate", Unit.RATIO, True),
    Metric("retention_rate", "Retention rate", Unit.RATIO, True),
    Metric("churn_rate", "Churn rate", Unit.RATIO, False),
    Metric("avg_days_between_orders", "Average time between orders", Unit.DAYS, False),
    Metric("historic_clv", "Historic customer lifetime value", Unit.MONEY, True),
    Metric("conversion_rate", "Conversion rate (sessions with an order)", Unit.RATIO, True),
    Metric("marketing_spend", "Marketing spend", Unit.MONEY, None),
    Metric("cac", "Customer acquisition cost", Unit.MONEY, False),
    Metric("roi", "Marketing ROI", Unit.RATIO, True),
    Metric("csat", "Customer satisfaction (CSAT)", Unit.RATIO, True),
    Metric("nps", "Net promoter score (NPS)", Unit.NUMBER, True),
]
BY_KEY = {m.key: m for m in METRICS}


class KpiFeed(Protocol):
    """A later domain's source for a KPI this domain cannot compute (CSAT and NPS from
    support surveys, ROI from campaign attribution). Returns None when it has no data."""

    def __call__(self, session: Session, *, start: datetime, end: datetime) -> float | None: ...


FEEDS: dict[str, KpiFeed] = {}
FEED_REASONS = {
    "csat": "no survey responses: CSAT is fed by support's satisfaction surveys (not built yet)",
    "nps": "no survey responses: NPS is fed by support's NPS surveys (not built yet)",
    "roi": "no attributed revenue: ROI is fed by campaign attribution (not built yet)",
}


def register_feed(metric: str, feed: KpiFeed) -> None:
    if metric not in FEED_REASONS:
        raise ValueError(f"{metric} is computed by analytics itself")
    FEEDS[metric] = feed


# --- periods ------------------------------------------------------------------------------


def store_zone(session: Session) -> tuple[str, ZoneInfo]:
    name = store_service.get_settings(session).timezone or "UTC"
    try:
        return name, ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC", ZoneInfo("UTC")


def period(session: Session, start: date, end: date) -> Period:
    """[start, end) as store-local midnights, with the same bounds in UTC."""
    if end <= start:
        raise ValidationError("to must be after from", field="to")
    if (end - start).days > MAX_PERIOD_DAYS:
        raise ValidationError(f"the period is longer than {MAX_PERIOD_DAYS} days", field="to")
    _, zone = store_zone(session)

    def utc(d: date) -> datetime:
        return datetime.combine(d, time(0), zone).astimezone(UTC)

    return Period(start=start, end=end, start_at=utc(start), end_at=utc(end))


def previous(session: Session, p: Period) -> Period:
    length = p.end - p.start
    return period(session, p.start - length, p.start)


# --- facts: one pass of aggregate queries per period -----------------------------------


@dataclass
class Facts:
    orders_all: int = 0
    revenue_all: int = 0
    buyers: int = 0
    orders_id: int = 0
    revenue_id: int = 0
    new_buyers: int = 0
    new_revenue: int = 0
    new_repeaters: int = 0
    gap_days: float = 0.0
    gaps: int = 0
    prev_buyers: int = 0
    retained: int = 0
    sessions: int = 0
    converted: int = 0
    cum_revenue: int = 0  # identified customers' net revenue of orders placed before end
    customers_to_date: int = 0  # customers whose first order is before end
    spend: Fraction | None = None
    feeds: dict[str, float | None] | None = None


def _window_facts(session: Session, before: Period, prev: Period, p: Period) -> tuple[Facts, Facts]:
    """Order facts of `prev` and `p` (and `before`, for retention) in one pass.

    One GROUP BY customer over the orders of [before.start, p.end) gives each customer's
    count, revenue, first and last order per period. The order preceding a period (for the
    gaps between orders) is the last one of the periods before it; only a customer with no
    order since before.start but one earlier costs an index probe (MATERIALIZED keeps it to
    one per customer).
    """
    o = orders()
    # Long windows read much of the table: a scan, not an index range (SQLite; ADR 14).
    long = p.end - before.start > LONG_WINDOW
    placed = unindexed(session, o.c.placed_at) if long else o.c.placed_at
    live = and_(counted(o), placed >= at(before.start_at), placed < at(p.end_at))
    windows = {
        "b": (before.start_at, before.end_at),
        "p": (prev.start_at, prev.end_at),
        "c": (p.start_at, p.end_at),
    }
    inside = {
        k: and_(o.c.placed_at >= at(a), o.c.placed_at < at(b)) for k, (a, b) in windows.items()
    }
    cur, old = Facts(), Facts()
    for f, key in ((cur, "c"), (old, "p")):
        n_all, rev_all = session.execute(
            select(func.count(), func.coalesce(func.sum(net(o)), 0)).where(live, inside[key])
        ).one()
        f.orders_all, f.revenue_all = int(n_all), int(rev_all)
    cols: list[Any] = [o.c.customer_id.label("cid")]
    for k in ("p", "c"):
        cols += [
            func.sum(case((inside[k], 1), else_=0)).label(f"n_{k}"),
            func.sum(case((inside[k], net(o)), else_=0)).label(f"rev_{k}"),
            func.min(case((inside[k], o.c.placed_at))).label(f"first_{k}"),
            func.max(case((inside[k], o.c.placed_at))).label(f"last_{k}"),
        ]
    cols += [
        func.sum(case((inside["b"], 1), else_=0)).label("n_b"),
        func.max(case((inside["b"], o.c.placed_at))).label("last_b"),
    ]
    who = unindexed(session, o.c.customer_id) if long else o.c.customer_id
    g = select(*cols).where(live, who.is_not(None)).group_by(o.c.customer_id)
    gs = g.subquery("g")
    c = customers_service.customers_table()
    o2 = orders().alias("o2")
    older = (
        select(func.max(o2.c.placed_at))
        .where(o2.c.customer_id == gs.c.cid, o2.c.status != "cancelled")
        .where(o2.c.placed_at < at(before.start_at))
        .scalar_subquery()
    )
    per = (
        select(
            gs,
            (c.c.first_order_at >= at(p.start_at)).label("new_c"),
            (c.c.first_order_at >= at(prev.start_at)).label("new_p"),
            case(
                (
                    and_(
                        gs.c.last_b.is_(None),
                        gs.c.n_p + gs.c.n_c > 0,
                        c.c.first_order_at < at(before.start_at),
                    ),
                    older,
                ),
            ).label("older"),
        )
        .select_from(gs.join(c, c.c.id == gs.c.cid))
        .cte("per")
        .prefix_with("MATERIALIZED")
    )
    one = func.coalesce
    sums: list[Any] = []
    for k, new, prev_order, earlier_n in (
        ("c", per.c.new_c, one(per.c.last_p, per.c.last_b, per.c.older), per.c.n_p),
        ("p", per.c.new_p, one(per.c.last_b, per.c.older), per.c.n_b),
    ):
        n = per.c[f"n_{k}"]
        rev = per.c[f"rev_{k}"]
        bought = n > 0
        is_new = and_(bought, new)
        gap = days(session, per.c[f"last_{k}"]) - days(
            session, one(prev_order, per.c[f"first_{k}"])
        )
        sums += [
            case((bought, 1), else_=0),
            n,
            rev,
            case((is_new, 1), else_=0),
            case((is_new, rev), else_=0),
            case((and_(is_new, n >= 2), 1), else_=0),
            case((bought, gap), else_=0),
            case((bought, n - case((prev_order.is_(None), 1), else_=0)), else_=0),
            case((earlier_n > 0, 1), else_=0),
            case((and_(earlier_n > 0, bought), 1), else_=0),
        ]
    row = session.execute(
        select(*[func.coalesce(func.sum(x), 0) for x in sums]).select_from(per)
    ).one()
    for f, part in ((cur, row[:10]), (old, row[10:])):
        (f.buyers, f.orders_id, f.revenue_id, f.new_buyers, f.new_revenue, f.new_repeaters) = (
            int(v) for v in part[:6]
        )
        f.gap_days, f.gaps = float(part[6]), int(part[7])
        f.prev_buyers, f.retained = int(part[8]), int(part[9])
    return cur, old


def _sessions(session: Session, p: Period, f: Facts) -> None:
    e = events_service.events_table()
    o = orders()
    ev = (
        select(
            e.c.customer_id,
            e.c.timestamp,
            func.lag(e.c.timestamp)
            .over(partition_by=e.c.customer_id, order_by=(e.c.timestamp, e.c.id))
            .label("prev"),
            e.c.id,
        )
        .where(e.c.timestamp >= at(p.start_at), e.c.timestamp < at(p.end_at))
        .where(e.c.type.in_(SESSION_EVENT_TYPES), e.c.customer_id.is_not(None))
        .subquery("ev")
    )
    starts = case(
        (
            or_(
                ev.c.prev.is_(None),
                days(session, ev.c.timestamp) - days(session, ev.c.prev) > SESSION_GAP_DAYS,
            ),
            1,
        ),
        else_=0,
    )
    numbered = select(
        ev.c.customer_id,
        ev.c.timestamp,
        func.sum(starts)
        .over(partition_by=ev.c.customer_id, order_by=(ev.c.timestamp, ev.c.id), rows=(None, 0))
        .label("sid"),
    ).subquery("numbered")
    sess = (
        select(
            numbered.c.customer_id,
            numbered.c.sid,
            func.min(numbered.c.timestamp).label("s_start"),
            func.max(numbered.c.timestamp).label("s_end"),
        )
        .group_by(numbered.c.customer_id, numbered.c.sid)
        .subquery("sess")
    )
    converted = exists(
        select(o.c.id).where(
            o.c.customer_id == sess.c.customer_id,
            counted(o),
            o.c.placed_at >= sess.c.s_start,
            days(session, o.c.placed_at) <= days(session, sess.c.s_end) + SESSION_GAP_DAYS,
        )
    )
    n, k = session.execute(
        select(func.count(), func.coalesce(func.sum(case((converted, 1), else_=0)), 0)).select_from(
            sess
        )
    ).one()
    f.sessions, f.converted = int(n), int(k)


def _month_start(d: date) -> date:
    return d.replace(day=1)


def _next_month(d: date) -> date:
    return (d.replace(day=28) + timedelta(days=4)).replace(day=1)


def spend_in(session: Session, p: Period, *, channel: str | None = None) -> Fraction | None:
    """Spend of the months the period overlaps, pro rata by days; None if none entered."""
    q = (
        select(MarketingSpend.month, func.sum(MarketingSpend.base_amount))
        .where(MarketingSpend.month >= _month_start(p.start), MarketingSpend.month < p.end)
        .group_by(MarketingSpend.month)
    )
    if channel is not None:
        q = q.where(MarketingSpend.channel == channel)
    rows = session.execute(q).all()
    if not rows:
        return None
    total = Fraction(0)
    for month, amount in rows:
        nxt = _next_month(month)
        overlap = (min(p.end, nxt) - max(p.start, month)).days
        if overlap > 0:
            total += Fraction(int(amount) * overlap, (nxt - month).days)
    return total


def facts(session: Session, p: Period, prev: Period, before: Period) -> tuple[Facts, Facts]:
    """All facts of `p` and of the previous period `prev` (`before` precedes `prev`)."""
    cur, old = _window_facts(session, before, prev, p)
    for f, q in ((cur, p), (old, prev)):
        _sessions(session, q, f)
        f.spend = spend_in(session, q)
        f.feeds = {k: feed(session, start=q.start_at, end=q.end_at) for k, feed in FEEDS.items()}
    return cur, old


def _to_date(session: Session, ends: list[datetime]) -> tuple[list[int], int]:
    """Customers with a first order before each of `ends`, and identified net revenue of
    orders placed before the latest of them.

    The revenue is the customers' lifetime `total_spent` (kept by the orders domain: net
    spend of counted orders) minus what was placed since: a scan of one row per customer
    and a short index range, instead of every order in the store's history.
    """
    c = customers_service.customers_table()
    live = and_(c.c.merged_into_id.is_(None), c.c.first_order_at.is_not(None))
    row = session.execute(
        select(
            func.coalesce(func.sum(c.c.total_spent), 0),
            *[func.coalesce(func.sum(cast(c.c.first_order_at < at(e), Integer)), 0) for e in ends],
        ).where(live)
    ).one()
    o = orders()
    since = session.scalar(
        select(func.coalesce(func.sum(net(o)), 0)).where(
            counted(o), o.c.customer_id.is_not(None), o.c.placed_at >= at(max(ends))
        )
    )
    return [int(v) for v in row[1:]], int(row[0]) - int(since or 0)


# --- values -------------------------------------------------------------------------------

Value = float | int | None


def _money(num: int | Fraction, den: int) -> int | None:
    return round(Fraction(num) / den) if den else None


def _ratio(num: float, den: float) -> float | None:
    return round(num / den, 6) if den else None


def values(f: Facts) -> dict[str, tuple[Value, str | None]]:
    """Metric -> (value, reason when the value is None)."""
    no_orders = "no orders in the period"
    no_buyers = "no identified customer ordered in the period"
    out: dict[str, tuple[Value, str | None]] = {}

    def put(key: str, value: Value, reason: str) -> None:
        out[key] = (value, None if value is not None else reason)

    returning = f.buyers - f.new_buyers
    returning_rev = f.revenue_id - f.new_revenue
    put("revenue", f.revenue_all, "")
    put("orders", f.orders_all, "")
    put("aov", _money(f.revenue_all, f.orders_all), no_orders)
    put("customers", f.buyers, "")
    put("new_customers", f.new_buyers, "")
    put("returning_customers", returning, "")
    put("new_customer_revenue", f.new_revenue, "")
    put("returning_customer_revenue", returning_rev, "")
    put("returning_revenue_share", _ratio(returning_rev, f.revenue_id), no_buyers)
    put("revenue_per_customer", _money(f.revenue_id, f.buyers), no_buyers)
    freq = round(f.orders_id / f.buyers, 4) if f.buyers else None
    put("purchase_frequency", freq, no_buyers)
    put("repeat_purchase_rate", _ratio(returning + f.new_repeaters, f.buyers), no_buyers)
    no_prev = "no customer ordered in the previous period"
    retention = _ratio(f.retained, f.prev_buyers)
    put("retention_rate", retention, no_prev)
    put("churn_rate", round(1 - retention, 6) if retention is not None else None, no_prev)
    gap = round(f.gap_days / f.gaps, 2) if f.gaps else None
    put("avg_days_between_orders", gap, "no customer ordered twice by the end of the period")
    put("historic_clv", _money(f.cum_revenue, f.customers_to_date), "no customers with orders")
    put(
        "conversion_rate",
        _ratio(f.converted, f.sessions),
        "no tracked sessions (page, screen or track events) in the period",
    )
    no_spend = "no marketing spend entered for the months of the period"
    put("marketing_spend", round(f.spend) if f.spend is not None else None, no_spend)
    if f.spend is None:
        out["cac"] = (None, no_spend)
    else:
        put("cac", _money(f.spend, f.new_buyers), "no new customers in the period")
    feeds = f.feeds or {}
    for key, reason in FEED_REASONS.items():
        v = feeds.get(key)
        out[key] = (round(v, 6) if v is not None else None, None if v is not None else reason)
    return out


def _trend(metric: Metric, value: Value, prev: Value) -> Trend:
    if value is None or prev is None:
        return Trend(delta=None, delta_pct=None, direction=None, good=None)
    delta: float | int = value - prev
    if isinstance(delta, float):
        delta = round(delta, 6)
    pct = round(delta / abs(prev), 4) if prev else None
    direction = "up" if delta > 0 else "down" if delta < 0 else "flat"
    good = None
    if direction != "flat" and metric.higher_is_better is not None:
        good = (direction == "up") == metric.higher_is_better
    return Trend(delta=delta, delta_pct=pct, direction=direction, good=good)


def targets(session: Session) -> dict[str, tuple[float | int, datetime]]:
    out: dict[str, tuple[float | int, datetime]] = {}
    for row in session.scalars(select(KpiTarget)):
        metric = BY_KEY.get(row.metric)
        if metric is None:
            continue
        out[row.metric] = (typed(metric, row.value), row.updated_at)
    return out


def typed(metric: Metric, text: str) -> float | int:
    if metric.unit in (Unit.MONEY, Unit.COUNT):
        return int(Fraction(text))
    return float(text)


def report(
    session: Session, *, start: date, end: date, only: Callable[[str], bool] | None = None
) -> KpiReport:
    p = period(session, start, end)
    prev = previous(session, p)
    before = previous(session, prev)
    cur_f, prev_f = facts(session, p, prev, before)
    (to_end, to_start), cum = _to_date(session, [p.end_at, p.start_at])
    cur_f.cum_revenue, cur_f.customers_to_date = cum, to_end
    prev_f.cum_revenue, prev_f.customers_to_date = cum - cur_f.revenue_id, to_start
    cur, old = values(cur_f), values(prev_f)
    goals = targets(session)
    kpis: list[KpiValue] = []
    for metric in METRICS:
        if only is not None and not only(metric.key):
            continue
        value, reason = cur[metric.key]
        target = goals.get(metric.key, (None, None))[0]
        met = None
        if target is not None and value is not None and metric.higher_is_better is not None:
            met = value >= target if metric.higher_is_better else value <= target
        kpis.append(
            KpiValue(
                metric=metric.key,
                label=metric.label,
                unit=metric.unit,
                value=value,
                previous=old[metric.key][0],
                trend=_trend(metric, value, old[metric.key][0]),
                target=target,
                target_met=met,
                higher_is_better=metric.higher_is_better,
                reason=reason,
            )
        )
    settings = store_service.get_settings(session)
    tz_name, _ = store_zone(session)
    return KpiReport(
        currency=settings.base_currency,
        timezone=tz_name,
        period=p,
        previous_period=prev,
        kpis=kpis,
    )
