"""Predictions over HTTP: scores per customer, model cards, backtest/train/score as jobs.

Read: owner, marketer, analyst. Train (backtest, train, score): owner, analyst. Support
has neither (403)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from patron.auth.guards import Reader, Writer, require
from patron.auth.schemas import Permission, Principal
from patron.predictive import service
from patron.predictive.schemas import (
    BacktestRequest,
    ChurnRisk,
    CustomerScoreRead,
    JobQueued,
    ModelCard,
    ScorePage,
    TrainRequest,
)

router = APIRouter(prefix="/api/predictions", tags=["predictions"])
CanRead = Annotated[Principal, Depends(require(Permission.PREDICTIONS_READ))]
CanTrain = Annotated[Principal, Depends(require(Permission.PREDICTIONS_TRAIN))]


@router.get("/customers/{customer_id}", response_model=CustomerScoreRead)
def customer_scores(customer_id: int, session: Reader, _: CanRead) -> CustomerScoreRead:
    return service.get_score(session, customer_id=customer_id)


@router.get("/scores", response_model=ScorePage)
def list_scores(
    session: Reader,
    _: CanRead,
    churn_risk: ChurnRisk | None = None,
    cursor: str | None = None,
    limit: int = Query(default=50, ge=1, le=200),
) -> ScorePage:
    return service.list_scores(session, churn_risk=churn_risk, cursor=cursor, limit=limit)


@router.get("/models", response_model=list[ModelCard])
def list_models(session: Reader, _: CanRead) -> list[ModelCard]:
    return service.list_models(session)


@router.get("/models/{kind}/{version}", response_model=ModelCard)
def get_model(kind: str, version: int, session: Reader, _: CanRead) -> ModelCard:
    return service.get_model(session, kind=kind, version=version)


@router.post("/backtest", response_model=JobQueued, status_code=202)
def run_backtest(body: BacktestRequest, session: Writer, _: CanTrain) -> JobQueued:
    job = service.enqueue_backtest(
        session, calibration_end=body.calibration_end, holdout_end=body.holdout_end
    )
    return JobQueued(job_id=job, kind=service.BACKTEST_JOB)


@router.post("/train", response_model=JobQueued, status_code=202)
def run_train(body: TrainRequest, session: Writer, _: CanTrain) -> JobQueued:
    job = service.enqueue_train(
        session,
        as_of=body.as_of,
        horizon_months=body.horizon_months,
        annual_discount_rate=body.annual_discount_rate,
    )
    return JobQueued(job_id=job, kind=service.TRAIN_JOB)


@router.post("/score", response_model=JobQueued, status_code=202)
def run_score(session: Writer, _: CanTrain) -> JobQueued:
    return JobQueued(job_id=service.enqueue_score(session), kind=service.SCORE_JOB)
