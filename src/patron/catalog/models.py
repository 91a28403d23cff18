"""Products and variants, each with external ids per source."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from patron.db import Base, BigId, Json, UTCDateTime


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        Index("ix_products_category", "category_path"),
        Index("ix_products_created", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sku: Mapped[str | None] = mapped_column(String(128), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    category_path: Mapped[str | None] = mapped_column(String(500))  # "Shoes > Running"
    brand: Mapped[str | None] = mapped_column(String(200))
    price: Mapped[int | None] = mapped_column(BigInteger)  # minor units
    currency: Mapped[str | None] = mapped_column(String(3))
    image_url: Mapped[str | None] = mapped_column(String(1000))
    url: Mapped[str | None] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active, draft, archived
    stock: Mapped[int | None] = mapped_column(Integer)
    properties: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProductExternalId(Base):
    __tablename__ = "product_external_ids"
    __table_args__ = (UniqueConstraint("source_id", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    external_id: Mapped[str] = mapped_column(String(128))


class Variant(Base):
    __tablename__ = "product_variants"
    __table_args__ = (UniqueConstraint("source_id", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    sku: Mapped[str | None] = mapped_column(String(128), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    price: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    stock: Mapped[int | None] = mapped_column(Integer)
    properties: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"))
    external_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
