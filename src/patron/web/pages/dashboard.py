"""The dashboard at `/`: KPIs with trends, targets and sparklines, sales and customer charts,
the RFM grid, cohort retention and the largest segments, for a period the user picks.

The page itself is a frame that answers at once: every heavy report (the KPI table, its
sparklines, the RFM grid, the cohort heatmap, the charts' JSON) is a separate request made
by htmx (`hx-trigger="load"`) or by the chart script. Reports come from analytics' kept
snapshots (ADR 18): a fragment shows the last copy with its time and never computes a
heavy report itself; when the copy is missing or stale it queues the computation for the
worker and asks again every few seconds until the new copy is there. A report that is
cheap on this store is computed in the request instead.
A user whose role cannot read analytics (support) lands on /customers instead.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_skeleton
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from patron.analytics import service as analytics_service
from patron.analytics.schemas import (
    CohortReport,
    KpiReport,
    KpiValue,
    RfmGroup,
    RfmSummary,
    SeriesBucket,
    SeriesReport,
    Unit,
)
from patron.auth.schemas import Permission, WebUser
from patron.core.errors import ValidationError
from patron.core.money import exponent
from patron.db import unit_of_work
from patron.orders import service as orders_service
from patron.segments import service as segments_service
from patron.segments.schemas import SegmentRead
from patron.store import service as store_service
from patron.web import i18n
from patron.web.deps import ReadDb, page
from patron.web.labels import RFM_LABELS
from patron.web.templating import N_, SECURITY_HEADERS, activate_for, render

router = APIRouter()
CanRead = Annotated[WebUser, Depends(page(Permission.ANALYTICS_READ))]

SPARK_PERIODS = 6
TOP_SEGMENTS = 5
COHORT_MONTHS = 12

# --- periods ------------------------------------------------------------------------------

PRESETS: dict[str, str] = {
    "last_30": N_("Last 30 days"),
    "last_90": N_("Last 90 days"),
    "this_quarter": N_("This quarter"),
    "last_quarter": N_("Last quarter"),
    "ytd": N_("Year to date"),
    "custom": N_("Custom"),
}
DEFAULT_PRESET = "last_30"


@dataclass(frozen=True)
class Choice:
    """The period on screen: a preset or custom from/to (inclusive, store-local dates)."""

    preset: str
    start: date
    end: date  # exclusive

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def query(self) -> str:
        """The query string that reproduces this period (for fragments and charts)."""
        if self.preset == "custom":
            return urlencode(
                {
                    "period": "custom",
                    "from": self.start.isoformat(),
                    "to": self.last_day.isoformat(),
                }
            )
        return urlencode({"period": self.preset})


def _quarter_start(d: date) -> date:
    return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


def preset_bounds(preset: str, today: date) -> tuple[date, date]:
    """[start, end) of a preset on `today` (store-local): the periods end with today."""
    tomorrow = today + timedelta(days=1)
    if preset == "last_30":
        return today - timedelta(days=29), tomorrow
    if preset == "last_90":
        return today - timedelta(days=89), tomorrow
    if preset == "this_quarter":
        return _quarter_start(today), tomorrow
    if preset == "last_quarter":
        end = _quarter_start(today)
        return _quarter_start(end - timedelta(days=1)), end
    if preset == "ytd":
        return date(today.year, 1, 1), tomorrow
    raise ValidationError(f"unknown period {preset!r}", field="period")


def _date(text: str | None, field: str) -> date:
    try:
        return date.fromisoformat((text or "").strip())
    except ValueError:
        raise ValidationError("enter a date as YYYY-MM-DD", field=field) from None


MAX_DAYS = 3660


def choose(preset: str | None, start: str | None, end: str | None, today: date) -> Choice:
    """The period of the query string (`period`, `from`, `to`); ValidationError names the
    field. A from/to without a preset means custom."""
    preset = (preset or "").strip() or ("custom" if (start or end) else DEFAULT_PRESET)
    if preset not in PRESETS:
        raise ValidationError(f"unknown period {preset!r}", field="period")
    if preset != "custom":
        a, b = preset_bounds(preset, today)
        return Choice(preset, a, b)
    a, last = _date(start, "from"), _date(end, "to")
    if last < a:
        raise ValidationError("the end date is before the start date", field="to")
    if (last - a).days + 1 > MAX_DAYS:
        raise ValidationError(f"the period is longer than {MAX_DAYS} days", field="to")
    if a.year < 1900:
        raise ValidationError("enter a date after 1900", field="from")
    return Choice("custom", a, last + timedelta(days=1))


def _zone(session: Session) -> ZoneInfo:
    try:
        return ZoneInfo(store_service.cached_settings(session).timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def today_in_store(session: Session) -> date:
    return datetime.now(UTC).astimezone(_zone(session)).date()


# Error messages of the period form, as the page shows them (ValidationError text is English).
FIELD_ERRORS = {
    "period": N_("Choose one of the periods."),
    "from": N_("Enter a start date."),
    "to": N_("Enter an end date on or after the start date, at most ten years later."),
}

# --- reports: kept snapshots, computed by the worker when they are heavy (ADR 18) -----------


@dataclass(frozen=True)
class Got:
    """A report for a fragment, and where it came from (shown in Server-Timing):
    hit (a fresh snapshot), miss (computed in this request: cheap on this store),
    stale (an older snapshot, a new one is queued) or pending (none yet, queued)."""

    report: Any
    snapshot: analytics_service.Snapshot | None
    source: str

    @property
    def waiting(self) -> bool:
        return self.source in ("stale", "pending")


def get_report(
    session: Session, kind: str, params: dict[str, Any], label: str | None = None
) -> Got:
    """The report of `kind` for the fragment: never a heavy computation in the request."""
    snap = analytics_service.snapshot(session, kind=kind, params=params, label=label)
    if snap is not None and snap.fresh():
        return Got(snap.report, snap, "hit")
    cheap = analytics_service.snapshot_is_cheap(session, kind=kind)
    session.rollback()  # end the page's read before its own short write (they nest in tests)
    if cheap:
        with unit_of_work() as writer:
            made = analytics_service.refresh_snapshot(writer, kind=kind, params=params, label=label)
        return Got(made.report, made, "miss")
    with unit_of_work() as writer:
        analytics_service.request_snapshot(writer, kind=kind, params=params, label=label)
    if snap is not None:
        return Got(snap.report, snap, "stale")
    return Got(None, None, "pending")


def clear_cache() -> None:
    """Forget every kept report and the has-orders answer (tests; the next view computes)."""
    with unit_of_work() as writer:
        analytics_service.clear_snapshots(writer)
    _known_orders.clear()


def _kpi_report(session: Session, start: date, end: date, label: str | None) -> Got:
    return get_report(session, "kpis", {"start": start.isoformat(), "end": end.isoformat()}, label)


def _label(choice: Choice, suffix: str = "") -> str | None:
    """Moving presets keep showing yesterday's copy while today's is computed."""
    return None if choice.preset == "custom" else choice.preset + suffix


def _timed(response: Response, report_s: float, source: str) -> Response:
    """Server-Timing: how long getting the report took and where it came from; the whole
    request is the `app` entry."""
    value = f'report;dur={report_s * 1000:.1f};desc="{source}"'
    previous = response.headers.get("Server-Timing")
    response.headers["Server-Timing"] = f"{previous}, {value}" if previous else value
    return response


def as_of(got: Got) -> dict[str, Any]:
    """What the fragment says about the report's age (nothing when it is fresh)."""
    snap = got.snapshot
    return {
        "waiting": got.waiting,
        "computed_at": snap.computed_at if snap is not None else None,
        "other_period": snap is not None and not snap.exact,
    }


# --- formatting ---------------------------------------------------------------------------

METRIC_LABELS: dict[str, str] = {
    "revenue": N_("Revenue (net)"),
    "orders": N_("Orders"),
    "aov": N_("Average order value"),
    "customers": N_("Customers who ordered"),
    "new_customers": N_("New customers"),
    "returning_customers": N_("Returning customers"),
    "new_customer_revenue": N_("Revenue from new customers"),
    "returning_customer_revenue": N_("Revenue from returning customers"),
    "returning_revenue_share": N_("Returning customers' share of revenue"),
    "revenue_per_customer": N_("Revenue per customer"),
    "purchase_frequency": N_("Purchase frequency (orders per customer)"),
    "repeat_purchase_rate": N_("Repeat purchase rate"),
    "retention_rate": N_("Retention rate"),
    "churn_rate": N_("Churn rate"),
    "avg_days_between_orders": N_("Average time between orders"),
    "historic_clv": N_("Historic customer lifetime value"),
    "conversion_rate": N_("Conversion rate (sessions with an order)"),
    "marketing_spend": N_("Marketing spend"),
    "cac": N_("Customer acquisition cost"),
    "roi": N_("Marketing ROI"),
    "csat": N_("Customer satisfaction (CSAT)"),
    "nps": N_("Net promoter score (NPS)"),
}

# Why a KPI has no value, as analytics says it (English) -> the msgid the page shows.
REASONS = [
    N_("no orders in the period"),
    N_("no identified customer ordered in the period"),
    N_("no customer ordered in the previous period"),
    N_("no customer ordered twice by the end of the period"),
    N_("no customers with orders"),
    N_("no tracked sessions (page, screen or track events) in the period"),
    N_("no marketing spend entered for the months of the period"),
    N_("no new customers in the period"),
    N_("no survey responses: CSAT is fed by support's satisfaction surveys (not built yet)"),
    N_("no survey responses: NPS is fed by support's NPS surveys (not built yet)"),
    N_("no attributed revenue: ROI is fed by campaign attribution (not built yet)"),
]


TRENDS = {
    ("up", True): N_("Up, better"),
    ("up", False): N_("Up, worse"),
    ("up", None): N_("Up"),
    ("down", True): N_("Down, better"),
    ("down", False): N_("Down, worse"),
    ("down", None): N_("Down"),
    ("flat", None): N_("Unchanged"),
}
ARROWS = {"up": "\u25b2", "down": "\u25bc", "flat": "\u2192"}


def fmt(unit: Unit, value: float | int | None, currency: str) -> str:
    """A KPI value for people, by its unit, in the current locale."""
    if value is None:
        return "–"
    if unit is Unit.MONEY:
        return i18n.money(int(value), currency)
    if unit is Unit.RATIO:
        return i18n.percent(float(value), 1)
    if unit is Unit.COUNT:
        return i18n.number(int(value))
    if unit is Unit.DAYS:
        return i18n.gettext("%(days)s days") % {"days": i18n.number(value, 1)}
    return i18n.number(value, 2)


def _signed(text: str, negative: bool) -> str:
    return ("\u2212" if negative else "+") + text


def trend_text(k: KpiValue, currency: str) -> str:
    t = k.trend
    if t.delta is None:
        return ""
    if t.delta_pct is not None:
        return _signed(i18n.percent(abs(t.delta_pct), 1), t.delta_pct < 0)
    return _signed(fmt(k.unit, abs(t.delta), currency), t.delta < 0)


@dataclass
class KpiRow:
    metric: str
    label: str
    value: str
    previous: str
    reason: str | None
    trend: str
    arrow: str
    trend_label: str
    trend_class: str
    target: str
    target_met: bool | None


def kpi_rows(report: KpiReport) -> list[KpiRow]:
    cur = report.currency
    known = set(REASONS)
    rows = []
    for k in report.kpis:
        direction = k.trend.direction
        good = k.trend.good if direction != "flat" else None
        reason = None
        if k.value is None:
            reason = i18n.gettext(k.reason) if k.reason in known else (k.reason or "")
        rows.append(
            KpiRow(
                metric=k.metric,
                label=i18n.gettext(METRIC_LABELS.get(k.metric, k.label)),
                value=fmt(k.unit, k.value, cur),
                previous=fmt(k.unit, k.previous, cur),
                reason=reason,
                trend=trend_text(k, cur),
                arrow=ARROWS.get(direction or "", ""),
                trend_label=i18n.gettext(TRENDS[(direction, good)]) if direction else "",
                trend_class=(
                    "trend-good" if good is True else "trend-bad" if good is False else "trend-flat"
                ),
                target=fmt(k.unit, k.target, cur),
                target_met=k.target_met,
            )
        )
    return rows


def spark_periods(choice: Choice) -> list[tuple[date, date]]:
    """The starts of the reports that cover the last SPARK_PERIODS periods of the chosen
    length: each report gives its period and the one before (so 3 reports for 6)."""
    length = choice.end - choice.start
    return [
        (choice.start - length * k, choice.end - length * k) for k in range(0, SPARK_PERIODS, 2)
    ]


def day_label(d: date, bucket: SeriesBucket) -> str:
    skeleton = "yMMM" if bucket is SeriesBucket.MONTH else "MMMd"
    return str(format_skeleton(skeleton, d, locale=i18n.current()))


def month_label(text: str) -> str:
    year, month = (int(x) for x in text.split("-"))
    return str(format_skeleton("yMMM", date(year, month, 1), locale=i18n.current()))


def heat(value: float, top: float) -> int:
    """0..10: value as a share of the largest one."""
    if top <= 0 or value <= 0:
        return 0
    return max(1, min(10, round(10 * value / top)))


# --- the page -----------------------------------------------------------------------------


_known_orders: weakref.WeakSet[Any] = weakref.WeakSet()  # engines whose store has orders


def _has_orders(session: Session) -> bool:
    """Whether the store has any order; a yes is kept (stores do not lose their orders),
    a no is asked again on every view so the empty state goes as soon as data arrives."""
    bind = session.get_bind()
    if bind in _known_orders:
        return True
    found = orders_service.has_at_least(session, count=1)
    if found:
        _known_orders.add(bind)
    return found


def top_segments(session: Session) -> list[SegmentRead]:
    """The TOP_SEGMENTS largest segments by members (a store has tens, not millions)."""
    found: list[SegmentRead] = []
    cursor: str | None = None
    while True:
        page_ = segments_service.list(session, cursor=cursor, limit=200)
        found.extend(page_.items)
        cursor = page_.next_cursor
        if cursor is None:
            break
    found.sort(key=lambda s: (-s.member_count, s.name.lower()))
    return found[:TOP_SEGMENTS]


def _period_from_request(
    session: Session, preset: str | None, start: str | None, end: str | None
) -> tuple[Choice | None, dict[str, str]]:
    try:
        return choose(preset, start, end, today_in_store(session)), {}
    except ValidationError as exc:
        field = exc.field or "period"
        return None, {field: i18n.gettext(FIELD_ERRORS.get(field, FIELD_ERRORS["period"]))}


PeriodQ = Annotated[str | None, Query(alias="period", max_length=20)]
FromQ = Annotated[str | None, Query(alias="from", max_length=20)]
ToQ = Annotated[str | None, Query(alias="to", max_length=20)]


@router.get("/", include_in_schema=False)
def dashboard(
    request: Request,
    session: ReadDb,
    user: Annotated[WebUser, Depends(page())],
    preset: PeriodQ = None,
    start: FromQ = None,
    end: ToQ = None,
) -> Response:
    if not user.can(Permission.ANALYTICS_READ):  # the landing page: go where the role can
        target = "/customers" if user.can(Permission.CUSTOMERS_READ) else "/account"
        return RedirectResponse(target, status_code=303)
    activate_for(session, user, request)
    choice, errors = _period_from_request(session, preset, start, end)
    shown = choice or choose(None, None, None, today_in_store(session))
    context: dict[str, Any] = {
        "choice": choice,
        "shown": shown,
        "errors": {"period": "", "from": "", "to": "", **errors},
        "presets": PRESETS,
        "selected": (preset or "").strip() or shown.preset,
        "from_value": start if errors else shown.start.isoformat(),
        "to_value": end if errors else shown.last_day.isoformat(),
        "timezone": store_service.cached_settings(session).timezone,
        "has_orders": _has_orders(session),
        "segments": top_segments(session) if user.can(Permission.SEGMENTS_READ) else None,
        "may_settings": user.can(Permission.SETTINGS),
    }
    status = 422 if errors else 200
    return render(
        request, "dashboard/page.html", context, user=user, session=session, status=status
    )


def _fragment_period(
    session: Session, preset: str | None, start: str | None, end: str | None
) -> Choice:
    return choose(preset, start, end, today_in_store(session))


@router.get("/dashboard/kpis", include_in_schema=False)
def kpi_fragment(
    request: Request,
    session: ReadDb,
    user: CanRead,
    preset: PeriodQ = None,
    start: FromQ = None,
    end: ToQ = None,
) -> Response:
    started = time.perf_counter()
    choice = _fragment_period(session, preset, start, end)
    got = _kpi_report(session, choice.start, choice.end, _label(choice))
    took = time.perf_counter() - started
    return _fragment(
        request, session, user, got, took, "kpis",
        lambda r: {"rows": kpi_rows(r), "report": r}, choice=choice,
    )  # fmt: skip


def _fragment(
    request: Request,
    session: Session,
    user: WebUser,
    got: Got,
    took: float,
    target: str,
    build: Callable[[Any], dict[str, Any]],
    **extra: Any,
) -> Response:
    """The fragment `dashboard/_<target>.html` of a report (`build` makes its context), or
    the placeholder that asks again while the worker computes it."""
    activate_for(session, user, request)
    context: dict[str, Any] = {"poll": _self(request), "target": target, **as_of(got), **extra}
    template = "dashboard/_pending.html"
    if got.report is not None:
        template = f"dashboard/_{target}.html"
        context |= build(got.report)
    response = render(request, template, context, user=user, session=session)
    return _timed(response, took, got.source)


def _self(request: Request) -> str:
    """This fragment's own URL, for a pending or stale one to ask again."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


@router.get("/dashboard/sparklines", include_in_schema=False)
def spark_fragment(
    request: Request,
    session: ReadDb,
    user: CanRead,
    preset: PeriodQ = None,
    start: FromQ = None,
    end: ToQ = None,
) -> Response:
    """Out-of-band swaps, one per KPI row: the metric over the last 6 periods. While a
    report of them is still being computed, the poller asks again."""
    started = time.perf_counter()
    choice = _fragment_period(session, preset, start, end)
    gots = [
        _kpi_report(session, a, b, _label(choice, f"~{k}"))
        for k, (a, b) in enumerate(spark_periods(choice))
    ]
    took = time.perf_counter() - started
    activate_for(session, user, request)
    sources = {g.source for g in gots}
    source = next((s for s in ("pending", "stale", "miss") if s in sources), "hit")
    waiting = any(g.waiting for g in gots)
    reports = [g.report for g in reversed(gots) if g.report is not None]  # oldest first
    sparks = _sparks(reports) if len(reports) == len(gots) else []
    context = {"sparks": sparks, "waiting": waiting, "poll": _self(request)}
    response = render(request, "dashboard/_sparks.html", context, user=user, session=session)
    return _timed(response, took, source)


def _sparks(reports: list[KpiReport]) -> list[dict[str, Any]]:
    latest = reports[-1]
    sparks = []
    by_metric = [{k.metric: k for k in r.kpis} for r in reports]
    for k in latest.kpis:
        values: list[float | int | None] = []
        for r in by_metric:
            old = r.get(k.metric)
            values += [old.previous, old.value] if old else [None, None]
        shown = [v for v in values if v is not None]
        text = ", ".join(fmt(k.unit, v, latest.currency) for v in values)
        sparks.append(
            {
                "metric": k.metric,
                "data": ",".join(_plain(v) for v in shown),
                "drawable": len(shown) >= 2,
                "label": i18n.gettext("Last %(n)s periods: %(values)s")
                % {"n": SPARK_PERIODS, "values": text},
            }
        )
    return sparks


def _plain(v: float | int) -> str:
    return str(int(v)) if isinstance(v, int) or float(v).is_integer() else repr(float(v))


@router.get("/dashboard/rfm", include_in_schema=False)
def rfm_fragment(request: Request, session: ReadDb, user: CanRead) -> Response:
    started = time.perf_counter()
    got = get_report(session, "rfm", {})
    took = time.perf_counter() - started
    build = lambda r: {"cells": rfm_cells(r), "summary": r}  # noqa: E731
    return _fragment(request, session, user, got, took, "rfm", build)


def rfm_cells(summary: RfmSummary) -> list[dict[str, Any]]:
    top = max((g.customers for g in summary.groups if g.group is not RfmGroup.PROSPECTS), default=0)
    return [
        {
            "key": g.group.value,
            "label": i18n.gettext(RFM_LABELS[g.group]),
            "customers": g.customers,
            "customer_share": g.customer_share,
            "revenue": g.revenue,
            "revenue_share": g.revenue_share,
            "heat": 0 if g.group is RfmGroup.PROSPECTS else heat(g.customers, top),
            "prospects": g.group is RfmGroup.PROSPECTS,
        }
        for g in summary.groups
    ]


@router.get("/dashboard/cohorts", include_in_schema=False)
def cohort_fragment(request: Request, session: ReadDb, user: CanRead) -> Response:
    started = time.perf_counter()
    got = get_report(session, "cohorts", {})
    took = time.perf_counter() - started
    build = lambda r: {"rows": cohort_rows(r), "months": list(range(COHORT_MONTHS))}  # noqa: E731
    return _fragment(request, session, user, got, took, "cohorts", build)


def cohort_rows(report: CohortReport) -> list[dict[str, Any]]:
    """Newest cohort first; month 0 is always 100 %, later months are shaded against the
    best retention of any later month."""
    later = [r for c in report.cohorts for r in c.retention[1:COHORT_MONTHS]]
    top = max(later, default=0.0)
    rows = []
    for c in reversed(report.cohorts):
        cells = []
        for k, ratio in enumerate(c.retention[:COHORT_MONTHS]):
            level = (10 if c.customers else 0) if k == 0 else heat(ratio, top)
            cells.append({"ratio": ratio, "active": c.active[k], "heat": level})
        rows.append(
            {"cohort": c.cohort, "label": month_label(c.cohort), "customers": c.customers,
             "cells": cells}
        )  # fmt: skip
    return rows


# --- charts (Chart.js configurations) -----------------------------------------------------


def _major(minor: int, currency: str) -> float:
    """Minor units as a number of major units, for a chart axis only (display, not money)."""
    return float(Decimal(minor).scaleb(-exponent(currency)))


def _chart(
    request: Request,
    session: Session,
    user: WebUser,
    period: tuple[str | None, str | None, str | None],
    build: Callable[[SeriesReport], dict[str, Any]],
) -> Response:
    """A chart's JSON from the period's series: the Chart.js configuration `build` makes,
    with `patron.state` telling the script to ask again (pending: nothing to draw yet;
    stale: draw, then fetch the newer copy); 202 while pending."""
    started = time.perf_counter()
    choice = _fragment_period(session, *period)
    params = {"start": choice.start.isoformat(), "end": choice.end.isoformat()}
    got = get_report(session, "series", params, _label(choice))
    took = time.perf_counter() - started
    activate_for(session, user, request)
    state = "pending" if got.report is None else "stale" if got.waiting else "ready"
    body = build(got.report) if got.report is not None else {}
    body["patron"] = {"state": state}
    status = 202 if got.report is None else 200
    response = JSONResponse(body, status_code=status, headers=dict(SECURITY_HEADERS))
    return _timed(response, took, got.source)


@router.get("/dashboard/charts/sales.json", include_in_schema=False)
def sales_chart(
    request: Request,
    session: ReadDb,
    user: CanRead,
    preset: PeriodQ = None,
    start: FromQ = None,
    end: ToQ = None,
) -> Response:
    """Net revenue (bars, left axis) and orders (line, right axis) per bucket."""
    return _chart(request, session, user, (preset, start, end), _sales)


def _sales(report: SeriesReport) -> dict[str, Any]:
    labels = [day_label(p.start, report.bucket) for p in report.points]
    revenue_axis = i18n.gettext("Revenue (%(currency)s)") % {"currency": report.currency}
    return {
        "type": "bar",
        "data": {
            "labels": labels,
            "datasets": [
                {
                    "type": "bar",
                    "label": revenue_axis,
                    "data": [_major(p.revenue, report.currency) for p in report.points],
                    "yAxisID": "y",
                    "order": 2,
                },
                {
                    "type": "line",
                    "label": i18n.gettext("Orders"),
                    "data": [p.orders for p in report.points],
                    "yAxisID": "y1",
                    "order": 1,
                    "tension": 0.25,
                    "pointRadius": 2,
                },
            ],
        },
        "options": {
            "interaction": {"mode": "index", "intersect": False},
            "scales": {
                "y": {"beginAtZero": True, "title": {"display": True, "text": revenue_axis}},
                "y1": {
                    "beginAtZero": True,
                    "position": "right",
                    "grid": {"drawOnChartArea": False},
                    "title": {"display": True, "text": i18n.gettext("Orders")},
                },
            },
        },
    }


@router.get("/dashboard/charts/customers.json", include_in_schema=False)
def customers_chart(
    request: Request,
    session: ReadDb,
    user: CanRead,
    preset: PeriodQ = None,
    start: FromQ = None,
    end: ToQ = None,
) -> Response:
    """New and returning customers per bucket, stacked."""
    return _chart(request, session, user, (preset, start, end), _customers)


def _customers(report: SeriesReport) -> dict[str, Any]:
    return {
        "type": "bar",
        "data": {
            "labels": [day_label(p.start, report.bucket) for p in report.points],
            "datasets": [
                {
                    "label": i18n.gettext("New customers"),
                    "data": [p.new_customers for p in report.points],
                },
                {
                    "label": i18n.gettext("Returning customers"),
                    "data": [p.returning_customers for p in report.points],
                },
            ],
        },
        "options": {
            "interaction": {"mode": "index", "intersect": False},
            "scales": {"x": {"stacked": True}, "y": {"stacked": True, "beginAtZero": True}},
        },
    }
