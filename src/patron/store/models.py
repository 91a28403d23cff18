"""Sources (the shops and channels records come from) and store-wide settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from patron.db import Base, BigId, Json, UTCDateTime


class Source(Base):
    """A place data comes from: a web shop, an app, a marketplace store, a physical shop."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))  # shopify, woocommerce, pos, web, app, ...
    channel: Mapped[str] = mapped_column(String(16))  # default channel of its records
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StoreSetting(Base):
    __tablename__ = "store_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(Json)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
