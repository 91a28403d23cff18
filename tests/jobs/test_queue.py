"""The job queue's state machine on real storage: outbox, dedupe, claim, backoff, dead, retry."""

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.core.errors import Conflict
from patron.db import unit_of_work
from patron.jobs import service
from patron.jobs.schemas import JobStatus

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_a_job_exists_only_if_its_cause_commits(session: Session) -> None:
    # Given a unit of work that enqueues and then fails
    def failing_change() -> None:
        with unit_of_work() as uow:
            service.enqueue(uow, kind="mail.send", payload={"to": 1})
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    # and one that commits
    with unit_of_work() as uow:
        kept = service.enqueue(uow, kind="mail.send", payload={"to": 2})
    # Then only the committed job is there
    page = service.list_jobs(session)
    assert [(j.id, j.payload) for j in page.items] == [(kept, {"to": 2})]


def test_a_live_dedupe_key_is_enqueued_once_and_freed_when_done(session: Session) -> None:
    first = service.enqueue(session, kind="k", payload={}, dedupe_key="refresh:7", run_at=T0)
    assert service.enqueue(session, kind="k", payload={}, dedupe_key="refresh:7") is None
    (job,) = service.claim(session, worker_id="w1", now=T0)
    assert job.id == first
    assert service.complete(session, job=job, worker_id="w1", now=T0) is True
    again = service.enqueue(session, kind="k", payload={}, dedupe_key="refresh:7")
    assert again is not None
    assert again != first


def test_claim_takes_due_jobs_oldest_first_and_only_of_the_kinds_asked(session: Session) -> None:
    a = service.enqueue(session, kind="a", payload={"n": 1}, run_at=T0)
    b = service.enqueue(session, kind="b", payload={"n": 2}, run_at=T0 - timedelta(seconds=5))
    service.enqueue(session, kind="a", payload={"n": 3}, run_at=T0 + timedelta(minutes=1))
    got = service.claim(session, worker_id="w1", limit=10, now=T0)
    assert [(j.id, j.kind, j.attempt) for j in got] == [(a, "a", 1), (b, "b", 1)]
    assert service.claim(session, worker_id="w2", kinds=["a"], now=T0) == []
    later = service.claim(session, worker_id="w2", kinds=["a"], now=T0 + timedelta(minutes=2))
    assert [j.payload for j in later] == [{"n": 3}]


def test_failures_back_off_then_die_and_a_dead_job_can_be_retried(session: Session) -> None:
    job_id = service.enqueue(session, kind="flaky", payload={}, run_at=T0, max_attempts=3)
    assert job_id is not None
    now = T0
    outcomes = []
    for attempt in (1, 2, 3):
        (job,) = service.claim(session, worker_id="w", now=now)
        assert job.attempt == attempt
        outcomes.append(
            service.fail(session, job=job, worker_id="w", error=f"boom {attempt}", now=now)
        )
        row = service.get(session, job_id=job_id)
        if attempt < 3:
            expected = now + timedelta(seconds=service.backoff_seconds(job_id, attempt))
            assert row.run_at == expected
            # not due before its backoff has passed
            assert (
                service.claim(session, worker_id="w", now=expected - timedelta(seconds=0.5)) == []
            )
            now = expected
    assert outcomes == [JobStatus.QUEUED, JobStatus.QUEUED, JobStatus.DEAD]
    dead = service.get(session, job_id=job_id)
    assert (dead.status, dead.attempts, dead.last_error) == (JobStatus.DEAD, 3, "boom 3")
    assert service.claim(session, worker_id="w", now=now + timedelta(days=1)) == []
    retried = service.retry(session, job_id=job_id, now=now)
    assert (retried.status, retried.attempts) == (JobStatus.QUEUED, 0)
    with pytest.raises(Conflict):
        service.retry(session, job_id=job_id)


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    for attempt in range(1, 8):
        s = service.backoff_seconds(99, attempt)
        assert 0.5 * 2**attempt <= s < 1.5 * 2**attempt
        assert s == service.backoff_seconds(99, attempt)  # fixed per (job, attempt)
    assert service.backoff_seconds(1, 30) == service.BACKOFF_CAP_SECONDS


def test_an_expired_lease_is_reclaimed_and_the_old_holder_is_fenced_out(session: Session) -> None:
    service.enqueue(session, kind="slow", payload={}, run_at=T0, max_attempts=2)
    (first,) = service.claim(session, worker_id="w1", now=T0, lease_seconds=60)
    assert service.claim(session, worker_id="w2", now=T0 + timedelta(seconds=59)) == []
    (second,) = service.claim(
        session, worker_id="w2", now=T0 + timedelta(seconds=61), lease_seconds=60
    )
    assert (second.id, second.attempt) == (first.id, 2)
    # The first worker wakes up: it can neither complete nor fail the job any more
    assert service.complete(session, job=first, worker_id="w1") is False
    assert service.fail(session, job=first, worker_id="w1", error="late") is None
    # A worker that dies on the last attempt leaves a job that the reaper declares dead
    assert service.claim(session, worker_id="w3", now=T0 + timedelta(seconds=200)) == []
    dead = service.get(session, job_id=first.id)
    assert (dead.status, dead.attempts) == (JobStatus.DEAD, 2)
    assert dead.last_error == (
        "the worker stopped before finishing (lease expired) on the last attempt"
    )


def test_unknown_handler_and_stats(session: Session) -> None:
    service.enqueue(session, kind="a", payload={}, run_at=T0)
    service.enqueue(session, kind="a", payload={}, run_at=T0)
    service.enqueue(session, kind="b", payload={}, run_at=T0)
    (job,) = service.claim(session, worker_id="w", kinds=["b"], now=T0)
    service.fail(session, job=job, worker_id="w", error="no handler", permanent=True, now=T0)
    s = service.stats(session)
    assert s.by_status == {"queued": 2, "running": 0, "done": 0, "dead": 1}
    assert s.by_kind == {"a": {"queued": 2}, "b": {"dead": 1}}


def test_jobs_api_lists_retries_and_checks_the_role(
    client: TestClient, session: Session, owner: dict[str, str], analyst: dict[str, str]
) -> None:
    job_id = service.enqueue(session, kind="x", payload={"a": 1}, run_at=T0, max_attempts=1)
    (job,) = service.claim(session, worker_id="w", now=T0)
    service.fail(session, job=job, worker_id="w", error="bad", now=T0)
    session.commit()
    assert client.get("/api/jobs", headers=analyst).status_code == 403
    assert client.get("/api/jobs").status_code == 401
    page = client.get("/api/jobs", params={"status": "dead"}, headers=owner).json()
    assert [(j["id"], j["last_error"]) for j in page["items"]] == [(job_id, "bad")]
    r = client.post(f"/api/jobs/{job_id}/retry", headers=owner)
    assert (r.status_code, r.json()["status"]) == (200, "queued")
    r = client.post(f"/api/jobs/{job_id}/retry", headers=owner)
    assert (r.status_code, r.json()["field"]) == (409, "id")
    bad = client.get("/api/jobs", params={"status": "nope"}, headers=owner)
    assert (bad.status_code, bad.json()["field"]) == (422, "status")
    assert client.get("/api/jobs/stats", headers=owner).json()["by_status"]["queued"] == 1
