"""Analytics over HTTP: KPIs, RFM, cohorts, breakdowns, marketing spend, targets; CSV.

Reading needs analytics:read (owner, marketer, analyst); entering spend and targets and
refreshing RFM need analytics:write (owner, marketer). Support has neither.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import PlainTextResponse

from patron.analytics import export, service
from patron.analytics.schemas import (
    BreakdownDimension,
    BreakdownReport,
    CohortReport,
    KpiReport,
    RfmGroup,
    RfmRefresh,
    RfmScorePage,
    RfmSummary,
    SpendRead,
    SpendUpsert,
    TargetRead,
    TargetSet,
)
from patron.auth.guards import Reader, Writer, require
from patron.auth.schemas import Permission, Principal
from patron.core.time import parse_date

router = APIRouter(prefix="/api/analytics", tags=["analytics"])
CanRead = Annotated[Principal, Depends(require(Permission.ANALYTICS_READ))]
CanWrite = Annotated[Principal, Depends(require(Permission.ANALYTICS_WRITE))]


class Format(StrEnum):
    JSON = "json"
    CSV = "csv"


def _csv(text: str, name: str) -> PlainTextResponse:
    return PlainTextResponse(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _dates(start: str, end: str) -> tuple[date, date]:
    return parse_date(start, field="from"), parse_date(end, field="to")


@router.get("/kpis", response_model=KpiReport)
def kpis(
    session: Reader,
    _: CanRead,
    start: str = Query(alias="from", description="YYYY-MM-DD, inclusive (store timezone)"),
    end: str = Query(alias="to", description="YYYY-MM-DD, exclusive"),
    format: Format = Format.JSON,
) -> KpiReport | Response:
    a, b = _dates(start, end)
    report = service.kpis(session, start=a, end=b)
    if format is Format.CSV:
        return _csv(export.kpis_csv(report), f"kpis-{start}-{end}")
    return report


@router.get("/rfm", response_model=RfmSummary)
def rfm(session: Reader, _: CanRead, format: Format = Format.JSON) -> RfmSummary | Response:
    summary = service.rfm_summary(session)
    if format is Format.CSV:
        return _csv(export.rfm_csv(summary), "rfm-groups")
    return summary


@router.post("/rfm/refresh", response_model=RfmRefresh)
def refresh_rfm(session: Writer, _: CanWrite) -> RfmRefresh:
    return service.refresh_rfm(session)


@router.get("/rfm/customers", response_model=RfmScorePage)
def rfm_customers(
    session: Reader,
    _: CanRead,
    group: RfmGroup | None = None,
    cursor: str | None = None,
    limit: int = Query(default=100, ge=1, le=5000),
    format: Format = Format.JSON,
) -> RfmScorePage | Response:
    page = service.rfm_scores(session, group=group, cursor=cursor, limit=limit)
    if format is Format.CSV:
        return _csv(export.scores_csv(page), f"rfm-{group.value if group else 'all'}")
    return page


@router.get("/cohorts", response_model=CohortReport)
def cohorts(
    session: Reader,
    _: CanRead,
    start: str | None = Query(default=None, alias="from", description="first cohort, YYYY-MM"),
    end: str | None = Query(default=None, alias="to", description="last cohort, YYYY-MM"),
    format: Format = Format.JSON,
) -> CohortReport | Response:
    report = service.cohorts(session, start=start, end=end)
    if format is Format.CSV:
        return _csv(export.cohorts_csv(report), f"cohorts-{report.start}-{report.end}")
    return report


@router.get("/breakdown", response_model=BreakdownReport)
def breakdown(
    session: Reader,
    _: CanRead,
    by: BreakdownDimension,
    start: str = Query(alias="from"),
    end: str = Query(alias="to"),
    format: Format = Format.JSON,
) -> BreakdownReport | Response:
    a, b = _dates(start, end)
    report = service.breakdown(session, dimension=by, start=a, end=b)
    if format is Format.CSV:
        return _csv(export.breakdown_csv(report), f"breakdown-{by.value}-{start}-{end}")
    return report


@router.get("/spend", response_model=list[SpendRead])
def list_spend(
    session: Reader,
    _: CanRead,
    start: str | None = Query(default=None, alias="from", description="YYYY-MM"),
    end: str | None = Query(default=None, alias="to", description="YYYY-MM, inclusive"),
) -> list[SpendRead]:
    return service.list_spend(session, start=start, end=end)


@router.put("/spend", response_model=SpendRead)
def set_spend(body: SpendUpsert, session: Writer, _: CanWrite) -> SpendRead:
    return service.set_spend(session, data=body)


@router.delete("/spend/{spend_id}", status_code=204)
def delete_spend(spend_id: int, session: Writer, _: CanWrite) -> Response:
    service.delete_spend(session, spend_id=spend_id)
    return Response(status_code=204)


@router.get("/targets", response_model=list[TargetRead])
def list_targets(session: Reader, _: CanRead) -> list[TargetRead]:
    return service.list_targets(session)


@router.put("/targets/{metric}", response_model=TargetRead)
def set_target(metric: str, body: TargetSet, session: Writer, _: CanWrite) -> TargetRead:
    return service.set_target(session, metric=metric, value=body.value)


@router.delete("/targets/{metric}", status_code=204)
def delete_target(metric: str, session: Writer, _: CanWrite) -> Response:
    service.delete_target(session, metric=metric)
    return Response(status_code=204)
