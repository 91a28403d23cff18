"""Public shapes of analytics: RFM groups and scores, KPI reports, cohorts, spend, targets.

Money is integer minor units of the report's `currency` (the store's base currency); rates
are fractions (0.25 = 25 %), rounded to 6 decimals; durations are days.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class RfmGroup(StrEnum):
    """Shopify's customer-statistics RFM groups (the mapping is in docs/analytics.md)."""

    CHAMPIONS = "champions"
    LOYAL = "loyal"
    ACTIVE = "active"
    PROMISING = "promising"
    NEW = "new"
    NEEDS_ATTENTION = "needs_attention"
    AT_RISK = "at_risk"
    PREVIOUSLY_LOYAL = "previously_loyal"
    ALMOST_LOST = "almost_lost"
    DORMANT = "dormant"
    PROSPECTS = "prospects"


GROUP_LABELS: dict[RfmGroup, str] = {
    RfmGroup.CHAMPIONS: "Champions",
    RfmGroup.LOYAL: "Loyal",
    RfmGroup.ACTIVE: "Active",
    RfmGroup.PROMISING: "Promising",
    RfmGroup.NEW: "New",
    RfmGroup.NEEDS_ATTENTION: "Needs attention",
    RfmGroup.AT_RISK: "At risk",
    RfmGroup.PREVIOUSLY_LOYAL: "Previously loyal",
    RfmGroup.ALMOST_LOST: "Almost lost",
    RfmGroup.DORMANT: "Dormant",
    RfmGroup.PROSPECTS: "Prospects",
}


class Unit(StrEnum):
    MONEY = "money"  # integer minor units of the report currency
    RATIO = "ratio"  # a fraction, 0..1
    COUNT = "count"
    DAYS = "days"
    NUMBER = "number"  # a plain number (orders per customer, NPS points)


# --- RFM ---------------------------------------------------------------------------------


class RfmRefresh(BaseModel):
    """What one refresh did."""

    computed_at: datetime
    as_of: datetime
    customers: int
    currency: str
    duration_ms: int
    # Per dimension and score, the [min, max] of the raw value that got that score.
    edges: dict[str, dict[str, list[int]]]


class RfmGroupRow(BaseModel):
    group: RfmGroup
    label: str
    customers: int
    customer_share: float
    revenue: int  # lifetime net spend of the group's customers
    revenue_share: float
    avg_recency_days: float | None
    avg_frequency: float | None
    avg_monetary: int | None


class RfmSummary(BaseModel):
    computed_at: datetime | None  # None: RFM has never been computed
    currency: str
    customers: int  # scored customers + prospects
    revenue: int
    groups: list[RfmGroupRow]
    edges: dict[str, dict[str, list[int]]] = Field(default_factory=dict)


class RfmScoreRead(BaseModel):
    customer_id: int
    r_score: int
    f_score: int
    m_score: int
    rfm_group: RfmGroup
    recency_days: int
    frequency: int
    monetary: int
    computed_at: datetime


class RfmScorePage(BaseModel):
    items: list[RfmScoreRead]
    next_cursor: str | None


# --- KPIs ---------------------------------------------------------------------------------


class Trend(BaseModel):
    delta: float | int | None  # value - previous
    delta_pct: float | None  # delta / |previous|; None when previous is 0 or missing
    direction: str | None  # up, down, flat
    good: bool | None  # moved the way this metric should (None: flat or unknown)


class KpiValue(BaseModel):
    metric: str
    label: str
    unit: Unit
    value: float | int | None
    previous: float | int | None
    trend: Trend
    target: float | int | None
    target_met: bool | None
    higher_is_better: bool | None  # None: neither direction is better (spend)
    reason: str | None = None  # why `value` is None (never a made-up number)


class Period(BaseModel):
    start: date  # inclusive, in the store timezone
    end: date  # exclusive
    start_at: datetime  # the same bounds in UTC
    end_at: datetime


class KpiReport(BaseModel):
    currency: str
    timezone: str
    period: Period
    previous_period: Period
    kpis: list[KpiValue]


# --- cohorts and breakdowns ------------------------------------------------------------


class CohortRow(BaseModel):
    cohort: str  # acquisition month, YYYY-MM (store timezone)
    customers: int
    # index k = months since the first order; k = 0 is the acquisition month
    active: list[int]  # customers of the cohort who ordered in month k
    retention: list[float]  # active[k] / customers
    revenue: list[int]  # net revenue of the cohort's orders in month k
    revenue_per_customer: list[int]  # cumulative revenue through month k / customers


class CohortReport(BaseModel):
    currency: str
    timezone: str
    start: str  # first cohort, YYYY-MM
    end: str  # last cohort, YYYY-MM
    cohorts: list[CohortRow]


class SeriesBucket(StrEnum):
    DAY = "day"
    WEEK = "week"  # Monday to Sunday, clipped to the period
    MONTH = "month"


class SeriesPoint(BaseModel):
    start: date  # inclusive, store-local
    end: date  # exclusive
    orders: int
    revenue: int  # net, base-currency minor units
    customers: int  # identified customers who ordered in the bucket
    new_customers: int  # ... whose first counted order is in the bucket
    returning_customers: int  # customers - new_customers


class SeriesReport(BaseModel):
    currency: str
    timezone: str
    bucket: SeriesBucket
    period: Period
    points: list[SeriesPoint]


class BreakdownDimension(StrEnum):
    CHANNEL = "channel"
    COUNTRY = "country"
    RFM_GROUP = "rfm_group"
    SEGMENT = "segment"  # needs a membership source wired by the segments domain


class BreakdownRow(BaseModel):
    key: str
    orders: int
    revenue: int
    revenue_share: float
    customers: int
    new_customers: int
    aov: int | None
    spend: int | None = None  # channel breakdown only: marketing spend in the period
    cac: int | None = None  # spend / new customers acquired through this channel


class BreakdownReport(BaseModel):
    currency: str
    dimension: BreakdownDimension
    period: Period
    rows: list[BreakdownRow]


# --- marketing spend and targets --------------------------------------------------------


class SpendUpsert(BaseModel):
    channel: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    month: str = Field(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")
    amount: int = Field(ge=0, description="minor units of `currency`")
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    note: str | None = Field(default=None, max_length=500)


class SpendRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    channel: str
    month: date
    amount: int
    currency: str
    base_amount: int
    note: str | None
    updated_at: datetime


class MetricInfo(BaseModel):
    """A KPI the store reports: its key, English label, unit and better direction."""

    key: str
    label: str
    unit: Unit
    higher_is_better: bool | None  # None: no direction, so no target (spend)


class TargetSet(BaseModel):
    value: float = Field(description="rates as fractions, money in base-currency minor units")


class TargetRead(BaseModel):
    metric: str
    label: str
    unit: Unit
    value: float | int
    updated_at: datetime
