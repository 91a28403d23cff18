"""Public shapes of predictions: scores, model cards, backtest and training requests."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

MODEL_KIND = "predictive.clv"  # artifact kind of trained models
BACKTEST_KIND = "predictive.backtest"  # artifact kind of backtest model cards


class ChurnRisk(StrEnum):
    LOW = "low"  # P(no purchase in 90 days) < 0.5
    MEDIUM = "medium"  # 0.5 <= P < 0.8
    HIGH = "high"  # P >= 0.8


CHURN_THRESHOLDS = (0.5, 0.8)


class CustomerScoreRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    customer_id: int
    model_version: int
    model: str
    churn_model: str
    scored_at: datetime
    as_of: date
    currency: str
    expected_orders_30d: float
    expected_orders_90d: float
    expected_orders_365d: float
    orders_365d_low: float
    orders_365d_high: float
    horizon_months: int
    predicted_spend: int = Field(description="minor units of `currency` over the horizon")
    predicted_clv: int = Field(description="discounted, minor units of `currency`")
    clv_low: int
    clv_high: int
    churn_probability: float = Field(description="P(no purchase in the next 90 days)")
    churn_risk: ChurnRisk
    p_alive: float
    next_order_on: date | None = Field(description="median next order day; null: unlikely")
    uncertain: bool
    uncertainty: str | None


class ScorePage(BaseModel):
    items: list[CustomerScoreRead]
    next_cursor: str | None


class ScoreRun(BaseModel):
    model_version: int
    scored: int
    removed: int
    tier_changes: int
    as_of: date
    seconds: float


class BacktestRequest(BaseModel):
    calibration_end: date
    holdout_end: date

    @model_validator(mode="after")
    def _order(self) -> BacktestRequest:
        if self.holdout_end <= self.calibration_end:
            raise ValueError("holdout_end must be after calibration_end")
        return self


class TrainRequest(BaseModel):
    as_of: date | None = Field(default=None, description="default: today (UTC)")
    horizon_months: int = Field(default=12, ge=1, le=60)
    annual_discount_rate: float = Field(default=0.10, ge=0.0, le=1.0)


class ModelCard(BaseModel):
    """An artifact's metadata and card (the payload is not returned)."""

    kind: str
    version: int
    active: bool
    created_at: datetime
    size_bytes: int
    card: dict[str, Any]


class JobQueued(BaseModel):
    job_id: int | None
    kind: str
