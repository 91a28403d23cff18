"""Orders and carts over HTTP: list/search, create, read, patch, refunds, cancel."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from patron.auth.guards import Reader, Writer, require
from patron.auth.schemas import Permission, Principal
from patron.orders import service
from patron.orders.schemas import (
    CancelBody,
    CartPage,
    CartRead,
    CartStatus,
    OrderCreate,
    OrderPage,
    OrderRead,
    OrderStatus,
    OrderUpdate,
    RefundCreate,
)
from patron.store.schemas import Channel

router = APIRouter(prefix="/api", tags=["orders"])
CanRead = Annotated[Principal, Depends(require(Permission.ORDERS_READ))]
CanWrite = Annotated[Principal, Depends(require(Permission.ORDERS_WRITE))]


@router.get("/orders", response_model=OrderPage)
def list_orders(
    session: Reader,
    _: CanRead,
    customer_id: int | None = None,
    status: OrderStatus | None = None,
    channel: Channel | None = None,
    source_id: int | None = None,
    placed_from: datetime | None = None,
    placed_to: datetime | None = None,
    q: str | None = Query(default=None, max_length=128, description="number or external id"),
    cursor: str | None = None,
    limit: int = Query(default=50, ge=1, le=200),
) -> OrderPage:
    return service.list(
        session,
        customer_id=customer_id,
        status=status.value if status else None,
        channel=channel.value if channel else None,
        source_id=source_id,
        placed_from=placed_from,
        placed_to=placed_to,
        q=q,
        cursor=cursor,
        limit=limit,
    )


@router.post("/orders", response_model=OrderRead, status_code=201)
def create_order(body: OrderCreate, session: Writer, _: CanWrite) -> OrderRead:
    return service.create_order(session, data=body)


@router.get("/orders/{order_id}", response_model=OrderRead)
def get_order(order_id: int, session: Reader, _: CanRead) -> OrderRead:
    return service.get(session, order_id=order_id)


@router.patch("/orders/{order_id}", response_model=OrderRead)
def update_order(order_id: int, body: OrderUpdate, session: Writer, _: CanWrite) -> OrderRead:
    return service.update_order(session, order_id=order_id, data=body)


@router.post("/orders/{order_id}/refunds", response_model=OrderRead, status_code=201)
def add_refund(order_id: int, body: RefundCreate, session: Writer, _: CanWrite) -> OrderRead:
    return service.add_refund(session, order_id=order_id, data=body)


@router.post("/orders/{order_id}/cancel", response_model=OrderRead)
def cancel_order(
    order_id: int, session: Writer, _: CanWrite, body: CancelBody | None = None
) -> OrderRead:
    return service.cancel_order(session, order_id=order_id, at=body.cancelled_at if body else None)


@router.get("/carts", response_model=CartPage)
def list_carts(
    session: Reader,
    _: CanRead,
    status: CartStatus | None = None,
    customer_id: int | None = None,
    updated_before: datetime | None = None,
    cursor: str | None = None,
    limit: int = Query(default=50, ge=1, le=200),
) -> CartPage:
    return service.list_carts(
        session,
        status=status.value if status else None,
        customer_id=customer_id,
        updated_before=updated_before,
        cursor=cursor,
        limit=limit,
    )


@router.get("/carts/{cart_id}", response_model=CartRead)
def get_cart(cart_id: int, session: Reader, _: CanRead) -> CartRead:
    return service.get_cart(session, cart_id=cart_id)
