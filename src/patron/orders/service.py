"""Orders, lines, refunds, carts and checkouts; customer stats."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from patron.customers.service import MergeHook
from patron.orders.schemas import CartIn, OrderIn, RefundIn, UpsertSummary

# Merge hooks for orders and carts (customers.identity.MergeHook), wired in patron.wiring.
MERGE_HOOKS: list[MergeHook] = []


def upsert_orders(session: Session, *, orders: Sequence[OrderIn], source_id: int) -> UpsertSummary:
    """Create or update orders by (source_id, external_id); idempotent, set-based.

    Resolves customers (CustomerRefIn) through the identity graph in one call, products
    through catalog.resolve_products, writes orders/lines/refunds with multi-row inserts,
    converts totals to the base currency, adds ORDER timeline entries for new orders and
    refreshes the stats of every touched customer.
    """
    raise NotImplementedError


def add_refunds(
    session: Session, *, source_id: int, refunds: Sequence[tuple[str, RefundIn]]
) -> int:
    """Record refunds given as (order external id, refund); a refund already recorded (by
    its external id) is skipped. Returns how many were new. Unknown orders: ValidationError
    naming `order_id`."""
    raise NotImplementedError


def cancel_orders(
    session: Session, *, source_id: int, cancellations: Sequence[tuple[str, datetime]]
) -> int:
    """Cancel orders given as (order external id, cancelled at); idempotent."""
    raise NotImplementedError


def upsert_carts(session: Session, *, carts: Sequence[CartIn], source_id: int) -> list[int]:
    """Create or update carts/checkouts by (source_id, external_id); ids in input order."""
    raise NotImplementedError


def refresh_stats(session: Session, *, customer_ids: Sequence[int]) -> None:
    """Recompute orders count, total spent (base currency, net of refunds, cancelled
    excluded), first/last order and channels for these customers, in SQL."""
    raise NotImplementedError
