"""Jobs over HTTP: watch the queue, retry dead jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from patron.auth.guards import Reader, Writer, require
from patron.auth.schemas import Permission, Principal
from patron.jobs import service
from patron.jobs.schemas import JobPage, JobRead, JobStats, JobStatus

router = APIRouter(prefix="/api", tags=["jobs"])
CanJobs = Annotated[Principal, Depends(require(Permission.JOBS))]


@router.get("/jobs", response_model=JobPage)
def list_jobs(
    session: Reader,
    _: CanJobs,
    status: JobStatus | None = None,
    kind: str | None = Query(default=None, max_length=64),
    cursor: str | None = None,
    limit: int = Query(default=50, ge=1, le=200),
) -> JobPage:
    return service.list_jobs(session, status=status, kind=kind, cursor=cursor, limit=limit)


@router.get("/jobs/stats", response_model=JobStats)
def job_stats(session: Reader, _: CanJobs) -> JobStats:
    return service.stats(session)


@router.get("/jobs/{job_id}", response_model=JobRead)
def get_job(job_id: int, session: Reader, _: CanJobs) -> JobRead:
    return service.get(session, job_id=job_id)


@router.post("/jobs/{job_id}/retry", response_model=JobRead)
def retry_job(job_id: int, session: Writer, _: CanJobs) -> JobRead:
    return service.retry(session, job_id=job_id)
