"""Reports kept as snapshots, so that a page never waits for a heavy report (ADR 18).

On a big store a report takes seconds (the KPI summary of a quarter at 1,000,000 customers
and 10,000,000 orders is about 20 s on two shared cores); a page must answer in well under
one. The dashboard therefore reads the last computed copy of each report from
`report_snapshots` and, when there is none or it has aged past its freshness, asks the
worker for a new one: a job whose dedupe key is the snapshot's key, so a hundred viewers
queue one computation. A report that is cheap on this store (the slowest of its last few
computations took under `INLINE_MS`, or the store is small and has none yet) is computed
in the request instead, and the copy is kept all the same.

Freshness grows with cost: a snapshot is fresh for max(`FRESH_SECONDS`, `COST_FACTOR` x
its computation time), so a report that takes 20 s is recomputed at most every 200 s per
key, and a small store's reports are at most a minute old. A stale copy is still shown
(with its time) while the new one is computed. The key holds the report's parameters and
the store's timezone and base currency, so a settings change never shows a report made
under other settings; marketing spend changes drop the KPI snapshots (their CAC is in
them); KPI targets are applied when a snapshot is read, so a new target shows at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from time import perf_counter
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from patron.analytics import cohorts as _cohorts
from patron.analytics import kpis as _kpis
from patron.analytics import rfm as _rfm
from patron.analytics import series as _series
from patron.analytics.models import ReportSnapshot
from patron.analytics.schemas import (
    CohortReport,
    KpiReport,
    RfmSummary,
    SeriesBucket,
    SeriesReport,
)
from patron.core.errors import ValidationError
from patron.core.time import utcnow
from patron.jobs import service as jobs_service
from patron.orders import service as orders_service
from patron.store import service as store_service

SNAPSHOT_JOB = "analytics.snapshot"
FRESH_SECONDS = 60.0
COST_FACTOR = 10.0
INLINE_MS = 250
CHEAP_SAMPLE = 5  # the slowest of the latest computations of a kind decides
SMALL_STORE_ORDERS = 100_000  # no timing yet: compute in the request below this many orders
KEEP_DAYS = 30  # snapshots not recomputed for this long are dropped by the next computation


@dataclass(frozen=True)
class Kind:
    schema: type[BaseModel]
    compute: Callable[[Session, dict[str, Any]], BaseModel]
    check: Callable[[dict[str, Any]], dict[str, Any]]


def _dates(params: dict[str, Any]) -> dict[str, Any]:
    try:
        start, end = date.fromisoformat(params["start"]), date.fromisoformat(params["end"])
    except (KeyError, TypeError, ValueError):
        raise ValidationError("start and end must be dates YYYY-MM-DD", field="params") from None
    out: dict[str, Any] = {"start": start.isoformat(), "end": end.isoformat()}
    if params.get("bucket") is not None:
        out["bucket"] = SeriesBucket(params["bucket"]).value
    return out


def _months(params: dict[str, Any]) -> dict[str, Any]:
    return {k: str(params[k]) for k in ("start", "end") if params.get(k) is not None}


def _none(params: dict[str, Any]) -> dict[str, Any]:
    return {}


def _kpi_report(session: Session, p: dict[str, Any]) -> BaseModel:
    return _kpis.report(
        session, start=date.fromisoformat(p["start"]), end=date.fromisoformat(p["end"])
    )


def _series_report(session: Session, p: dict[str, Any]) -> BaseModel:
    bucket = SeriesBucket(p["bucket"]) if p.get("bucket") else None
    return _series.series(
        session,
        start=date.fromisoformat(p["start"]),
        end=date.fromisoformat(p["end"]),
        bucket=bucket,
    )


def _cohort_report(session: Session, p: dict[str, Any]) -> BaseModel:
    return _cohorts.cohorts(session, start=p.get("start"), end=p.get("end"))


def _rfm_summary(session: Session, p: dict[str, Any]) -> BaseModel:
    return _rfm.summary(session)


KINDS: dict[str, Kind] = {
    "kpis": Kind(KpiReport, _kpi_report, _dates),
    "series": Kind(SeriesReport, _series_report, _dates),
    "cohorts": Kind(CohortReport, _cohort_report, _months),
    "rfm": Kind(RfmSummary, _rfm_summary, _none),
}


@dataclass(frozen=True)
class Snapshot:
    kind: str
    key: str
    report: Any  # the kind's schema
    computed_at: datetime
    compute_ms: int
    exact: bool  # False: the newest copy of the same label, for other parameters

    @property
    def fresh_until(self) -> datetime:
        seconds = max(FRESH_SECONDS, COST_FACTOR * self.compute_ms / 1000)
        return self.computed_at + timedelta(seconds=seconds)

    def fresh(self, now: datetime | None = None) -> bool:
        return self.exact and (now or utcnow()) < self.fresh_until


def _kind(kind: str) -> Kind:
    try:
        return KINDS[kind]
    except KeyError:
        raise ValidationError(f"unknown report kind {kind!r}", field="kind") from None


def key_of(session: Session, *, kind: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(key, normalised parameters) of a report under the store's current settings."""
    clean = _kind(kind).check(params)
    settings = store_service.cached_settings(session)
    key = "|".join(
        [kind, json.dumps(clean, sort_keys=True), settings.timezone, settings.base_currency]
    )
    return key, clean


def _loaded(session: Session, row: ReportSnapshot, exact: bool) -> Snapshot:
    report = _kind(row.kind).schema.model_validate(row.data)
    if isinstance(report, KpiReport):
        report = _kpis.with_targets(session, report)
    return Snapshot(row.kind, row.key, report, row.computed_at, row.compute_ms, exact)


def read(
    session: Session, *, kind: str, params: dict[str, Any], label: str | None = None
) -> Snapshot | None:
    """The snapshot of exactly this report, else (with a label) the newest one of that
    label computed under the same settings, marked not exact; None if neither exists."""
    key, _ = key_of(session, kind=kind, params=params)
    row = session.get(ReportSnapshot, key)
    if row is not None:
        return _loaded(session, row, True)
    if label is None:
        return None
    settings = store_service.cached_settings(session)
    suffix = f"|{settings.timezone}|{settings.base_currency}"
    for other in session.scalars(
        select(ReportSnapshot)
        .where(ReportSnapshot.kind == kind, ReportSnapshot.label == label)
        .order_by(ReportSnapshot.computed_at.desc())
        .limit(5)
    ):
        if other.key.endswith(suffix):
            return _loaded(session, other, False)
    return None


def compute(session: Session, *, kind: str, params: dict[str, Any]) -> tuple[BaseModel, int]:
    """(the report computed now, milliseconds it took)."""
    _, clean = key_of(session, kind=kind, params=params)
    started = perf_counter()
    report = _kind(kind).compute(session, clean)
    return report, max(0, round((perf_counter() - started) * 1000))


def save(
    session: Session,
    *,
    kind: str,
    params: dict[str, Any],
    report: BaseModel,
    compute_ms: int,
    label: str | None = None,
    computed_at: datetime | None = None,
) -> None:
    """Keep this copy (replacing the one of the same key); drops copies not recomputed
    for KEEP_DAYS."""
    key, clean = key_of(session, kind=kind, params=params)
    now = computed_at or utcnow()
    values = {
        "key": key,
        "kind": kind,
        "label": label,
        "params": clean,
        "data": report.model_dump(mode="json"),
        "computed_at": now,
        "compute_ms": compute_ms,
    }
    dialect = session.get_bind().dialect.name
    ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(ReportSnapshot).values(values)
    update = {k: ins.excluded[k] for k in ("label", "data", "computed_at", "compute_ms")}
    session.execute(ins.on_conflict_do_update(index_elements=["key"], set_=update))
    session.execute(
        delete(ReportSnapshot).where(ReportSnapshot.computed_at < now - timedelta(days=KEEP_DAYS))
    )
    session.flush()


def refresh(
    session: Session, *, kind: str, params: dict[str, Any], label: str | None = None
) -> Snapshot:
    """Compute the report now and keep it (the job's work)."""
    report, ms = compute(session, kind=kind, params=params)
    now = utcnow()
    save(session, kind=kind, params=params, report=report, compute_ms=ms, label=label,
         computed_at=now)  # fmt: skip
    key, _ = key_of(session, kind=kind, params=params)
    if isinstance(report, KpiReport):
        report = _kpis.with_targets(session, report)
    return Snapshot(kind, key, report, now, ms, True)


def request(
    session: Session, *, kind: str, params: dict[str, Any], label: str | None = None
) -> int | None:
    """Queue the computation of this report (once: the job's dedupe key is the snapshot's
    key while it is queued or running). Returns the new job's id, or None if one is live."""
    key, clean = key_of(session, kind=kind, params=params)
    return jobs_service.enqueue(
        session,
        kind=SNAPSHOT_JOB,
        payload={"kind": kind, "params": clean, "label": label},
        dedupe_key=f"snapshot:{key}"[:200],
        max_attempts=3,
    )


def cheap(session: Session, *, kind: str) -> bool:
    """Whether this kind of report is quick enough on this store to compute in a request:
    the slowest of its last CHEAP_SAMPLE computations took under INLINE_MS, or, never
    computed yet, the store has fewer than SMALL_STORE_ORDERS orders."""
    _kind(kind)
    recent = (
        select(ReportSnapshot.compute_ms)
        .where(ReportSnapshot.kind == kind)
        .order_by(ReportSnapshot.computed_at.desc())
        .limit(CHEAP_SAMPLE)
        .subquery()
    )
    slowest = session.scalar(select(func.max(recent.c.compute_ms)))
    if slowest is not None:
        return int(slowest) < INLINE_MS
    return not orders_service.has_at_least(session, count=SMALL_STORE_ORDERS)


def clear(session: Session, *, kinds: list[str] | None = None) -> int:
    """Drop snapshots (all, or of these kinds): the next view computes them again."""
    stmt = delete(ReportSnapshot)
    if kinds is not None:
        stmt = stmt.where(ReportSnapshot.kind.in_(kinds))
    result = session.execute(stmt)
    session.flush()
    return int(getattr(result, "rowcount", 0) or 0)
