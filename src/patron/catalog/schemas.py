"""Catalog shapes as other domains see them.

`ProductIn` / `VariantIn` are the bulk input of `catalog.service.upsert_products`: plain
slotted dataclasses (imports and event projection build hundreds of thousands of them;
they are validated at the edge that builds them). The API validates with pydantic models
that convert to these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ProductStatus(StrEnum):
    ACTIVE = "active"
    DRAFT = "draft"
    ARCHIVED = "archived"


CATEGORY_SEPARATOR = " > "


@dataclass(slots=True)
class VariantIn:
    external_id: str | None = None
    sku: str | None = None
    title: str = ""
    price: int | None = None  # minor units of `currency`
    currency: str | None = None
    stock: int | None = None
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ProductIn:
    """One product from one source. Matched by (source, external_id), then by sku.

    Fields left None do not overwrite what is stored (a "Product Viewed" event that only
    knows the name does not erase the brand an import set).
    """

    external_id: str | None = None
    sku: str | None = None
    title: str | None = None
    category_path: str | None = None  # "Shoes > Running"
    brand: str | None = None
    price: int | None = None
    currency: str | None = None
    image_url: str | None = None
    url: str | None = None
    status: ProductStatus | None = None
    stock: int | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    variants: list[VariantIn] = field(default_factory=list)


@dataclass(slots=True)
class ProductRef:
    """How an order line, cart line or event names a product: resolved to a product id."""

    external_id: str | None = None
    sku: str | None = None
    title: str | None = None
    category_path: str | None = None
    brand: str | None = None
    price: int | None = None
    currency: str | None = None
    image_url: str | None = None
    url: str | None = None


class ExternalIdRead(BaseModel):
    source_id: int
    external_id: str


class VariantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    product_id: int
    sku: str | None
    title: str
    price: int | None
    currency: str | None
    stock: int | None
    properties: dict[str, Any]
    source_id: int | None
    external_id: str | None


class ProductRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    sku: str | None
    title: str
    category_path: str | None
    brand: str | None
    price: int | None
    currency: str | None
    image_url: str | None
    url: str | None
    status: ProductStatus
    stock: int | None
    properties: dict[str, Any]
    source_id: int | None
    created_at: datetime
    updated_at: datetime
    external_ids: list[ExternalIdRead] = []
    variants: list[VariantRead] = []


class ProductPage(BaseModel):
    items: list[ProductRead]
    next_cursor: str | None


class _ProductFields(BaseModel):
    sku: str | None = Field(default=None, min_length=1, max_length=128)
    category_path: str | None = Field(default=None, max_length=500)
    brand: str | None = Field(default=None, max_length=200)
    price: int | None = Field(default=None, ge=0, description="minor units of currency")
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    image_url: str | None = Field(default=None, max_length=1000)
    url: str | None = Field(default=None, max_length=1000)
    stock: int | None = Field(default=None, ge=0)


class ProductCreate(_ProductFields):
    """POST /api/products. `source` + `external_id` link the product to a source's id."""

    title: str = Field(min_length=1, max_length=500)
    status: ProductStatus = ProductStatus.ACTIVE
    properties: dict[str, Any] = Field(default_factory=dict)
    source: str | None = Field(default=None, min_length=1, max_length=64)
    external_id: str | None = Field(default=None, min_length=1, max_length=128)


class ProductUpdate(_ProductFields):
    """PATCH: fields left out stay; `properties` keys set to null are removed."""

    title: str | None = Field(default=None, min_length=1, max_length=500)
    status: ProductStatus | None = None
    properties: dict[str, Any] | None = None
