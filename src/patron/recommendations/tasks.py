"""Job handlers: training on a schedule (nightly) and on demand (`POST .../train`)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from patron.recommendations import service

log = logging.getLogger(__name__)
SCHEDULE_SECONDS = 24 * 3600


def train(session: Session, payload: dict[str, Any]) -> None:
    """Train and store a new active version; commits with the job's "done" mark."""
    result = service.train(session)
    log.info("recommendations model version %s trained", result.version)
