"""Per-customer prediction scores. Private to predictive: other domains read the table
through `service.scores_table()` (segments compile `predicted_clv > ...` against it)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from patron.db import Base, BigId, UTCDateTime


class CustomerScore(Base):
    """One row per customer with at least one counted order at the last scoring run."""

    __tablename__ = "predictive_scores"
    __table_args__ = (
        Index("ix_predictive_scores_churn_risk", "churn_risk"),
        Index("ix_predictive_scores_predicted_clv", "predicted_clv"),
    )

    customer_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    model_version: Mapped[int] = mapped_column(Integer)  # artifact version of predictive.clv
    model: Mapped[str] = mapped_column(String(16))  # the candidate behind the counts
    churn_model: Mapped[str] = mapped_column(String(16))  # the candidate behind churn risk
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime)
    as_of: Mapped[date] = mapped_column(Date)  # history up to and including this UTC day
    currency: Mapped[str] = mapped_column(String(3))  # the store's base currency
    expected_orders_30d: Mapped[float] = mapped_column(Float)
    expected_orders_90d: Mapped[float] = mapped_column(Float)
    expected_orders_365d: Mapped[float] = mapped_column(Float)
    orders_365d_low: Mapped[float] = mapped_column(Float)  # 80% interval of the count
    orders_365d_high: Mapped[float] = mapped_column(Float)
    horizon_months: Mapped[int] = mapped_column(Integer)
    predicted_spend: Mapped[int] = mapped_column(BigInteger)  # minor units over the horizon
    predicted_clv: Mapped[int] = mapped_column(BigInteger)  # discounted, minor units
    clv_low: Mapped[int] = mapped_column(BigInteger)
    clv_high: Mapped[int] = mapped_column(BigInteger)
    churn_probability: Mapped[float] = mapped_column(Float)  # P(no purchase in 90 days)
    churn_risk: Mapped[str] = mapped_column(String(8))  # low, medium, high
    p_alive: Mapped[float] = mapped_column(Float)
    next_order_on: Mapped[date | None] = mapped_column(Date)  # median; None: likely never
    uncertain: Mapped[bool] = mapped_column(Boolean)
    uncertainty: Mapped[str | None] = mapped_column(String(32))  # one_time_buyer, new_customer
