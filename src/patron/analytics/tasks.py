"""Job handlers of analytics (registered in patron.wiring, with a nightly schedule)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.orm import Session

from patron.analytics import service


def refresh_rfm(session: Session, payload: dict[str, Any]) -> None:
    """Recompute every customer's RFM scores (commits with the job's done mark)."""
    service.refresh_rfm(session)


def refresh_sessions(session: Session, payload: dict[str, Any]) -> None:
    """Bring the stored sessions up to date (ADR 21; every few minutes by schedule)."""
    service.refresh_sessions(session, full=bool(payload.get("full")))


# SQLite: a writer waiting for the lock tries again every 100 ms at most (its busy handler);
# a longer pause between two chunks lets every one waiting in before the next chunk.
CHUNK_PAUSE_S = 0.15


def refresh_order_days(session: Session, payload: dict[str, Any]) -> None:
    """Rebuild the order-day summary's marked days (ADR 25; every few minutes by schedule).
    A build runs chunk by chunk, each committed here as its own short transaction (idempotent:
    a run killed between chunks is resumed by the next, which finds `built_to`); the last
    step commits with the job's done mark. Payload: `full`, `chunk_orders` (orders a chunk)."""
    pause = CHUNK_PAUSE_S if session.get_bind().dialect.name == "sqlite" else 0.0
    chunk = int(payload.get("chunk_orders") or service.ORDER_DAYS_CHUNK)
    got = service.refresh_order_days(session, full=bool(payload.get("full")), chunk_orders=chunk)
    while got.more:
        session.commit()
        time.sleep(pause)
        got = service.refresh_order_days(session, chunk_orders=chunk)


def refresh_snapshot(session: Session, payload: dict[str, Any]) -> None:
    """Compute one report and keep its snapshot (queued by a page that found it missing
    or stale; ADR 18)."""
    service.refresh_snapshot(
        session,
        kind=str(payload["kind"]),
        params=dict(payload.get("params") or {}),
        label=payload.get("label"),
    )
