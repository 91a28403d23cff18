"""Analytics reports as CSV and as table rows (shared by the API and the CLI)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from patron.analytics.schemas import (
    BreakdownReport,
    CohortReport,
    KpiReport,
    KpiValue,
    RfmScorePage,
    RfmSummary,
    Unit,
)
from patron.core.money import exponent

Cell = str | int | float | None


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()


def show(value: float | int | None, unit: Unit, currency: str) -> str:
    """A human rendering: money in major units with the code, rates in percent."""
    if value is None:
        return "-"
    if unit is Unit.MONEY:
        exp = exponent(currency)
        return f"{value / 10**exp:,.{exp}f} {currency}"
    if unit is Unit.RATIO:
        return f"{value * 100:.1f}%"
    if unit is Unit.DAYS:
        return f"{value:.1f} d"
    if unit is Unit.COUNT:
        return f"{int(value):,}"
    return f"{value:,.2f}"


def trend_text(k: KpiValue, currency: str) -> str:
    t = k.trend
    if t.delta is None:
        return "-"
    arrow = {"up": "▲", "down": "▼"}.get(t.direction or "", "=")
    pct = f" ({t.delta_pct * 100:+.1f}%)" if t.delta_pct is not None else ""
    delta = show(abs(t.delta), k.unit, currency) if k.unit is not Unit.RATIO else None
    if k.unit is Unit.RATIO:
        delta = f"{abs(t.delta) * 100:.1f} pts"
    return f"{arrow} {delta}{pct}"


KPI_HEADER = [
    "metric", "label", "unit", "value", "previous", "delta", "delta_pct", "target",
    "target_met", "currency", "from", "to", "reason",
]  # fmt: skip


def kpi_rows(report: KpiReport) -> list[list[Cell]]:
    return [
        [
            k.metric,
            k.label,
            k.unit.value,
            k.value,
            k.previous,
            k.trend.delta,
            k.trend.delta_pct,
            k.target,
            None if k.target_met is None else str(k.target_met).lower(),
            report.currency,
            report.period.start.isoformat(),
            report.period.end.isoformat(),
            k.reason,
        ]  # fmt: skip
        for k in report.kpis
    ]


def kpis_csv(report: KpiReport) -> str:
    return to_csv(KPI_HEADER, kpi_rows(report))


RFM_HEADER = [
    "group", "label", "customers", "customer_share", "revenue", "revenue_share",
    "avg_recency_days", "avg_frequency", "avg_monetary", "currency",
]  # fmt: skip


def rfm_csv(summary: RfmSummary) -> str:
    return to_csv(
        RFM_HEADER,
        (
            [
                g.group.value,
                g.label,
                g.customers,
                g.customer_share,
                g.revenue,
                g.revenue_share,
                g.avg_recency_days,
                g.avg_frequency,
                g.avg_monetary,
                summary.currency,
            ]  # fmt: skip
            for g in summary.groups
        ),
    )


def scores_csv(page: RfmScorePage) -> str:
    return to_csv(
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
        ],  # fmt: skip
        (
            [
                s.customer_id,
                s.r_score,
                s.f_score,
                s.m_score,
                s.rfm_group.value,
                s.recency_days,
                s.frequency,
                s.monetary,
                s.computed_at.isoformat(),
            ]  # fmt: skip
            for s in page.items
        ),
    )


def cohorts_csv(report: CohortReport, *, measure: str = "retention") -> str:
    """One row per (cohort, month k): customers, active, retention, revenue, cumulative."""
    rows: list[list[Cell]] = []
    for c in report.cohorts:
        for k, active in enumerate(c.active):
            rows.append([c.cohort, k, c.customers, active, c.retention[k], c.revenue[k],
                         c.revenue_per_customer[k], report.currency])  # fmt: skip
    return to_csv(
        [
            "cohort",
            "month",
            "customers",
            "active",
            "retention",
            "revenue",
            "cumulative_revenue_per_customer",
            "currency",
        ],  # fmt: skip
        rows,
    )


def breakdown_csv(report: BreakdownReport) -> str:
    return to_csv(
        [
            report.dimension.value,
            "orders",
            "revenue",
            "revenue_share",
            "customers",
            "new_customers",
            "aov",
            "spend",
            "cac",
            "currency",
        ],  # fmt: skip
        (
            [
                r.key,
                r.orders,
                r.revenue,
                r.revenue_share,
                r.customers,
                r.new_customers,
                r.aov,
                r.spend,
                r.cac,
                report.currency,
            ]  # fmt: skip
            for r in report.rows
        ),
    )
