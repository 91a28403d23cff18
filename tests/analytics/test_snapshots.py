"""Kept report snapshots (ADR 18) on conftest's hand-built store, both backends.

Given the store, when a report is kept, read, requested from the worker or invalidated, then
the copy equals the live report, its freshness follows its cost, targets are today's, and
spend or settings changes never show a stale figure.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.analytics import service
from patron.analytics.models import ReportSnapshot
from patron.analytics.schemas import SpendUpsert
from patron.core.errors import ValidationError
from patron.core.time import utcnow
from patron.jobs import service as jobs_service
from patron.jobs import worker
from patron.jobs.models import Job
from patron.store import service as store_service
from patron.store.schemas import StoreSettings
from patron.wiring import wire
from tests.analytics.conftest import Q2, Store

Q2_PARAMS = {"start": Q2[0].isoformat(), "end": Q2[1].isoformat()}


def value(report, metric: str):  # type: ignore[no-untyped-def]
    return next(k for k in report.kpis if k.metric == metric).value


def test_a_kept_kpi_report_equals_the_live_one(session: Session, store: Store) -> None:
    made = service.refresh_snapshot(session, kind="kpis", params=Q2_PARAMS, label="q")
    got = service.snapshot(session, kind="kpis", params=Q2_PARAMS)
    assert got is not None
    assert got.exact is True
    assert got.fresh() is True
    assert got.report == service.kpis(session, start=Q2[0], end=Q2[1]) == made.report
    assert value(got.report, "revenue") == 44000
    assert got.key == 'kpis|{"end": "2026-07-01", "start": "2026-04-01"}|UTC|USD'


def test_each_kind_round_trips(session: Session, store: Store) -> None:
    service.refresh_rfm(session)  # keeps the RFM summary's copy too
    rfm = service.snapshot(session, kind="rfm", params={})
    assert rfm is not None
    assert rfm.report == service.rfm_summary(session)
    service.refresh_snapshot(session, kind="cohorts", params={"start": "2025-10", "end": "2026-06"})
    cohorts = service.snapshot(
        session, kind="cohorts", params={"start": "2025-10", "end": "2026-06"}
    )
    assert cohorts is not None
    assert cohorts.report == service.cohorts(session, start="2025-10", end="2026-06")
    service.refresh_snapshot(session, kind="series", params=Q2_PARAMS)
    series = service.snapshot(session, kind="series", params=Q2_PARAMS)
    assert series is not None
    assert series.report == service.series(session, start=Q2[0], end=Q2[1])
    assert session.scalar(select(func.count()).select_from(ReportSnapshot)) == 3


def test_freshness_grows_with_the_cost_of_the_report(session: Session, store: Store) -> None:
    made = service.refresh_snapshot(session, kind="kpis", params=Q2_PARAMS)
    now = utcnow()
    old = now - timedelta(seconds=61)
    # a cheap report is fresh for a minute ...
    row = session.get(ReportSnapshot, made.key)
    assert row is not None
    row.computed_at, row.compute_ms = old, 40
    session.flush()
    got = service.snapshot(session, kind="kpis", params=Q2_PARAMS)
    assert got is not None
    assert got.fresh(now) is False
    assert got.fresh_until == old + timedelta(seconds=60)
    # ... one that took 7 s for 70 s
    row.compute_ms = 7000
    session.flush()
    got = service.snapshot(session, kind="kpis", params=Q2_PARAMS)
    assert got is not None
    assert got.fresh(now) is True
    assert got.fresh_until == old + timedelta(seconds=70)


def test_targets_are_applied_when_read(session: Session, store: Store) -> None:
    service.refresh_snapshot(session, kind="kpis", params=Q2_PARAMS)
    service.set_target(session, metric="revenue", value=50000)
    got = service.snapshot(session, kind="kpis", params=Q2_PARAMS)
    assert got is not None
    revenue = next(k for k in got.report.kpis if k.metric == "revenue")
    assert (revenue.value, revenue.target, revenue.target_met) == (44000, 50000, False)


def test_spend_changes_drop_the_kpi_copies_only(session: Session, store: Store) -> None:
    service.refresh_snapshot(session, kind="kpis", params=Q2_PARAMS)
    service.refresh_snapshot(session, kind="series", params=Q2_PARAMS)
    spend = service.set_spend(
        session, data=SpendUpsert(channel="tiktok", month="2026-05", amount=9000)
    )
    assert service.snapshot(session, kind="kpis", params=Q2_PARAMS) is None
    assert service.snapshot(session, kind="series", params=Q2_PARAMS) is not None
    service.refresh_snapshot(session, kind="kpis", params=Q2_PARAMS)
    service.delete_spend(session, spend_id=spend.id)
    assert service.snapshot(session, kind="kpis", params=Q2_PARAMS) is None


def test_a_settings_change_never_shows_a_copy_made_under_other_settings(
    session: Session, store: Store
) -> None:
    service.refresh_snapshot(session, kind="kpis", params=Q2_PARAMS, label="this_quarter")
    current = store_service.get_settings(session)
    store_service.update_settings(
        session, settings=StoreSettings(**{**current.model_dump(), "timezone": "Asia/Jakarta"})
    )
    assert service.snapshot(session, kind="kpis", params=Q2_PARAMS) is None
    assert service.snapshot(session, kind="kpis", params=Q2_PARAMS, label="this_quarter") is None


def test_a_label_shows_the_newest_copy_of_a_moving_period(session: Session, store: Store) -> None:
    older = {"start": "2026-03-01", "end": "2026-06-01"}
    service.refresh_snapshot(session, kind="kpis", params=older, label="last_90")
    got = service.snapshot(session, kind="kpis", params=Q2_PARAMS, label="last_90")
    assert got is not None
    assert got.exact is False
    assert got.fresh() is False  # never fresh: it is another period
    assert got.report.period.start.isoformat() == "2026-03-01"
    assert service.snapshot(session, kind="kpis", params=Q2_PARAMS) is None
    assert service.snapshot(session, kind="kpis", params=Q2_PARAMS, label="last_30") is None


def test_the_worker_computes_a_requested_report_once(session: Session, store: Store) -> None:
    wire()  # the job handlers, as every process registers them
    first = service.request_snapshot(session, kind="kpis", params=Q2_PARAMS, label="q")
    second = service.request_snapshot(session, kind="kpis", params=Q2_PARAMS, label="q")
    assert first is not None
    assert second is None  # the live job's dedupe key is the snapshot's
    session.commit()
    (job,) = jobs_service.claim(session, worker_id="w1")
    assert job.kind == service.SNAPSHOT_JOB
    assert job.payload == {"kind": "kpis", "params": Q2_PARAMS, "label": "q"}
    session.commit()
    stats = worker.WorkerStats()
    worker.run_one(job, "w1", stats)
    assert stats.done == 1
    got = service.snapshot(session, kind="kpis", params=Q2_PARAMS)
    assert got is not None
    assert value(got.report, "revenue") == 44000
    statuses = session.scalars(select(Job.status).where(Job.kind == service.SNAPSHOT_JOB)).all()
    assert statuses == ["done"]
    # done: a later request queues a new computation
    assert service.request_snapshot(session, kind="kpis", params=Q2_PARAMS) is not None


def test_cheap_follows_the_last_computation_or_the_store_size(
    session: Session, store: Store
) -> None:
    assert service.snapshot_is_cheap(session, kind="kpis") is True  # 11 orders, never timed
    made = service.refresh_snapshot(session, kind="kpis", params=Q2_PARAMS)
    row = session.get(ReportSnapshot, made.key)
    assert row is not None
    row.compute_ms = 2500
    session.flush()
    assert service.snapshot_is_cheap(session, kind="kpis") is False
    assert service.snapshot_is_cheap(session, kind="series") is True


def test_bad_parameters_name_the_field(session: Session, store: Store) -> None:
    with pytest.raises(ValidationError) as bad_kind:
        service.snapshot(session, kind="weather", params={})
    assert bad_kind.value.field == "kind"
    with pytest.raises(ValidationError) as bad_dates:
        service.request_snapshot(session, kind="kpis", params={"start": "soon", "end": "later"})
    assert bad_dates.value.field == "params"
