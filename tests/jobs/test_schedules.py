"""Recurring jobs: declared in code, due on time, enqueued once however many workers look."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from patron.core.errors import NotFound, ValidationError
from patron.jobs import service
from patron.jobs.schemas import JobStatus, ScheduleSpec

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
NIGHTLY = ScheduleSpec(name="rfm.nightly", kind="rfm.refresh", every_seconds=86400)
HOURLY = ScheduleSpec(name="seg.hourly", kind="seg.refresh", every_seconds=3600, payload={"a": 1})


def test_declared_schedules_are_due_at_once_and_then_every_interval(session: Session) -> None:
    service.ensure_schedules(session, specs=[NIGHTLY, HOURLY], now=T0)

    first = service.enqueue_due_schedules(session, now=T0)
    jobs = {j.id: (j.kind, j.payload, j.dedupe_key) for j in service.list_jobs(session).items}
    assert jobs == {
        first[0]: ("rfm.refresh", {}, "schedule:rfm.nightly"),
        first[1]: ("seg.refresh", {"a": 1}, "schedule:seg.hourly"),
    }
    # Not due again before the interval has passed
    assert service.enqueue_due_schedules(session, now=T0 + timedelta(minutes=59)) == []
    nxt = {s.name: s.next_run_at for s in service.list_schedules(session)}
    assert nxt == {"rfm.nightly": T0 + timedelta(days=1), "seg.hourly": T0 + timedelta(hours=1)}


def test_a_run_still_queued_is_not_queued_twice(session: Session) -> None:
    service.ensure_schedules(session, specs=[HOURLY], now=T0)
    [job_id] = service.enqueue_due_schedules(session, now=T0)

    # An hour later the first run has not been picked up yet: no second copy
    assert service.enqueue_due_schedules(session, now=T0 + timedelta(hours=1)) == []
    # Once it is done, the next due run is enqueued
    (claimed,) = service.claim(session, worker_id="w", now=T0 + timedelta(hours=1))
    assert claimed.id == job_id
    assert service.complete(session, job=claimed, worker_id="w", now=T0 + timedelta(hours=1))
    later = service.enqueue_due_schedules(session, now=T0 + timedelta(hours=2))
    assert len(later) == 1
    assert service.get(session, job_id=later[0]).status is JobStatus.QUEUED


def test_missed_runs_are_not_replayed_one_by_one(session: Session) -> None:
    service.ensure_schedules(session, specs=[HOURLY], now=T0)
    service.update_schedule(session, name="seg.hourly", enabled=False)
    assert service.enqueue_due_schedules(session, now=T0) == []

    service.update_schedule(session, name="seg.hourly", enabled=True)
    created = service.enqueue_due_schedules(session, now=T0 + timedelta(hours=10))

    assert len(created) == 1
    [s] = service.list_schedules(session)
    assert s.next_run_at == T0 + timedelta(hours=11)


def test_redeclaring_keeps_state_and_operator_changes(session: Session) -> None:
    service.ensure_schedules(session, specs=[HOURLY], now=T0)
    service.update_schedule(session, name="seg.hourly", every_seconds=600)
    service.enqueue_due_schedules(session, now=T0)

    [s] = service.ensure_schedules(session, specs=[HOURLY], now=T0 + timedelta(hours=5))

    assert (s.every_seconds, s.next_run_at) == (600, T0 + timedelta(minutes=10))


def test_bad_schedule_changes_name_the_field(session: Session) -> None:
    with pytest.raises(NotFound) as missing:
        service.update_schedule(session, name="nope", enabled=False)
    assert missing.value.field == "name"
    service.ensure_schedules(session, specs=[HOURLY], now=T0)
    with pytest.raises(ValidationError) as bad:
        service.update_schedule(session, name="seg.hourly", every_seconds=0)
    assert bad.value.field == "every_seconds"
