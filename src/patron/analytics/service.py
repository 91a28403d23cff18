"""Analytics: RFM scores, KPIs, cohorts, breakdowns, marketing spend and KPI targets.

The public face of the domain; the work is in rfm.py, kpis.py and cohorts.py.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from patron.analytics import cohorts as _cohorts
from patron.analytics import kpis as _kpis
from patron.analytics import order_days as _order_days
from patron.analytics import rfm as _rfm
from patron.analytics import series as _series
from patron.analytics import sessions as _sessions
from patron.analytics import snapshots as _snapshots
from patron.analytics.models import KpiTarget, MarketingSpend, RfmScore
from patron.analytics.schemas import (
    BreakdownDimension,
    BreakdownReport,
    CohortReport,
    KpiReport,
    MetricInfo,
    RfmGroup,
    RfmRefresh,
    RfmScorePage,
    RfmSummary,
    SeriesBucket,
    SeriesReport,
    SpendRead,
    SpendUpsert,
    TargetRead,
    Unit,
)
from patron.core.errors import NotFound, ValidationError
from patron.core.money import normalize_currency
from patron.core.time import utcnow
from patron.db import table_of
from patron.jobs import service as jobs_service
from patron.store import service as store_service

RFM_REFRESH_JOB = "analytics.rfm_refresh"
SNAPSHOT_JOB = _snapshots.SNAPSHOT_JOB
Snapshot = _snapshots.Snapshot
RFM_REFRESH_EVERY_SECONDS = 24 * 3600
SESSIONS_REFRESH_JOB = "analytics.sessions_refresh"
SESSIONS_REFRESH_EVERY_SECONDS = 300
# a full rebuild once a day: whatever a writer changed without a stamp is in by then
SESSIONS_REBUILD_SCHEDULE = "analytics.sessions_rebuild"
SESSIONS_REBUILD_EVERY_SECONDS = 24 * 3600
SessionRefresh = _sessions.SessionRefresh
ORDER_DAYS_REFRESH_JOB = "analytics.order_days_refresh"
ORDER_DAYS_REFRESH_EVERY_SECONDS = 300
OrderDaysRefresh = _order_days.OrderDaysRefresh
ORDER_DAYS_CHUNK = _order_days.CHUNK_ORDERS
# Merge hook (customers' MergeHook port): stored sessions follow a merge and its undo.
MERGE_HOOKS = [_sessions.SessionsFollowCustomer()]
KpiFeed = _kpis.KpiFeed
METRIC_KEYS = [m.key for m in _kpis.METRICS]


def rfm_table() -> Table:
    """The per-customer RFM table (Core), for other domains' set-based SQL (segments).

    Columns: customer_id (PK), r_score, f_score, m_score (1..5), rfm_group (an RfmGroup
    value), recency_days, frequency, monetary (base-currency minor units), computed_at.
    Only customers with at least one counted order have a row; "prospects" (no orders) are
    the customers without one.
    """
    return table_of(RfmScore)


# --- RFM ----------------------------------------------------------------------------------


def refresh_rfm(session: Session, *, as_of: datetime | None = None) -> RfmRefresh:
    """Recompute every customer's RFM scores and group (set-based; replaces the table), and
    the kept copy of the RFM summary with them."""
    result = _rfm.refresh(session, as_of=as_of)
    _snapshots.refresh(session, kind="rfm", params={})
    return result


def enqueue_rfm_refresh(session: Session, *, run_at: datetime | None = None) -> int | None:
    """Queue one refresh for the worker (in the caller's transaction). The recurring one is
    the schedule `analytics.rfm_refresh` (daily by default; `patron jobs schedules`)."""
    return jobs_service.enqueue(  # one queued refresh at a time
        session, kind=RFM_REFRESH_JOB, payload={}, run_at=run_at, dedupe_key=RFM_REFRESH_JOB
    )


def refresh_order_days(
    session: Session, *, full: bool = False, chunk_orders: int = ORDER_DAYS_CHUNK
) -> OrderDaysRefresh:
    """One step of bringing the order-day summary (analytics_order_days, ADR 25) up to the
    orders: later runs rebuild the days the orders' triggers marked; a build (the first run,
    `full`, a zone change) goes in chunks of about `chunk_orders` orders of whole local
    days, and answers `more` while chunks remain: the boundary commits each one (a short
    transaction) and calls again, with `full` only the first time. A build stopped between
    chunks resumes at the next call. KPI reads are exact whether or not, or how far, this
    ran."""
    zone_name, zone = _kpis.store_zone(session)
    return _order_days.refresh(
        session, zone_name=zone_name, zone=zone, full=full, chunk_orders=chunk_orders
    )


def refresh_sessions(
    session: Session, *, now: datetime | None = None, full: bool = False
) -> SessionRefresh:
    """Bring the stored sessions (analytics_sessions, ADR 21) up to the events and orders
    written before `now` minus a margin: the first run builds them all, later ones rebuild
    the customers touched since. KPI reads are exact whether or not this ran."""
    return _sessions.refresh(session, now=now, full=full)


def rfm_group_of(*, r: int, f: int, m: int) -> RfmGroup:
    """The group of one (R, F, M) score triple (docs/analytics.md draws the grid)."""
    for name, v in (("r", r), ("f", f), ("m", m)):
        if not 1 <= v <= 5:
            raise ValidationError(f"{name} must be between 1 and 5", field=name)
    return _rfm.group_of(r, f, m)


def rfm_summary(session: Session) -> RfmSummary:
    """Customers and lifetime revenue per RFM group (prospects included) at the last
    refresh."""
    return _rfm.summary(session)


def rfm_scores(
    session: Session,
    *,
    group: RfmGroup | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> RfmScorePage:
    return _rfm.scores(session, group=group, cursor=cursor, limit=limit)


# --- KPIs, cohorts, breakdowns ------------------------------------------------------------


def kpis(session: Session, *, start: date, end: date) -> KpiReport:
    """Every KPI for [start, end) (store-local dates) with the previous period of the same
    length, the trend and the target."""
    return _kpis.report(session, start=start, end=end)


def series(
    session: Session, *, start: date, end: date, bucket: SeriesBucket | None = None
) -> SeriesReport:
    """Orders, net revenue and new vs returning customers per day, week or month of
    [start, end) (store-local dates; the bucket is chosen by the period's length if None)."""
    return _series.series(session, start=start, end=end, bucket=bucket)


# --- report snapshots (what the dashboard reads; ADR 18) -----------------------------------


def snapshot(
    session: Session, *, kind: str, params: dict[str, Any], label: str | None = None
) -> Snapshot | None:
    """The kept copy of a report (kind: kpis, series, cohorts, rfm), or with `label` the
    newest copy of that label (`exact` False); None if there is none."""
    return _snapshots.read(session, kind=kind, params=params, label=label)


def refresh_snapshot(
    session: Session, *, kind: str, params: dict[str, Any], label: str | None = None
) -> Snapshot:
    """Compute the report now and keep the copy."""
    return _snapshots.refresh(session, kind=kind, params=params, label=label)


def request_snapshot(
    session: Session, *, kind: str, params: dict[str, Any], label: str | None = None
) -> int | None:
    """Queue the report's computation for the worker (deduplicated by report)."""
    return _snapshots.request(session, kind=kind, params=params, label=label)


def snapshot_is_cheap(session: Session, *, kind: str) -> bool:
    """Whether this report is quick enough on this store to compute inside a request."""
    return _snapshots.cheap(session, kind=kind)


def clear_snapshots(session: Session, *, kinds: list[str] | None = None) -> int:
    return _snapshots.clear(session, kinds=kinds)


def register_kpi_feed(metric: str, feed: _kpis.KpiFeed) -> None:
    """Let a later domain feed CSAT, NPS or ROI (wired in patron.wiring)."""
    _kpis.register_feed(metric, feed)


def cohorts(session: Session, *, start: str | None = None, end: str | None = None) -> CohortReport:
    return _cohorts.cohorts(session, start=start, end=end)


def breakdown(
    session: Session, *, dimension: BreakdownDimension, start: date, end: date
) -> BreakdownReport:
    return _cohorts.breakdown(session, dimension=dimension, start=start, end=end)


def register_segment_membership(source: _cohorts.MembershipSource) -> None:
    """Let the segments domain supply (customer_id, key) membership rows for the breakdown
    by segment (wired in patron.wiring; analytics never imports segments)."""
    _cohorts.MEMBERSHIP_SOURCES[BreakdownDimension.SEGMENT] = source


# --- marketing spend ----------------------------------------------------------------------


def _month(text: str, field: str = "month") -> date:
    index = _cohorts.parse_month(text, field=field)
    return date(index // 12, index % 12 + 1, 1)


def set_spend(session: Session, *, data: SpendUpsert) -> SpendRead:
    """Enter (or replace) the spend of one channel in one month."""
    month = _month(data.month)
    settings = store_service.get_settings(session)
    currency = normalize_currency(data.currency or settings.base_currency)
    if currency != settings.base_currency and currency not in settings.fx_rates:
        raise ValidationError(
            f"no exchange rate for {currency} in the store settings", field="currency"
        )
    base = store_service.Converter(settings).to_base(data.amount, currency)
    now = utcnow()
    row = session.scalar(
        select(MarketingSpend).where(
            MarketingSpend.channel == data.channel, MarketingSpend.month == month
        )
    )
    if row is None:
        row = MarketingSpend(channel=data.channel, month=month, created_at=now)
        session.add(row)
    row.amount, row.currency, row.base_amount = data.amount, currency, base
    row.note, row.updated_at = data.note, now
    session.flush()
    _snapshots.clear(session, kinds=["kpis"])  # their spend, CAC and ROI changed
    return SpendRead.model_validate(row)


def list_spend(
    session: Session, *, start: str | None = None, end: str | None = None
) -> list[SpendRead]:
    q = select(MarketingSpend).order_by(MarketingSpend.month, MarketingSpend.channel)
    if start:
        q = q.where(MarketingSpend.month >= _month(start, "from"))
    if end:
        q = q.where(MarketingSpend.month <= _month(end, "to"))
    return [SpendRead.model_validate(r) for r in session.scalars(q)]


def delete_spend(session: Session, *, spend_id: int) -> None:
    row = session.get(MarketingSpend, spend_id)
    if row is None:
        raise NotFound(f"spend entry {spend_id} not found")
    session.delete(row)
    session.flush()
    _snapshots.clear(session, kinds=["kpis"])


# --- KPI targets --------------------------------------------------------------------------


def _metric(key: str) -> _kpis.Metric:
    metric = _kpis.BY_KEY.get(key)
    if metric is None:
        raise ValidationError(
            f"unknown metric {key!r}; one of: {', '.join(METRIC_KEYS)}", field="metric"
        )
    return metric


def list_metrics() -> list[MetricInfo]:
    """Every KPI in report order; those with `higher_is_better` None take no target."""
    return [
        MetricInfo(key=m.key, label=m.label, unit=m.unit, higher_is_better=m.higher_is_better)
        for m in _kpis.METRICS
    ]


def set_target(session: Session, *, metric: str, value: float) -> TargetRead:
    m = _metric(metric)
    if m.higher_is_better is None:
        raise ValidationError(f"{metric} has no direction, so no target", field="metric")
    if value != value or value in (float("inf"), float("-inf")):
        raise ValidationError("value must be a finite number", field="value")
    whole = m.unit in (Unit.MONEY, Unit.COUNT)
    if m.unit is Unit.RATIO and metric != "roi" and not 0 <= value <= 1:
        raise ValidationError("a rate target is a fraction between 0 and 1", field="value")
    if whole and value != int(value):
        raise ValidationError(f"{metric} is a whole number (minor units)", field="value")
    text = str(int(value)) if whole else repr(float(value))
    row = session.get(KpiTarget, metric)
    now = utcnow()
    if row is None:
        row = KpiTarget(metric=metric, value=text, updated_at=now)
        session.add(row)
    row.value, row.updated_at = text, now
    session.flush()
    return TargetRead(
        metric=metric, label=m.label, unit=m.unit, value=_kpis.typed(m, text), updated_at=now
    )


def list_targets(session: Session) -> list[TargetRead]:
    out = []
    for key, (value, updated) in sorted(_kpis.targets(session).items()):
        m = _kpis.BY_KEY[key]
        out.append(
            TargetRead(metric=key, label=m.label, unit=m.unit, value=value, updated_at=updated)
        )
    return out


def delete_target(session: Session, *, metric: str) -> None:
    _metric(metric)
    if session.execute(delete(KpiTarget).where(KpiTarget.metric == metric)).rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"no target for {metric}")
    session.flush()
