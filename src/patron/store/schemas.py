"""Sources and store settings, as other domains see them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Channel(StrEnum):
    WEB = "web"
    APP = "app"
    MARKETPLACE = "marketplace"
    POS = "pos"
    SOCIAL = "social"
    EMAIL = "email"
    OTHER = "other"


class SourceCreate(BaseModel):
    key: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    name: str = Field(default="", max_length=200)
    kind: str = Field(default="web", max_length=32)
    channel: Channel = Channel.WEB


class SourceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    key: str
    name: str
    kind: str
    channel: Channel
    created_at: datetime


class StoreSettings(BaseModel):
    """Store-wide settings. `fx_rates` maps a currency to units of base currency per unit."""

    base_currency: str = "USD"
    timezone: str = "UTC"
    default_locale: str = "en"
    fx_rates: dict[str, str] = Field(default_factory=dict)
