"""Job handlers of the segments domain (registered in patron.wiring)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from patron.core.errors import NotFound
from patron.segments import service

# The segments loop (incremental + time-based updates) runs every minute by default; change
# it with `patron jobs schedules segments.tick --every N`.
TICK_SECONDS = 60
# The lifecycle segments are installed by the first run and their thresholds re-derived daily.
BUILTINS_SECONDS = 86400


def refresh(session: Session, payload: dict[str, Any]) -> None:
    """segments.refresh: {"segment_id": N, "mode": "full"|"incremental"} or {} for all."""
    mode = str(payload.get("mode", "full"))
    if "segment_id" not in payload:
        service.refresh_all(session, mode=mode)
        return
    try:
        service.refresh(session, segment_id=int(payload["segment_id"]), mode=mode)
    except NotFound:
        return  # deleted since the job was enqueued


def tick(session: Session, payload: dict[str, Any]) -> None:
    """segments.tick: incremental and time-based updates of every dynamic segment."""
    service.tick(session)


def refresh_builtins(session: Session, payload: dict[str, Any]) -> None:
    """segments.builtins: the lifecycle segments out of the box (new, repeat, at risk, ...),
    with thresholds re-derived from the store's purchase cycle as it moves. A built-in that
    was deleted comes back; disable the schedule (`patron jobs schedules segments.builtins
    --disable`) to manage them by hand."""
    service.install_builtins(session, refresh_now=True)


def membership_changed(session: Session, payload: dict[str, Any]) -> None:
    """segment.entered / segment.exited: the outbox record of a change. Nothing consumes it
    yet; automation replaces this handler with its flow trigger."""
