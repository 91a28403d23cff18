"""Job handlers of analytics (registered in patron.wiring, with a nightly schedule)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from patron.analytics import service


def refresh_rfm(session: Session, payload: dict[str, Any]) -> None:
    """Recompute every customer's RFM scores (commits with the job's done mark)."""
    service.refresh_rfm(session)


def refresh_sessions(session: Session, payload: dict[str, Any]) -> None:
    """Bring the stored sessions up to date (ADR 21; every few minutes by schedule)."""
    service.refresh_sessions(session, full=bool(payload.get("full")))


def refresh_order_days(session: Session, payload: dict[str, Any]) -> None:
    """Rebuild the order-day summary's marked days (ADR 25; every few minutes by schedule)."""
    service.refresh_order_days(session, full=bool(payload.get("full")))


def refresh_snapshot(session: Session, payload: dict[str, Any]) -> None:
    """Compute one report and keep its snapshot (queued by a page that found it missing
    or stale; ADR 18)."""
    service.refresh_snapshot(
        session,
        kind=str(payload["kind"]),
        params=dict(payload.get("params") or {}),
        label=payload.get("label"),
    )
