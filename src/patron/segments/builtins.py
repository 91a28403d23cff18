"""Built-in lifecycle segments, written in the segment language.

Thresholds come from the store's own data, computed in SQL: the purchase cycle is the
median number of days between a customer's consecutive (not cancelled) orders; "at risk"
and "lapsed" are multiples of it, "new" is one cycle; "high value" and "VIP" are spend
percentiles among buyers. Every factor is a setting (LifecycleSettings) with a default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core.money import to_major
from patron.customers import service as customers_service
from patron.orders import service as orders_service
from patron.orders.schemas import OrderStatus
from patron.segments.schemas import LifecycleSettings, Thresholds
from patron.store import service as store_service

FALLBACK_CYCLE_DAYS = 30.0  # only while the store has no customer with two orders


@dataclass(frozen=True, slots=True)
class Builtin:
    key: str
    name: str
    description: str


BUILTINS: tuple[Builtin, ...] = (
    Builtin("new", "New customers", "First order within one purchase cycle"),
    Builtin("repeat", "Repeat customers", "Two orders or more"),
    Builtin("one_time", "One-time buyers", "Exactly one order"),
    Builtin("high_value", "High-value customers", "Spent at least the high-value percentile"),
    Builtin("at_risk", "At risk", "No order in at-risk cycles, not yet lapsed"),
    Builtin("lapsed", "Inactive (lapsed)", "No order in lapsed cycles"),
    Builtin("cart_abandoners", "Cart abandoners", "Left a cart or checkout with items"),
    Builtin("vip", "VIP", "Top spenders with several orders, or tagged vip"),
)


def median_gap_days(session: Session) -> tuple[float | None, int]:
    """(median days between consecutive orders of the same customer, number of gaps)."""
    o = orders_service.orders_table().c
    prev = func.lag(o.placed_at).over(partition_by=o.customer_id, order_by=(o.placed_at, o.id))
    pairs = (
        select(o.placed_at.label("at"), prev.label("prev"))
        .where(o.customer_id.is_not(None), o.status != OrderStatus.CANCELLED.value)
        .subquery()
    )
    if session.get_bind().dialect.name == "postgresql":
        days = func.extract("epoch", pairs.c.at - pairs.c.prev) / 86400.0
    else:
        days = func.julianday(pairs.c.at) - func.julianday(pairs.c.prev)
    gaps = select(days.label("d")).where(pairs.c.prev.is_not(None)).subquery()
    n = int(session.scalar(select(func.count()).select_from(gaps)) or 0)
    if n == 0:
        return None, 0
    ordered = select(gaps.c.d).order_by(gaps.c.d)
    if n % 2:
        value = float(session.scalar(ordered.offset(n // 2).limit(1)) or 0)
    else:
        pair = [float(v) for v in session.scalars(ordered.offset(n // 2 - 1).limit(2))]
        value = sum(pair) / 2
    return value, n


def spend_percentile(session: Session, percentile: float) -> int:
    """The total_spent at `percentile` among customers with an order (nearest rank)."""
    c = customers_service.customers_table().c
    buyers = (c.orders_count > 0, c.merged_into_id.is_(None))
    n = int(session.scalar(select(func.count()).where(*buyers)) or 0)
    if n == 0:
        return 0
    rank = max(1, math.ceil(percentile / 100 * n))  # nearest-rank method
    value = session.scalar(
        select(c.total_spent).where(*buyers).order_by(c.total_spent).offset(rank - 1).limit(1)
    )
    return int(value or 0)


def _amount(minor: int, currency: str) -> str:
    return f"{to_major(minor, currency)} {currency}"


def thresholds(session: Session, settings: LifecycleSettings) -> Thresholds:
    currency = store_service.cached_settings(session).base_currency
    derived, gaps = median_gap_days(session)
    cycle = settings.purchase_cycle_days or derived or FALLBACK_CYCLE_DAYS
    new_days = max(1, math.ceil(cycle * settings.new_cycles))
    at_risk = max(1, math.ceil(cycle * settings.at_risk_cycles))
    lapsed = max(at_risk + 1, math.ceil(cycle * settings.lapsed_cycles))
    high = spend_percentile(session, settings.high_value_percentile)
    vip = spend_percentile(session, settings.vip_percentile)
    queries = {
        "new": f"orders_count >= 1 AND first_order_at >= -{new_days}d",
        "repeat": "orders_count >= 2",
        "one_time": "orders_count = 1",
        "high_value": f"orders_count >= 1 AND total_spent >= {_amount(high, currency)}",
        "at_risk": (
            f"orders_count >= 1 AND last_order_at < -{at_risk}d AND last_order_at >= -{lapsed}d"
        ),
        "lapsed": f"orders_count >= 1 AND last_order_at < -{lapsed}d",
        "cart_abandoners": (
            f"abandoned_cart(within = {settings.cart_window_days}d, "
            f"idle = {settings.cart_idle_hours}h)"
        ),
        "vip": (
            f"(orders_count >= {settings.vip_min_orders} AND total_spent >= "
            f'{_amount(vip, currency)}) OR tags CONTAINS "vip"'
        ),
    }
    return Thresholds(
        settings=settings,
        purchase_cycle_days=round(cycle, 2),
        derived_from_orders=gaps,
        new_days=new_days,
        at_risk_days=at_risk,
        lapsed_days=lapsed,
        high_value_min_spent=high,
        vip_min_spent=vip,
        currency=currency,
        queries=queries,
    )
