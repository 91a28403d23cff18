"""Job handlers of predictive (registered in patron.wiring): thin, they call the service."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from patron.predictive import service


def backtest(session: Session, payload: dict[str, Any]) -> None:
    service.backtest(
        session,
        calibration_end=date.fromisoformat(payload["calibration_end"]),
        holdout_end=date.fromisoformat(payload["holdout_end"]),
    )


def train(session: Session, payload: dict[str, Any]) -> None:
    as_of = date.fromisoformat(payload["as_of"]) if payload.get("as_of") else None
    service.train(
        session,
        as_of=as_of,
        horizon_months=int(payload.get("horizon_months", 12)),
        annual_discount_rate=float(payload.get("annual_discount_rate", 0.10)),
    )
    if payload.get("score", True):
        service.score(session, as_of=as_of)


def score(session: Session, payload: dict[str, Any]) -> None:
    service.score(session)


def refresh(session: Session, payload: dict[str, Any]) -> None:
    service.refresh(session)
