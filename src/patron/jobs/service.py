"""The durable job queue: enqueue inside the caller's transaction (outbox), claim, finish.

Life of a job: queued -> running (claimed: attempt + 1, a lease) -> done; on failure back to
queued with exponential backoff, or dead after `max_attempts`; a dead job can be retried.
A worker that dies leaves its job running with a lease that expires; the next claim takes it
again with a new attempt number. Completion is fenced by (worker, attempt) and runs in the
same transaction as the handler's writes, so a job's database effect commits exactly once
(ADR 3).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from patron.config import get_settings
from patron.core.errors import Conflict, NotFound, ValidationError
from patron.core.pagination import clamp_limit, decode_cursor, encode_cursor
from patron.core.time import utcnow
from patron.jobs.models import Job, JobSchedule
from patron.jobs.schemas import (
    ClaimedJob,
    JobPage,
    JobRead,
    JobStats,
    JobStatus,
    ScheduleRead,
    ScheduleSpec,
)

BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 3600.0


def enqueue(
    session: Session,
    *,
    kind: str,
    payload: dict[str, Any],
    run_at: datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int = 5,
) -> int | None:
    """Add a job in the caller's transaction; it runs only if that transaction commits.
    A job with the same live dedupe_key is not added twice (returns None)."""
    if not kind or len(kind) > 64:
        raise ValidationError("kind must be 1 to 64 characters", field="kind")
    if max_attempts < 1:
        raise ValidationError("max_attempts must be at least 1", field="max_attempts")
    now = utcnow()
    values = {
        "kind": kind,
        "payload": payload,
        "status": JobStatus.QUEUED.value,
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_at": run_at or now,
        "dedupe_key": dedupe_key,
        "created_at": now,
    }
    if dedupe_key is None:
        return int(session.execute(insert(Job).values(values).returning(Job.id)).scalar_one())
    dialect = session.get_bind().dialect.name
    ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(Job).values(values)
    stmt = ins.on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(Job.id)
    new_id = session.execute(stmt).scalar_one_or_none()
    return None if new_id is None else int(new_id)


def _claimable(now: datetime, kinds: Sequence[str] | None) -> Any:
    due = or_(
        and_(Job.status == JobStatus.QUEUED.value, Job.run_at <= now),
        and_(Job.status == JobStatus.RUNNING.value, Job.lease_until < now),
    )
    cond = and_(due, Job.attempts < Job.max_attempts)
    if kinds:
        cond = and_(cond, Job.kind.in_(list(kinds)))
    return cond


def claim(
    session: Session,
    *,
    worker_id: str,
    kinds: Sequence[str] | None = None,
    limit: int = 1,
    now: datetime | None = None,
    lease_seconds: int | None = None,
) -> list[ClaimedJob]:
    """Take up to `limit` due jobs (oldest first), including running jobs whose lease
    expired. PostgreSQL: FOR UPDATE SKIP LOCKED, so concurrent workers get disjoint jobs.
    SQLite: the writer lock taken at BEGIN serialises claims. Commit right after."""
    now = now or utcnow()
    lease = timedelta(seconds=lease_seconds or get_settings().job_lease_seconds)
    reap(session, now=now)
    pick = select(Job.id).where(_claimable(now, kinds)).order_by(Job.run_at, Job.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    stmt = (
        update(Job)
        .where(Job.id.in_(pick.scalar_subquery()))
        .values(
            status=JobStatus.RUNNING.value,
            attempts=Job.attempts + 1,
            locked_by=worker_id,
            lease_until=now + lease,
        )
        .returning(Job.id, Job.kind, Job.payload, Job.attempts, Job.max_attempts)
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(stmt).all()
    return sorted(
        (
            ClaimedJob(id=r[0], kind=r[1], payload=r[2], attempt=r[3], max_attempts=r[4])
            for r in rows
        ),
        key=lambda j: j.id,
    )


def reap(session: Session, *, now: datetime | None = None) -> int:
    """Jobs whose worker died on their last allowed attempt become dead."""
    now = now or utcnow()
    result = session.execute(
        update(Job)
        .where(
            Job.status == JobStatus.RUNNING.value,
            Job.lease_until < now,
            Job.attempts >= Job.max_attempts,
        )
        .values(
            status=JobStatus.DEAD.value,
            finished_at=now,
            locked_by=None,
            dedupe_key=None,
            last_error="the worker stopped before finishing (lease expired) on the last attempt",
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _fence(job: ClaimedJob, worker_id: str) -> Any:
    return and_(
        Job.id == job.id,
        Job.status == JobStatus.RUNNING.value,
        Job.locked_by == worker_id,
        Job.attempts == job.attempt,
    )


def complete(
    session: Session, *, job: ClaimedJob, worker_id: str, now: datetime | None = None
) -> bool:
    """Mark done, in the handler's transaction. False when this worker no longer holds the
    job (its lease expired and another attempt took it): the caller must roll back."""
    result = session.execute(
        update(Job)
        .where(_fence(job, worker_id))
        .values(
            status=JobStatus.DONE.value,
            finished_at=now or utcnow(),
            lease_until=None,
            dedupe_key=None,
            last_error=None,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def backoff_seconds(job_id: int, attempt: int) -> float:
    """2^attempt seconds, times a jitter in [0.5, 1.5) that is fixed per (job, attempt),
    capped at an hour."""
    jitter = 0.5 + random.Random(f"{job_id}:{attempt}").random()
    return min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS**attempt * jitter)


def fail(
    session: Session,
    *,
    job: ClaimedJob,
    worker_id: str,
    error: str,
    now: datetime | None = None,
    permanent: bool = False,
) -> JobStatus | None:
    """Record a failed attempt: back to queued after a backoff, or dead after the last
    attempt (or at once when `permanent`). None when this worker no longer holds the job."""
    now = now or utcnow()
    dead = permanent or job.attempt >= job.max_attempts
    values: dict[str, Any] = {"last_error": error[:4000], "locked_by": None, "lease_until": None}
    if dead:
        values |= {"status": JobStatus.DEAD.value, "finished_at": now, "dedupe_key": None}
    else:
        delay = timedelta(seconds=backoff_seconds(job.id, job.attempt))
        values |= {"status": JobStatus.QUEUED.value, "run_at": now + delay}
    result = session.execute(
        update(Job)
        .where(_fence(job, worker_id))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    return JobStatus.DEAD if dead else JobStatus.QUEUED


def retry(session: Session, *, job_id: int, now: datetime | None = None) -> JobRead:
    """Put a dead job back in the queue with a fresh set of attempts."""
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"job {job_id} not found", field="id")
    if job.status != JobStatus.DEAD.value:
        raise Conflict(f"job {job_id} is {job.status}; only dead jobs can be retried", field="id")
    job.status = JobStatus.QUEUED.value
    job.attempts = 0
    job.run_at = now or utcnow()
    job.finished_at = None
    session.flush()
    return JobRead.model_validate(job)


def get(session: Session, *, job_id: int) -> JobRead:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"job {job_id} not found", field="id")
    return JobRead.model_validate(job)


def list_jobs(
    session: Session,
    *,
    status: JobStatus | None = None,
    kind: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> JobPage:
    """Jobs newest first, keyset-paginated by id."""
    limit = clamp_limit(limit)
    stmt = select(Job)
    if status is not None:
        stmt = stmt.where(Job.status == status.value)
    if kind:
        stmt = stmt.where(Job.kind == kind)
    if cursor:
        (last,) = decode_cursor(cursor, arity=1)
        if not isinstance(last, int):
            raise ValidationError("cursor is not valid", field="cursor")
        stmt = stmt.where(Job.id < last)
    rows = session.scalars(stmt.order_by(Job.id.desc()).limit(limit + 1)).all()
    items = [JobRead.model_validate(r) for r in rows[:limit]]
    nxt = encode_cursor([items[-1].id]) if len(rows) > limit else None
    return JobPage(items=items, next_cursor=nxt)


def stats(session: Session) -> JobStats:
    rows = session.execute(
        select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)
    ).all()
    by_status: dict[str, int] = {s.value: 0 for s in JobStatus}
    by_kind: dict[str, dict[str, int]] = {}
    for kind, status, n in rows:
        by_status[status] = by_status.get(status, 0) + n
        by_kind.setdefault(kind, {})[status] = n
    return JobStats(by_status=by_status, by_kind=by_kind)


# Recurring jobs ---------------------------------------------------------------------------


def ensure_schedules(
    session: Session, *, specs: Sequence[ScheduleSpec], now: datetime | None = None
) -> list[ScheduleRead]:
    """Create the declared schedules that have no row yet (first run: now). Existing rows keep
    their state and what an operator changed; a schedule no longer declared stays as it is."""
    now = now or utcnow()
    for spec in specs:
        if spec.every_seconds < 1:
            raise ValidationError("every_seconds must be at least 1", field="every_seconds")
    if specs:
        dialect = session.get_bind().dialect.name
        ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(JobSchedule)
        session.execute(
            ins.on_conflict_do_nothing(index_elements=["name"]),
            [
                {
                    "name": spec.name,
                    "kind": spec.kind,
                    "payload": spec.payload or {},
                    "every_seconds": spec.every_seconds,
                    "enabled": True,
                    "next_run_at": now,
                }
                for spec in specs
            ],
        )
    return list_schedules(session)


def list_schedules(session: Session) -> list[ScheduleRead]:
    rows = session.scalars(select(JobSchedule).order_by(JobSchedule.name))
    return [ScheduleRead.model_validate(r) for r in rows]


def update_schedule(
    session: Session,
    *,
    name: str,
    every_seconds: int | None = None,
    enabled: bool | None = None,
    run_now: bool = False,
) -> ScheduleRead:
    row = session.get(JobSchedule, name)
    if row is None:
        raise NotFound(f"no schedule named {name!r}", field="name")
    if every_seconds is not None:
        if every_seconds < 1:
            raise ValidationError("every_seconds must be at least 1", field="every_seconds")
        row.every_seconds = every_seconds
    if enabled is not None:
        row.enabled = enabled
    if run_now:
        row.next_run_at = utcnow()
    session.flush()
    return ScheduleRead.model_validate(row)


def enqueue_due_schedules(session: Session, *, now: datetime | None = None) -> list[int]:
    """Enqueue one job for every enabled schedule that is due; return the new job ids.

    Safe with many workers: a schedule's next run moves forward with a guarded UPDATE (only
    the worker that read the current next_run_at advances it), and the job's dedupe key is
    the schedule's name, so a run still queued or running is not queued a second time. Runs
    missed while no worker was up are not replayed one by one: the next one is due now and
    the one after is a whole interval later.
    """
    now = now or utcnow()
    due = session.execute(
        select(JobSchedule.name, JobSchedule.next_run_at, JobSchedule.every_seconds)
        .where(JobSchedule.enabled.is_(True), JobSchedule.next_run_at <= now)
        .order_by(JobSchedule.name)
    ).all()
    created: list[int] = []
    for name, next_run_at, every in due:
        moved = session.execute(
            update(JobSchedule)
            .where(JobSchedule.name == name, JobSchedule.next_run_at == next_run_at)
            .values(next_run_at=now + timedelta(seconds=every), last_enqueued_at=now)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            continue  # another worker took this run
        row = session.get(JobSchedule, name)
        assert row is not None
        job_id = enqueue(
            session,
            kind=row.kind,
            payload=dict(row.payload),
            run_at=now,
            dedupe_key=f"schedule:{name}",
        )
        if job_id is not None:
            row.last_job_id = job_id
            created.append(job_id)
    session.flush()
    return created
