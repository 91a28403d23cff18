"""What one request knows: the model in memory, the customer's history, fresh product state.

The active model is loaded once per process and replaced when a newer version becomes
active (checked with one indexed query per request, no payload read). The customer's
purchases, views, refunds and cart, and the candidates' status and stock, are read fresh
per request (a few indexed queries), so a product that sold out a minute ago is not shown.
"""

from __future__ import annotations

import functools
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
    model.sim_t = model.sim.T.tocsr()
    model.support_t = model.support.T.tocsr()
    model.basket_t = model.basket_sim.T.tocsr()
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


def _json_text(dialect: str, col: Any, key: str) -> Any:
    if dialect == "postgresql":
        return col.op("->>")(key)
    return sa.cast(sa.func.json_extract(col, f"$.{key}"), sa.String)


def _ts(v: datetime) -> float:
    return v.timestamp()


@functools.cache
def _statements(dialect: str) -> dict[str, Any]:
    """The per-request statements, built once per dialect (bound parameters only), so a
    request pays no statement construction and hits SQLAlchemy's compiled cache."""
    c = customers_service.customers_table()
    o = orders_service.orders_table()
    ln = orders_service.order_lines_table()
    r = orders_service.refunds_table()
    carts = orders_service.carts_table()
    cl = orders_service.cart_lines_table()
    e = events_service.events_table()
    x = catalog_service.product_external_ids_table()
    p = catalog_service.products_table()
    cid: Any = sa.bindparam("cid")
    recent = (
        sa.select(e.c.source_id, e.c.timestamp, e.c.properties)
        .where(e.c.customer_id == cid, e.c.name == VIEW_EVENT)
        .order_by(e.c.timestamp.desc())
        .limit(RECENT_VIEWS)
        .subquery()
    )
    ext = _json_text(dialect, recent.c.properties, "product_id")
    sku = _json_text(dialect, recent.c.properties, "sku")
    cart_lines = (
        sa.select(cl.c.product_id)
        .join(carts, carts.c.id == cl.c.cart_id)
        .where(cl.c.product_id.is_not(None), cl.c.quantity > 0)
    )
    return {
        "country": sa.select(c.c.country).where(c.c.id == cid),
        "bought": sa.select(ln.c.product_id, o.c.placed_at, o.c.id, o.c.status)
        .join(ln, ln.c.order_id == o.c.id)
        .where(o.c.customer_id == cid, ln.c.product_id.is_not(None))
        .where(o.c.status != "cancelled"),
        "refund_docs": sa.select(r.c.lines, o.c.source_id)
        .join(o, o.c.id == r.c.order_id)
        .where(o.c.customer_id == cid),
        "by_sku": sa.select(p.c.id).where(p.c.sku.in_(sa.bindparam("skus", expanding=True))),
        "by_ext": sa.select(x.c.product_id).where(
            x.c.source_id == sa.bindparam("source"), x.c.external_id == sa.bindparam("ext")
        ),
        "views": sa.select(sa.func.coalesce(x.c.product_id, p.c.id), recent.c.timestamp)
        .select_from(recent)
        .outerjoin(x, sa.and_(x.c.source_id == recent.c.source_id, x.c.external_id == ext))
        .outerjoin(p, p.c.sku == sku),
        "cart_of_id": cart_lines.where(carts.c.id == sa.bindparam("cart")),
        "cart_of_customer": cart_lines.where(
            carts.c.customer_id == cid, carts.c.status.in_(("open", "checkout"))
        ),
        "cart_owner": sa.select(carts.c.customer_id).where(carts.c.id == sa.bindparam("cart")),
        "products": sa.select(
            p.c.id,
            p.c.title,
            p.c.sku,
            p.c.category_path,
            p.c.brand,
            p.c.price,
            p.c.currency,
            p.c.status,
            p.c.stock,
        ).where(p.c.id.in_(sa.bindparam("ids", expanding=True))),  # fmt: skip
    }


def _q(session: Session) -> dict[str, Any]:
    return _statements(session.get_bind().dialect.name)


def customer(session: Session, *, customer_id: int, cart_id: int | None = None) -> Customer:
    q = _q(session)
    country = session.execute(q["country"], {"cid": customer_id}).first()
    if country is None:
        raise NotFound(f"no customer {customer_id}", field="customer_id")
    out = Customer(customer_id=customer_id, country=country[0])
    rows = session.execute(q["bought"], {"cid": customer_id}).all()
    out.bought = [(int(p), _ts(t), int(oid)) for p, t, oid, _ in rows]
    out.refunded = {int(p) for p, _, _, st in rows if st == "refunded"}
    if rows:
        out.refunded |= _refunded_lines(session, customer_id)
    out.viewed = [
        (int(pid), _ts(t))
        for pid, t in session.execute(q["views"], {"cid": customer_id})
        if pid is not None
    ]
    out.in_cart = _cart(session, customer_id, cart_id)
    return out


def _refunded_lines(session: Session, customer_id: int) -> set[int]:
    """Products named in the customer's partial refunds (by sku or product external id)."""
    q = _q(session)
    skus: set[str] = set()
    exts: set[tuple[int, str]] = set()
    for lines, source_id in session.execute(q["refund_docs"], {"cid": customer_id}):
        for line in lines or []:
            if not isinstance(line, dict):
                continue
            if line.get("sku"):
                skus.add(str(line["sku"]))
            if line.get("product_external_id") and source_id is not None:
                exts.add((int(source_id), str(line["product_external_id"])))
    found: set[int] = set()
    if skus:
        found |= {int(i) for (i,) in session.execute(q["by_sku"], {"skus": sorted(skus)})}
    for source_id, ext in sorted(exts):
        found |= {
            int(i) for (i,) in session.execute(q["by_ext"], {"source": source_id, "ext": ext})
        }
    return found


def _cart(session: Session, customer_id: int | None, cart_id: int | None) -> set[int]:
    q = _q(session)
    if cart_id is not None:
        rows = session.execute(q["cart_of_id"], {"cart": cart_id})
    else:
        rows = session.execute(q["cart_of_customer"], {"cid": customer_id})
    return {int(p) for (p,) in rows}


def cart(session: Session, *, cart_id: int) -> tuple[set[int], int | None]:
    """(product ids in the cart, its customer) or NotFound."""
    row = session.execute(_q(session)["cart_owner"], {"cart": cart_id}).first()
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
    rows = session.execute(_q(session)["products"], {"ids": sorted(set(ids))}).all()
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
