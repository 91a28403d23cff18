"""Job shapes as other domains and entry points see them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"


@dataclass(slots=True, frozen=True)
class ClaimedJob:
    """A job a worker holds: `attempt` fences completion (a reclaimed job has a new one)."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int


class JobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    payload: dict[str, Any]
    status: JobStatus
    attempts: int
    max_attempts: int
    run_at: datetime
    locked_by: str | None
    lease_until: datetime | None
    last_error: str | None
    dedupe_key: str | None
    created_at: datetime
    finished_at: datetime | None


class JobPage(BaseModel):
    items: list[JobRead]
    next_cursor: str | None


class JobStats(BaseModel):
    by_status: dict[str, int]
    by_kind: dict[str, dict[str, int]]


class ScheduleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    kind: str
    payload: dict[str, Any]
    every_seconds: int
    enabled: bool
    next_run_at: datetime
    last_enqueued_at: datetime | None
    last_job_id: int | None


@dataclass(slots=True, frozen=True)
class ScheduleSpec:
    """A recurring job a domain declares in code (registered in patron.wiring)."""

    name: str
    kind: str
    every_seconds: int
    payload: dict[str, Any] | None = None
