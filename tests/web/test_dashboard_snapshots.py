"""The dashboard on a store where reports are heavy: fragments never compute them (ADR 18).

Given test_dashboard's store and a kept report of each kind that took 5 s (so this store
counts as heavy), when a fragment has no copy of its report it answers at once with a
placeholder that asks again, and one job for the worker; once the worker ran, the copy is
shown; an old copy is shown with its time while a new one is computed.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.analytics import service as analytics_service
from patron.analytics.models import ReportSnapshot
from patron.auth.schemas import Role
from patron.core.time import utcnow
from patron.jobs import service as jobs_service
from patron.jobs import worker
from patron.jobs.models import Job
from patron.wiring import wire
from tests.web.conftest import signed_in
from tests.web.test_dashboard import HX, _fresh_cache, cell, custom, seed  # noqa: F401 (autouse)

ELSEWHERE = {"start": "2020-01-01", "end": "2020-02-01"}


def heavy(session: Session, *kinds: str) -> None:
    """Keep a copy of each kind that took 5 s to compute: the store is now a big one."""
    for kind in kinds:
        params = {} if kind in ("rfm", "cohorts") else ELSEWHERE
        made = analytics_service.refresh_snapshot(session, kind=kind, params=params)
        row = session.get(ReportSnapshot, made.key)
        assert row is not None
        row.compute_ms = 5000
    session.commit()


def queued(session: Session) -> list[dict]:
    session.expire_all()
    return [
        j.payload
        for j in session.scalars(
            select(Job).where(Job.kind == analytics_service.SNAPSHOT_JOB, Job.status == "queued")
        )
    ]


def run_worker(session: Session) -> int:
    """What `patron worker` does with the queued snapshot jobs, in this process."""
    wire()  # the job handlers, as every process registers them
    jobs = jobs_service.claim(session, worker_id="w1", limit=10)
    session.commit()
    stats = worker.WorkerStats()
    for job in jobs:
        worker.run_one(job, "w1", stats)
    return stats.done


def test_a_missing_heavy_report_is_queued_and_shown_once_computed(browser, session):
    m, nxt = seed(session)
    heavy(session, "kpis")
    client = browser()
    signed_in(client, session, Role.ANALYST)
    url = "/dashboard/kpis?" + custom(m, nxt)
    first = client.get(url, headers=HX)
    assert first.status_code == 200
    assert 'desc="pending"' in first.headers["server-timing"]
    assert 'data-testid="report-pending"' in first.text
    assert 'data-testid="kpi-table"' not in first.text
    poll = url.replace("&", "&amp;")
    assert f'hx-get="{poll}" hx-trigger="load delay:3s" hx-target="#kpis"' in first.text
    params = {"start": m.isoformat(), "end": nxt.isoformat()}
    assert queued(session) == [{"kind": "kpis", "params": params, "label": None}]
    again = client.get(url, headers=HX)  # a second viewer queues nothing more
    assert 'desc="pending"' in again.headers["server-timing"]
    assert len(queued(session)) == 1
    assert run_worker(session) == 1
    ready = client.get(url, headers=HX)
    assert 'desc="hit"' in ready.headers["server-timing"]
    assert cell(ready.text, "kpi-value-revenue") == "$305.00"
    assert 'data-testid="report-stale"' not in ready.text
    assert 'hx-trigger="load delay:3s"' not in ready.text


def test_an_old_copy_is_shown_with_its_time_while_the_new_one_is_computed(browser, session):
    m, nxt = seed(session)
    heavy(session, "kpis")
    made = analytics_service.refresh_snapshot(
        session, kind="kpis", params={"start": m.isoformat(), "end": nxt.isoformat()}
    )
    row = session.get(ReportSnapshot, made.key)
    assert row is not None
    row.computed_at, row.compute_ms = utcnow() - timedelta(hours=2), 5000
    session.commit()
    client = browser()
    signed_in(client, session, Role.ANALYST)
    page = client.get("/dashboard/kpis?" + custom(m, nxt), headers=HX)
    assert 'desc="stale"' in page.headers["server-timing"]
    assert cell(page.text, "kpi-value-revenue") == "$305.00"
    assert 'data-testid="report-stale"' in page.text
    assert "Figures as of" in page.text
    assert 'hx-trigger="load delay:3s" hx-target="#kpis"' in page.text
    assert len(queued(session)) == 1


def test_a_moving_preset_shows_its_last_copy_of_another_day(browser, session):
    m, nxt = seed(session)
    heavy(session, "kpis")
    analytics_service.refresh_snapshot(
        session,
        kind="kpis",
        params={"start": m.isoformat(), "end": nxt.isoformat()},
        label="last_30",
    )
    session.commit()
    client = browser()
    signed_in(client, session, Role.ANALYST)
    page = client.get("/dashboard/kpis?period=last_30", headers=HX)
    assert 'desc="stale"' in page.headers["server-timing"]
    assert "Showing an earlier copy" in page.text
    assert cell(page.text, "kpi-value-revenue") == "$305.00"  # month M's figures, said so
    (payload,) = queued(session)
    assert payload["label"] == "last_30"


def test_charts_answer_202_until_their_series_is_computed(browser, session):
    m, nxt = seed(session)
    heavy(session, "series")
    client = browser()
    signed_in(client, session, Role.ANALYST)
    pending = client.get("/dashboard/charts/sales.json?" + custom(m, nxt))
    assert pending.status_code == 202
    assert pending.json() == {"patron": {"state": "pending"}}
    assert run_worker(session) == 1
    ready = client.get("/dashboard/charts/customers.json?" + custom(m, nxt))
    assert ready.status_code == 200
    body = ready.json()
    assert body["patron"] == {"state": "ready"}
    assert sum(body["data"]["datasets"][0]["data"]) == 1  # bob, new in M


def test_sparklines_poll_until_all_their_reports_are_there(browser, session):
    m, nxt = seed(session)
    heavy(session, "kpis")
    client = browser()
    signed_in(client, session, Role.ANALYST)
    url = "/dashboard/sparklines?" + custom(m, nxt)
    first = client.get(url, headers=HX)
    assert 'desc="pending"' in first.headers["server-timing"]
    assert "data-spark=" not in first.text
    assert 'id="spark-poller" hx-swap-oob="true"' in first.text
    assert len(queued(session)) == 3  # the reports behind six periods
    assert run_worker(session) == 3
    ready = client.get(url, headers=HX)
    assert 'desc="hit"' in ready.headers["server-timing"]
    assert 'data-testid="spark-revenue"' in ready.text
    assert "spark-poller" not in ready.text


def test_rfm_and_cohorts_wait_for_the_worker_too(browser, session):
    seed(session)
    row = ReportSnapshot(  # a copy under other settings that took 5 s: a heavy store
        key="cohorts|elsewhere",
        kind="cohorts",
        params={},
        data={},
        computed_at=utcnow(),
        compute_ms=5000,
    )
    session.add(row)
    session.commit()
    client = browser()
    signed_in(client, session, Role.ANALYST)
    page = client.get("/dashboard/cohorts", headers=HX)
    assert 'desc="pending"' in page.headers["server-timing"]
    assert 'hx-target="#cohorts"' in page.text
    assert queued(session) == [{"kind": "cohorts", "params": {}, "label": None}]
