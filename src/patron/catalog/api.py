"""Catalog over HTTP: list/search, create, read and patch products."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from patron.auth.guards import Reader, Writer, require
from patron.auth.schemas import Permission, Principal
from patron.catalog import service
from patron.catalog.schemas import (
    ProductCreate,
    ProductPage,
    ProductRead,
    ProductStatus,
    ProductUpdate,
)
from patron.store import service as store_service

router = APIRouter(prefix="/api", tags=["catalog"])
CanRead = Annotated[Principal, Depends(require(Permission.CATALOG_READ))]
CanWrite = Annotated[Principal, Depends(require(Permission.CATALOG_WRITE))]


@router.get("/products", response_model=ProductPage)
def list_products(
    session: Reader,
    _: CanRead,
    q: str | None = Query(default=None, max_length=500, description="title prefix, sku, id"),
    category: str | None = Query(default=None, max_length=500, description="category prefix"),
    brand: str | None = Query(default=None, max_length=200),
    status: ProductStatus | None = None,
    cursor: str | None = None,
    limit: int = Query(default=50, ge=1, le=200),
) -> ProductPage:
    return service.list(
        session,
        q=q,
        category=category,
        brand=brand,
        status=status.value if status else None,
        cursor=cursor,
        limit=limit,
    )


@router.post("/products", response_model=ProductRead, status_code=201)
def create_product(body: ProductCreate, session: Writer, _: CanWrite) -> ProductRead:
    source_id = store_service.ensure_source(session, key=body.source).id if body.source else None
    return service.create(session, data=body, source_id=source_id)


@router.get("/products/{product_id}", response_model=ProductRead)
def get_product(product_id: int, session: Reader, _: CanRead) -> ProductRead:
    return service.get(session, product_id=product_id)


@router.patch("/products/{product_id}", response_model=ProductRead)
def update_product(
    product_id: int, body: ProductUpdate, session: Writer, _: CanWrite
) -> ProductRead:
    return service.update(session, product_id=product_id, data=body)
