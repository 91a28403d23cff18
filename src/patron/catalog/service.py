"""Products and variants: set-based upserts from every source; CRUD for the API."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from patron.catalog.schemas import ProductIn, ProductRef


def upsert_products(
    session: Session, *, products: Sequence[ProductIn], source_id: int
) -> list[int]:
    """Create or update products (and their variants); ids in input order.

    Matched by (source_id, external_id), then by sku; a product seen from a second source
    gains a second external id instead of becoming a second product. None fields keep what
    is stored. Set-based: a few statements per call, whatever its size.
    """
    raise NotImplementedError


def resolve_products(
    session: Session, *, refs: Sequence[ProductRef], source_id: int
) -> list[int | None]:
    """The product id behind each ref (by external id, then sku), creating missing products
    from what the ref knows. A ref with neither external id nor sku resolves to None."""
    raise NotImplementedError
