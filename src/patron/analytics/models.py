"""RFM scores per customer, RFM runs, marketing spend, KPI targets, stored sessions.

Private to analytics: other domains read the RFM table through `service.rfm_table()`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from patron.db import Base, BigId, Json, UTCDateTime


class RfmScore(Base):
    """One row per customer with at least one counted order at the last RFM refresh.

    A snapshot rebuilt whole from `customers` by every refresh, so `customer_id` carries no
    foreign key: checking a million keys on insert cost a third of the refresh (ADR 14).
    """

    __tablename__ = "rfm_scores"
    __table_args__ = (Index("ix_rfm_scores_group", "rfm_group"),)

    customer_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    r_score: Mapped[int] = mapped_column(SmallInteger)  # 1..5, 5 = bought most recently
    f_score: Mapped[int] = mapped_column(SmallInteger)  # 1..5, 5 = most orders
    m_score: Mapped[int] = mapped_column(SmallInteger)  # 1..5, 5 = spent most
    rfm_group: Mapped[str] = mapped_column(String(24))  # champions, loyal, ... (RfmGroup)
    recency_days: Mapped[int] = mapped_column(Integer)  # whole days since the last order
    frequency: Mapped[int] = mapped_column(Integer)  # counted orders
    monetary: Mapped[int] = mapped_column(BigInteger)  # net spend, base-currency minor units
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RfmRun(Base):
    """One RFM refresh: when, how many customers, the quantile edges used."""

    __tablename__ = "rfm_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)
    customers: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    # {"recency_days": [...4 edges], "frequency": [...], "monetary": [...]}
    edges: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)


class MarketingSpend(Base):
    """Money spent on one acquisition channel in one calendar month (for CAC and ROI)."""

    __tablename__ = "marketing_spend"
    __table_args__ = (Index("uq_marketing_spend_channel_month", "channel", "month", unique=True),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    month: Mapped[date] = mapped_column(Date)  # first day of the month
    amount: Mapped[int] = mapped_column(BigInteger)  # minor units of `currency`
    currency: Mapped[str] = mapped_column(String(3))
    base_amount: Mapped[int] = mapped_column(BigInteger)  # in the base currency at entry
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class KpiTarget(Base):
    """The target of one KPI (rates as fractions, money in base-currency minor units)."""

    __tablename__ = "kpi_targets"

    metric: Mapped[str] = mapped_column(String(40), primary_key=True)
    # Decimal text: exact, portable (no float column), e.g. "0.35" or "125000".
    value: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReportSnapshot(Base):
    """The last computed copy of one report (the dashboard reads these; ADR 18).

    `key` names the report exactly: its kind, its parameters, and the store's timezone and
    base currency at computation (a settings change makes new keys, never a wrong reading).
    `label` is the caller's name for a moving report ("last_30"): when the exact report
    has no copy yet, the newest copy with the same kind and label is shown as stale.
    """

    __tablename__ = "report_snapshots"
    __table_args__ = (Index("ix_report_snapshots_label", "kind", "label", "computed_at"),)

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    label: Mapped[str | None] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    data: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    compute_ms: Mapped[int] = mapped_column(Integer, default=0)


class StoredSession(Base):
    """One session of a customer's tracked events (page, screen, track), whole history, kept
    by the job `analytics.sessions_refresh` (ADR 21): events of one customer by time, a gap
    of more than 30 minutes starts the next session; `converted` when a counted order of the
    customer falls in [started_at, ended_at + 30 minutes] (the KPI rule).

    Rebuilt per customer from the events as they are, so no foreign key (as rfm_scores).
    """

    __tablename__ = "analytics_sessions"
    __table_args__ = (
        # the KPI read: an index-only range of started_at
        Index("ix_analytics_sessions_started", "started_at", "customer_id", "converted_by"),
        # customers whose converting order was rewritten since (e.g. moved to another one)
        Index("ix_analytics_sessions_converted_by", "converted_by"),
    )

    customer_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime)
    events: Mapped[int] = mapped_column(Integer)
    # the lowest id of the orders that convert the session; null: not converted
    converted_by: Mapped[int | None] = mapped_column(BigId)


class SessionUpkeep(Base):
    """The one row of the stored sessions' state: every change stamped at or before
    `watermark` (events' stored_at, orders' updated_at, session marks) is in
    analytics_sessions; `longest_seconds` bounds any stored session's length (rounded up)."""

    __tablename__ = "analytics_session_upkeep"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    watermark: Mapped[datetime] = mapped_column(UTCDateTime)
    longest_seconds: Mapped[int] = mapped_column(BigInteger, default=0)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sessions: Mapped[int] = mapped_column(BigInteger, default=0)  # rows written last time
    customers: Mapped[int | None] = mapped_column(BigInteger)  # rebuilt last time; None: all
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)


class SessionMark(Base):
    """A customer whose sessions changed without a new event or order stamp (a merge or its
    undo moved events or orders): rebuilt by the next refresh, read live until then."""

    __tablename__ = "analytics_session_marks"
    __table_args__ = (Index("ix_analytics_session_marks_at", "marked_at"),)

    customer_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OrderDayFact(Base):
    """The order-day summary (ADR 25): counted orders grouped by their store-local placement
    day, the local day of the customer's previous counted order (null: none, or a guest)
    and whether a customer is known, with their net revenue and the exact sum of their gaps
    (milliseconds and the sub-millisecond rest in microseconds, as `sqlfns.elapsed`)."""

    __tablename__ = "analytics_order_days"
    __table_args__ = (Index("ix_analytics_order_days_day", "day", "prev_day"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    prev_day: Mapped[date | None] = mapped_column(Date)
    known: Mapped[int] = mapped_column(SmallInteger)  # 1: the order has a customer
    orders: Mapped[int] = mapped_column(BigInteger)
    revenue: Mapped[int] = mapped_column(BigInteger)
    gap_ms: Mapped[int] = mapped_column(BigInteger)
    gap_us: Mapped[int] = mapped_column(BigInteger)


class OrderDaysUpkeep(Base):
    """The one row of the order-day summary's state: the zone its days are in (another zone
    rebuilds it), how far a build under way has got, and when it was last refreshed."""

    __tablename__ = "analytics_order_days_upkeep"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    zone: Mapped[str] = mapped_column(String(64))
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)  # rows after the last refresh
    # a build under way (it runs in chunks of local days, each its own transaction): the
    # local days from this one on are not built yet; null: built
    built_to: Mapped[date | None] = mapped_column(Date)
