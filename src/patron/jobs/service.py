"""The durable job queue: enqueue inside the caller's transaction (outbox), claim, finish."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session


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
    raise NotImplementedError
