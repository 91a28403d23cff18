"""Job handlers of predictive (registered in patron.wiring): thin, they call the service.

The fits and predictions run in a read-only session and only the results are written in
the job's own session: on SQLite the writer lock (BEGIN IMMEDIATE) is then held for the
upsert, not for the minutes a large store's training takes.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from patron.core.errors import ValidationError
from patron.db import unit_of_work
from patron.predictive import service
from patron.predictive.schemas import ModelCard, ScoreRun

log = logging.getLogger("patron.predictive")


def backtest(session: Session, payload: dict[str, Any]) -> None:
    with unit_of_work(readonly=True) as ro:
        card = service.backtest(
            ro,
            calibration_end=date.fromisoformat(payload["calibration_end"]),
            holdout_end=date.fromisoformat(payload["holdout_end"]),
            save=False,
        )
    service.save_backtest(session, card=card)


def train_and_score(
    session: Session, *, as_of: date | None, score: bool, **kw: Any
) -> tuple[ModelCard, ScoreRun | None]:
    """Fit (and score) from a read-only session; store the model (and scores) in `session`."""
    with unit_of_work(readonly=True) as ro:
        plan = service.plan_training(ro, as_of=as_of, **kw)
        scores = service.plan_scores(ro, as_of=as_of, model=plan) if score else None
    card = service.save_training(session, plan=plan)
    run = None
    if scores is not None:
        run = service.apply_scores(session, plan=scores, model_version=card.version)
    return card, run


def train(session: Session, payload: dict[str, Any]) -> None:
    train_and_score(
        session,
        as_of=date.fromisoformat(payload["as_of"]) if payload.get("as_of") else None,
        score=bool(payload.get("score", True)),
        horizon_months=int(payload.get("horizon_months", 12)),
        annual_discount_rate=float(payload.get("annual_discount_rate", 0.10)),
    )


def score(session: Session, payload: dict[str, Any]) -> None:
    with unit_of_work(readonly=True) as ro:
        plan = service.plan_scores(ro)
    service.apply_scores(session, plan=plan)


def refresh(session: Session, payload: dict[str, Any]) -> None:
    """Nightly: retrain when the model is missing or a week old, then score everyone."""
    with unit_of_work(readonly=True) as ro:
        retrain = service.needs_training(ro)
        if not retrain:
            plan = service.plan_scores(ro)
    if retrain:
        try:
            train_and_score(session, as_of=None, score=True)
        except ValidationError as exc:
            # A new store with no orders yet: nothing to learn, and not a failure to retry
            # until the job is dead. The next nightly run tries again.
            log.info("predictive.refresh skipped: %s", exc.message)
    else:
        service.apply_scores(session, plan=plan)
