"""The store's KPIs for a period [start, end) next to the previous period of equal length.

Every figure is one aggregate query (or a few) over the period's orders, the customers'
first-order dates and the period's events; nothing loops over customers in Python. The
formulas are in docs/analytics.md; the metric keys below are the API's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    Integer,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from patron.analytics import order_days as _days
from patron.analytics import sessions as _stored
from patron.analytics.models import KpiTarget, MarketingSpend
from patron.analytics.schemas import KpiReport, KpiValue, Period, Trend, Unit
from patron.analytics.sqlfns import (
    at,
    counted,
    dialect,
    elapsed,
    net,
    orders,
    without_jit,
)
from patron.core.errors import ValidationError
from patron.customers import service as customers_service
from patron.store import service as store_service

MAX_PERIOD_DAYS = 3660
SESSION_GAP_DAYS = _stored.SESSION_GAP_DAYS
SESSION_EVENT_TYPES = _stored.SESSION_EVENT_TYPES


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
    return Period(
        start=start, end=end, start_at=_days.midnight(zone, start), end_at=_days.midnight(zone, end)
    )


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
    gap_seconds: Fraction = Fraction(0)  # exact total of the gaps, in seconds
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
    """Order facts of `prev` and `p` (and the buyers of `before`, for retention) without
    grouping by customer.

    Every counted order of a customer carries `prev_placed_at`, the placement of that
    customer's previous counted order (kept by the orders domain, ADR 16). A customer's first
    order in a period [a, b) is the one whose previous order is before a (or that has none);
    it was retained when that previous order is in the period before [a, b); every order
    with a previous one closes a gap. So each period's buyers, retention, gaps and their
    exact length (a customer's gaps add up to their last order minus the one before the
    period) are filtered sums: over the order-day summary's rows of the period's days (ADR
    25) where it is built, and over the orders themselves (one range of a covering index, no
    GROUP BY) for the days it has no current rows of. New customers (first order ever at or
    after a period's start, from the profile's first_order_at) are a join from the profile
    into their orders of the window.
    """
    zone_name, zone = store_zone(session)
    state = _days.stored(session, zone_name)
    cur, old, oldest = Facts(), Facts(), Facts()
    by_period = {2: cur, 1: old, 0: oldest}
    plan = ((2, p, prev.start, False), (1, prev, before.start, False), (0, before, None, True))
    live: list[LivePart] = []
    summed: list[Any] = []
    for w, q, earlier, buyers_only in plan:
        if state is None:
            live.append((w, [(q.start_at, q.end_at)], q.start, earlier, buyers_only))
            continue
        dirty = [d for d in state.dirty if q.start <= d < q.end]
        if dirty:
            live.append((w, _days.day_ranges(zone, dirty), q.start, earlier, buyers_only))
        summed.append(
            _days.period_sums(
                _days.facts_table(), w, q.start, q.end, earlier or q.start, dirty, buyers_only
            )  # fmt: skip
        )
    for rows in (_live_rows(session, live, zone) if live else [],
                 session.execute(union_all(*summed)) if summed else []):  # fmt: skip
        for w, n, rev, n_id, rev_id, buyers, retained, gaps, ms, us in rows:
            f = by_period[int(w)]
            f.orders_all += int(n or 0)
            f.revenue_all += int(rev or 0)
            f.orders_id += int(n_id or 0)
            f.revenue_id += int(rev_id or 0)
            f.buyers += int(buyers or 0)
            f.retained += int(retained or 0)
            f.gaps += int(gaps or 0)
            if isinstance(ms, timedelta):  # PostgreSQL's live rows: the interval sum
                f.gap_seconds += Fraction(ms // timedelta(microseconds=1), 10**6)
            else:
                f.gap_seconds += Fraction(int(ms or 0), 10**3) + Fraction(int(us or 0), 10**6)
    for f in (cur, old):
        f.gap_days = float(f.gap_seconds / 86400)
    cur.prev_buyers, old.prev_buyers = old.buyers, oldest.buyers
    _new_customers(session, prev, p, cur, old)
    return cur, old


# (w, UTC ranges of whole local days of one period, the period's start, the start of the
# period before it, buyers only)
LivePart = tuple[int, list[tuple[datetime, datetime]], date, date | None, bool]


def _live_rows(session: Session, parts: list[LivePart], zone: ZoneInfo) -> Any:
    """The window's facts read from the orders: one row of filtered sums per part, over its
    ranges (the covering index's ranges; bounds are constants)."""
    o = orders()
    had = o.c.prev_placed_at
    known = o.c.customer_id.is_not(None)
    gapped = and_(known, had.is_not(None))
    millis, micros = elapsed(session, had, o.c.placed_at)
    if dialect(session) == "postgresql":
        # interval sums are exact (days and microseconds) and cheaper than numeric epochs
        span: list[Any] = [func.sum(o.c.placed_at - had).filter(gapped), null()]
    else:
        span = [func.sum(millis).filter(gapped), func.sum(micros).filter(gapped)]
    selects: list[Any] = []
    for w, ranges, start, earlier, buyers_only in parts:
        start_at = _days.midnight(zone, start)
        inside = or_(*[and_(o.c.placed_at >= at(a), o.c.placed_at < at(b)) for a, b in ranges])
        first_in = and_(known, or_(had.is_(None), had < at(start_at)))
        if buyers_only:
            zero = [literal(0)] * 6
            selects.append(
                select(
                    literal(w), *zero[:4], func.count().filter(first_in), *zero[:2], null(), null()
                ).where(counted(o), inside)  # fmt: skip
            )
            continue
        assert earlier is not None
        selects.append(
            select(
                literal(w),
                func.count(),
                func.sum(net(o)),
                func.count().filter(known),
                func.sum(net(o)).filter(known),
                func.count().filter(first_in),
                func.count().filter(
                    and_(known, had >= at(_days.midnight(zone, earlier)), had < at(start_at))
                ),
                func.count().filter(gapped),
                *span,
            ).where(counted(o), inside)
        )
    statement: Any = selects[0]
    if len(selects) > 1:
        statement = union_all(*selects)
    return session.execute(statement)


def _new_customers(session: Session, prev: Period, p: Period, cur: Facts, old: Facts) -> None:
    """Buyers of a period whose first counted order is at or after its start, their revenue
    in it and how many of them ordered twice or more in it."""
    o = orders()
    sums_of: list[Any] = []
    for k, q in (("c", p), ("p", prev)):
        inside = and_(o.c.placed_at >= at(q.start_at), o.c.placed_at < at(q.end_at))
        sums_of += [
            func.sum(case((inside, 1), else_=0)).label(f"n_{k}"),
            func.sum(case((inside, net(o)), else_=0)).label(f"rev_{k}"),
        ]
    window = (counted(o), o.c.placed_at >= at(prev.start_at), o.c.placed_at < at(p.end_at))
    # A new customer's orders here are their first (no previous one) and later ones (the
    # previous one at or after their first, so in the window): the covering index drops
    # every other order before the join.
    theirs = or_(o.c.prev_placed_at.is_(None), o.c.prev_placed_at >= at(prev.start_at))
    c = customers_service.customers_table()
    per = (
        select(c.c.id, c.c.first_order_at, *sums_of)
        .select_from(c.join(o, o.c.customer_id == c.c.id))
        .where(c.c.first_order_at >= at(prev.start_at), theirs, *window)
        .group_by(c.c.id, c.c.first_order_at)
        .subquery("per")
    )
    sums: list[Any] = []
    for k, q in (("c", p), ("p", prev)):
        n = per.c[f"n_{k}"]
        new = and_(n > 0, per.c.first_order_at >= at(q.start_at))
        sums += [
            case((new, 1), else_=0),
            case((new, per.c[f"rev_{k}"]), else_=0),
            case((and_(new, n >= 2), 1), else_=0),
        ]
    row = session.execute(
        select(*[func.coalesce(func.sum(x), 0) for x in sums]).select_from(per)
    ).one()
    (cur.new_buyers, cur.new_revenue, cur.new_repeaters) = (int(v) for v in row[:3])
    (old.new_buyers, old.new_revenue, old.new_repeaters) = (int(v) for v in row[3:])


def _sessions(session: Session, periods: list[tuple[Period, Facts]]) -> None:
    """Sessions and converted sessions of each period (numbered per (customer, period):
    events of one period never join a session of another). From the stored sessions when
    they were built, numbered live for the customers they may not hold yet (ADR 21); from
    one read of the events otherwise. The same figures either way."""
    windows = [(q.start_at, q.end_at) for q, _ in periods]
    got = _stored.stored_counts(session, windows)
    if got is None:
        got = _stored.live_counts(session, windows)
    for (_, f), (n, k) in zip(periods, got, strict=True):
        f.sessions, f.converted = n, k


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
    _sessions(session, [(p, cur), (prev, old)])
    for f, q in ((cur, p), (old, prev)):
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


def _met(metric: Metric, value: Value, target: float | int | None) -> bool | None:
    if target is None or value is None or metric.higher_is_better is None:
        return None
    return value >= target if metric.higher_is_better else value <= target


def with_targets(session: Session, report: KpiReport) -> KpiReport:
    """The report with today's targets (a kept copy of a report shows a new target at once)."""
    goals = targets(session)
    kpis = []
    for k in report.kpis:
        metric = BY_KEY.get(k.metric)
        target = goals.get(k.metric, (None, None))[0]
        met = _met(metric, k.value, target) if metric is not None else None
        kpis.append(k.model_copy(update={"target": target, "target_met": met}))
    return report.model_copy(update={"kpis": kpis})


def report(
    session: Session, *, start: date, end: date, only: Callable[[str], bool] | None = None
) -> KpiReport:
    p = period(session, start, end)
    prev = previous(session, p)
    before = previous(session, prev)
    with without_jit(session):
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
        met = _met(metric, value, target)
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
