"""Segment shapes as the API, the CLI and other domains see them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

# Job kinds emitted for every change of membership (flows subscribe to them later).
ENTERED_JOB = "segment.entered"
EXITED_JOB = "segment.exited"
# Job kinds segments handles.
REFRESH_JOB = "segments.refresh"  # payload {"segment_id": N} or {} for every dynamic segment
TICK_JOB = "segments.tick"  # incremental + time-based updates (a recurring schedule)
BUILTINS_JOB = "segments.builtins"  # lifecycle segments installed, thresholds re-derived


class SegmentKind(StrEnum):
    DYNAMIC = "dynamic"
    STATIC = "static"


class SegmentCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    kind: SegmentKind = SegmentKind.DYNAMIC
    query: str | None = Field(default=None, max_length=10_000)
    description: str = Field(default="", max_length=1000)


class SegmentUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    query: str | None = Field(default=None, max_length=10_000)
    description: str | None = Field(default=None, max_length=1000)


class SegmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    kind: SegmentKind
    query: str | None
    builtin: str | None
    time_based: bool
    member_count: int
    created_at: datetime
    updated_at: datetime
    refreshed_at: datetime | None
    full_refreshed_at: datetime | None


class SegmentPage(BaseModel):
    items: list[SegmentRead]
    next_cursor: str | None


class MemberRead(BaseModel):
    customer_id: int
    email: str | None
    first_name: str | None
    last_name: str | None
    orders_count: int
    total_spent: int
    last_order_at: datetime | None
    entered_at: datetime | None = None


class MemberPage(BaseModel):
    items: list[MemberRead]
    next_cursor: str | None


class PreviewIn(BaseModel):
    query: str = Field(min_length=1, max_length=10_000)
    sample: int = Field(default=10, ge=0, le=100)


class Preview(BaseModel):
    # Exact unless `estimated`; None only when a time budget was given and neither the
    # count nor its estimate fit in it (the web builder's live count at a big store).
    count: int | None
    sample: list[MemberRead]
    time_based: bool
    elapsed_ms: float
    estimated: bool = False
    sampled_share: float | None = None  # the share of customers an estimate read


class RefreshResult(BaseModel):
    segment_id: int
    mode: str  # full | incremental | time
    entered: int
    exited: int
    members: int
    checked: int | None = None  # customers re-evaluated (incremental); None: all
    elapsed_ms: float


class MembersChange(BaseModel):
    """Static lists: add or remove by customer id or email."""

    customer_ids: list[int] = Field(default_factory=list, max_length=10_000)
    emails: list[str] = Field(default_factory=list, max_length=10_000)


class MembersChanged(BaseModel):
    added: int = 0
    removed: int = 0
    unchanged: int = 0
    not_found: list[str] = Field(default_factory=list)  # first 100 identifiers not matched
    not_found_count: int = 0


class SegmentHistoryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    segment_id: int
    customer_id: int
    entered_at: datetime
    exited_at: datetime | None
    reason: str


class LifecycleSettings(BaseModel):
    """Lifecycle thresholds. None = derived from the store's own purchase cycle."""

    purchase_cycle_days: float | None = Field(default=None, gt=0, le=3650)
    new_cycles: float = Field(default=1.0, gt=0, le=50)  # new: first order in 1 cycle
    at_risk_cycles: float = Field(default=2.0, gt=0, le=50)  # at risk: no order in 2 cycles
    lapsed_cycles: float = Field(default=4.0, gt=0, le=100)  # lapsed: no order in 4 cycles
    high_value_percentile: float = Field(default=80, gt=0, lt=100)  # top 20% by spend
    vip_percentile: float = Field(default=95, gt=0, lt=100)  # top 5% by spend
    vip_min_orders: int = Field(default=3, ge=1, le=1000)
    cart_window_days: int = Field(default=7, ge=1, le=365)
    cart_idle_hours: int = Field(default=1, ge=1, le=720)
    full_refresh_hours: int = Field(default=24, ge=1, le=720)


class Thresholds(BaseModel):
    """The lifecycle thresholds in force, with what they were derived from."""

    settings: LifecycleSettings
    purchase_cycle_days: float  # median days between a customer's consecutive orders
    derived_from_orders: int  # consecutive-order gaps the median was computed over
    new_days: int
    at_risk_days: int
    lapsed_days: int
    high_value_min_spent: int  # base-currency minor units
    vip_min_spent: int
    currency: str
    queries: dict[str, str]
