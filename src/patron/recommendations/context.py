"""What one request knows: the model in memory, the customer's history, fresh product state.

The active model is loaded once per process and replaced when a newer version becomes
active (checked with one indexed query per request, no payload read). The customer's
purchases, views, refunds and cart, and the candidates' status and stock, are read fresh
per request (a few indexed queries), so a product that sold out a minute ago is not shown.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from patron.artifacts import service as artifacts_service
from patron.catalog import service as catalog_service
from patron.core.errors import NotFound
from patron.customers import service as customers_service
from patron.events import service as events_service
from patron.orders import service as orders_service
from patron.recommendations import scoring
from patron.recommendations.schemas import ARTIFACT_KIND
from patron.recommendations.training import VIEW_EVENT

RECENT_VIEWS = 100
_lock = threading.Lock()
_loaded: dict[str, Any] = {"key": None, "model": None, "version": None}


def active_model(session: Session) -> tuple[scoring.Model, int]:
    """The active model (cached per process; reloaded when another version is active)."""
    info = artifacts_service.active_info(session, kind=ARTIFACT_KIND)
    if info is None:
        raise NotFound(
            "no recommendation model is trained yet: run `patron recommendations train` "
            "or POST /api/recommendations/train",
            field="model",
        )
    key = (info.id, info.version, info.created_at)
    with _lock:
        if _loaded["key"] == key:
            return _loaded["model"], int(_loaded["version"])
    artifact = artifacts_service.load(session, kind=ARTIFACT_KIND, version=info.version)
    model = scoring.loads(artifact.payload, dict(artifact.card.get("params", {})))
    with _lock:
        _loaded.update(key=key, model=model, version=info.version)
    return model, info.version


@dataclass(slots=True)
class Customer:
    """One customer's interactions, as product ids and epoch seconds."""

    customer_id: int | None = None
    bought: list[tuple[int, float, int]] = field(default_factory=list)  # product, time, order
    viewed: list[tuple[int, float]] = field(default_factory=list)
    refunded: set[int] = field(default_factory=set)
    in_cart: set[int] = field(default_factory=set)
    country: str | None = None

    @property
    def bought_ids(self) -> set[int]:
        return {p for p, _, _ in self.bought}

    @property
    def latest(self) -> float:
        times = [t for _, t, _ in self.bought] + [t for _, t in self.viewed]
        return max(times) if times else 0.0


def _json_text(session: Session, col: Any, key: str) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return col.op("->>")(key)
    return sa.cast(sa.func.json_extract(col, f"$.{key}"), sa.String)


def _ts(v: datetime) -> float:
    return v.timestamp()


def customer(session: Session, *, customer_id: int, cart_id: int | None = None) -> Customer:
    c = customers_service.customers_table()
    country = session.execute(sa.select(c.c.country).where(c.c.id == customer_id)).first()
    if country is None:
        raise NotFound(f"no customer {customer_id}", field="customer_id")
    out = Customer(customer_id=customer_id, country=country[0])
    o = orders_service.orders_table()
    ln = orders_service.order_lines_table()
    rows = session.execute(
        sa.select(ln.c.product_id, o.c.placed_at, o.c.id, o.c.status)
        .join(ln, ln.c.order_id == o.c.id)
        .where(o.c.customer_id == customer_id, ln.c.product_id.is_not(None))
        .where(o.c.status != "cancelled")
    ).all()
    out.bought = [(int(p), _ts(t), int(oid)) for p, t, oid, _ in rows]
    out.refunded = {int(p) for p, _, _, st in rows if st == "refunded"}
    out.refunded |= _refunded_lines(session, customer_id)
    out.viewed = _views(session, customer_id)
    out.in_cart = _cart(session, customer_id, cart_id)
    return out


def _refunded_lines(session: Session, customer_id: int) -> set[int]:
    """Products named in the customer's partial refunds (by sku or product external id)."""
    o = orders_service.orders_table()
    r = orders_service.refunds_table()
    docs = session.execute(
        sa.select(r.c.lines, o.c.source_id)
        .join(o, o.c.id == r.c.order_id)
        .where(o.c.customer_id == customer_id)
    ).all()
    skus: set[str] = set()
    exts: set[tuple[int, str]] = set()
    for lines, source_id in docs:
        for line in lines or []:
            if not isinstance(line, dict):
                continue
            if line.get("sku"):
                skus.add(str(line["sku"]))
            if line.get("product_external_id") and source_id is not None:
                exts.add((int(source_id), str(line["product_external_id"])))
    found: set[int] = set()
    if skus:
        p = catalog_service.products_table()
        found |= {int(i) for (i,) in session.execute(sa.select(p.c.id).where(p.c.sku.in_(skus)))}
    if exts:
        x = catalog_service.product_external_ids_table()
        for source_id, ext in exts:
            found |= {
                int(i)
                for (i,) in session.execute(
                    sa.select(x.c.product_id).where(
                        x.c.source_id == source_id, x.c.external_id == ext
                    )
                )
            }
    return found


def _views(session: Session, customer_id: int) -> list[tuple[int, float]]:
    e = events_service.events_table()
    recent = (
        sa.select(e.c.source_id, e.c.timestamp, e.c.properties)
        .where(e.c.customer_id == customer_id, e.c.name == VIEW_EVENT)
        .order_by(e.c.timestamp.desc())
        .limit(RECENT_VIEWS)
        .subquery()
    )
    x = catalog_service.product_external_ids_table()
    p = catalog_service.products_table()
    ext = _json_text(session, recent.c.properties, "product_id")
    sku = _json_text(session, recent.c.properties, "sku")
    rows = session.execute(
        sa.select(sa.func.coalesce(x.c.product_id, p.c.id), recent.c.timestamp)
        .select_from(recent)
        .outerjoin(x, sa.and_(x.c.source_id == recent.c.source_id, x.c.external_id == ext))
        .outerjoin(p, p.c.sku == sku)
    ).all()
    return [(int(pid), _ts(t)) for pid, t in rows if pid is not None]


def _cart(session: Session, customer_id: int | None, cart_id: int | None) -> set[int]:
    carts = orders_service.carts_table()
    cl = orders_service.cart_lines_table()
    stmt = sa.select(cl.c.product_id).join(carts, carts.c.id == cl.c.cart_id)
    stmt = stmt.where(cl.c.product_id.is_not(None), cl.c.quantity > 0)
    if cart_id is not None:
        stmt = stmt.where(carts.c.id == cart_id)
    else:
        stmt = stmt.where(
            carts.c.customer_id == customer_id, carts.c.status.in_(("open", "checkout"))
        )
    return {int(p) for (p,) in session.execute(stmt)}


def cart(session: Session, *, cart_id: int) -> tuple[set[int], int | None]:
    """(product ids in the cart, its customer) or NotFound."""
    carts = orders_service.carts_table()
    row = session.execute(sa.select(carts.c.customer_id).where(carts.c.id == cart_id)).first()
    if row is None:
        raise NotFound(f"no cart {cart_id}", field="cart_id")
    return _cart(session, None, cart_id), row[0]


@dataclass(slots=True)
class Product:
    id: int
    title: str
    sku: str | None
    category_path: str | None
    brand: str | None
    price: int | None
    currency: str | None
    status: str
    stock: int | None


def products(session: Session, ids: list[int]) -> dict[int, Product]:
    """Fresh rows of the candidate products (status and stock as of now)."""
    if not ids:
        return {}
    p = catalog_service.products_table()
    rows = session.execute(
        sa.select(
            p.c.id, p.c.title, p.c.sku, p.c.category_path, p.c.brand, p.c.price, p.c.currency,
            p.c.status, p.c.stock,
        ).where(p.c.id.in_(ids))
    ).all()  # fmt: skip
    return {int(r.id): Product(*r) for r in rows}


def product(session: Session, product_id: int) -> Product:
    found = products(session, [product_id])
    if product_id not in found:
        raise NotFound(f"no product {product_id}", field="product_id")
    return found[product_id]


def index_of(model: scoring.Model, product_ids: list[int] | set[int]) -> np.ndarray[Any, Any]:
    """Model indexes of the products it knows (unknown ones are dropped)."""
    ids = np.asarray(sorted(product_ids), dtype=np.int64)
    if len(ids) == 0 or len(model.item_ids) == 0:
        return np.zeros(0, dtype=np.int64)
    pos = np.searchsorted(model.item_ids, ids)
    pos = np.minimum(pos, len(model.item_ids) - 1)
    return np.asarray(pos[model.item_ids[pos] == ids], dtype=np.int64)


def now_for(model: scoring.Model, c: Customer) -> float:
    return max(model.trained_until, c.latest)
