"""Shop-platform connections and webhook deliveries, as the API and CLI see them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Platform(StrEnum):
    SHOPIFY = "shopify"
    WOOCOMMERCE = "woocommerce"


class ConnectionCreate(BaseModel):
    platform: Platform
    source_key: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    # None: a random secret is generated and shown once, in the creation response.
    secret: str | None = Field(default=None, min_length=8, max_length=200)


class ConnectionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    platform: Platform
    source_id: int
    source_key: str
    webhook_path: str
    created_at: datetime


class ConnectionCreated(ConnectionRead):
    secret: str


class DeliveryResult(BaseModel):
    status: str  # processed, ignored, duplicate
    topic: str
    delivery_id: str | None = None
