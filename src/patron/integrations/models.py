"""Shop-platform connections (Shopify, WooCommerce) and the webhook deliveries they sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from patron.db import Base, BigId, UTCDateTime


class Connection(Base):
    """One source's link to a shop platform; `secret` signs its webhooks (kept in the DB)."""

    __tablename__ = "integration_connections"
    __table_args__ = (UniqueConstraint("source_id", name="uq_integration_connections_source"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    platform: Mapped[str] = mapped_column(String(32))  # shopify, woocommerce
    secret: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """Every accepted webhook, for audit and dedupe: (source, delivery id) is unique."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("source_id", "delivery_id", name="uq_webhook_deliveries_delivery"),
        Index("ix_webhook_deliveries_source_received", "source_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    delivery_id: Mapped[str | None] = mapped_column(String(128))
    topic: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # processed, ignored, failed
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
