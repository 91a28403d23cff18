"""Job handlers of analytics (registered in patron.wiring)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from patron.analytics import service
from patron.core.time import utcnow


def refresh_rfm(session: Session, payload: dict[str, Any]) -> None:
    """Recompute RFM; with `every_hours`, queue the next run (same transaction)."""
    service.refresh_rfm(session)
    every = payload.get("every_hours")
    if isinstance(every, int) and every > 0:
        service.enqueue_rfm_refresh(
            session, run_at=utcnow() + timedelta(hours=every), every_hours=every
        )
