"""Reads the store's history for the models: one SQL aggregation per source table.

Orders, carts and events are each grouped by (customer, UTC day) in the database, so a
million customers arrive as a few million small rows, never as ORM objects; NumPy does
the rest (`history.Days`, `engine.Activity`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import BigInteger, ColumnElement, and_, case, cast, func, literal_column, select
from sqlalchemy.orm import Session

from patron.events import service as events_service
from patron.orders import service as orders_service
from patron.predictive.engine import ACTIVITY_KINDS, Activity
from patron.predictive.history import Days


def _day(session: Session, column: Any) -> ColumnElement[Any]:
    """Days since 1970-01-01 (UTC) of a timestamp column, in SQL."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", column) / 86400), BigInteger)
    return cast(func.julianday(column) - literal_column("2440587.5"), BigInteger)


def _arrays(rows: list[Any], width: int) -> list[np.ndarray[Any, Any]]:
    """Columns of a result as float arrays (transposed as plain tuples: NumPy probing
    SQLAlchemy Row objects one by one costs ten times the query)."""
    if not rows:
        return [np.zeros(0, dtype=np.int64) for _ in range(width)]
    return [np.asarray(col, dtype=np.float64) for col in zip(*map(tuple, rows), strict=True)]


def purchase_days(session: Session) -> Days:
    """Counted orders (not cancelled, not fully refunded) with a customer, net of refunds
    in the base currency, merged per customer and UTC day."""
    o = orders_service.orders_table().c
    day = _day(session, o.placed_at).label("day")
    net = func.sum(o.base_total - o.base_refunded_total).label("net")
    stmt = (
        select(o.customer_id, day, net)
        .where(o.customer_id.is_not(None), o.status.not_in(["cancelled", "refunded"]))
        .group_by(o.customer_id, day)
    )
    cid, d, spend = _arrays(list(session.execute(stmt)), 3)
    return Days.build(cid.astype(np.int64), d.astype(np.int64), np.maximum(spend, 0.0))


def activity(session: Session, days: Days) -> Activity:
    """Browsing (page/screen views, Product Viewed) and carts (created, not converted) per
    customer and day, for the customers who have purchase days."""
    if days.n_customers == 0:
        return Activity.empty()
    e = events_service.events_table().c
    eday = _day(session, e.timestamp).label("day")
    kind = case(
        (e.type.in_(["page", "screen"]), 0),
        (and_(e.type == "track", e.name == "Product Viewed"), 1),
        else_=-1,
    ).label("kind")
    ev = _arrays(
        list(
            session.execute(
                select(e.customer_id, eday, kind, func.count())
                .where(e.customer_id.is_not(None))
                .group_by(e.customer_id, eday, kind)
            )
        ),
        4,
    )
    c = orders_service.carts_table().c
    cday = _day(session, c.created_at).label("day")
    abandoned = func.sum(case((c.status != "converted", 1), else_=0))
    ca = _arrays(
        list(
            session.execute(
                select(c.customer_id, cday, func.count(), abandoned)
                .where(c.customer_id.is_not(None))
                .group_by(c.customer_id, cday)
            )
        ),
        4,
    )
    cids = np.concatenate([ev[0], ca[0], ca[0]]).astype(np.int64)
    day = np.concatenate([ev[1], ca[1], ca[1]]).astype(np.int64)
    kinds = np.concatenate(
        [
            ev[2],
            np.full(len(ca[0]), ACTIVITY_KINDS.index("cart")),
            np.full(len(ca[0]), ACTIVITY_KINDS.index("cart_abandoned")),
        ]
    ).astype(np.int64)
    count = np.concatenate([ev[3], ca[2], ca[3]]).astype(np.float64)
    pos = np.searchsorted(days.customer_ids, cids)
    pos = np.clip(pos, 0, max(days.n_customers - 1, 0))
    keep = (kinds >= 0) & (days.customer_ids[pos] == cids) if len(cids) else kinds >= 0
    return Activity(pos[keep].astype(np.int64), day[keep], kinds[keep], count[keep])
