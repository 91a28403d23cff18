"""Read the store's interactions and catalog into arrays (set-based SQL), train, store.

Purchases are the lines of orders that were not cancelled, of known customers and products.
Views are "Product Viewed" events of known customers, matched to products by the event's
product_id (an external id of the event's source) or its sku.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from patron.artifacts import service as artifacts_service
from patron.artifacts.schemas import ArtifactInfo
from patron.catalog import service as catalog_service
from patron.customers import service as customers_service
from patron.events import service as events_service
from patron.orders import service as orders_service
from patron.recommendations import dataset, scoring
from patron.recommendations.schemas import ARTIFACT_KIND

VIEW_EVENT = "Product Viewed"
_FAMILY_WORDS = 2


def _epoch(values: list[datetime]) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.asarray([v.timestamp() for v in values], dtype=np.float64)


def _json_text(session: Session, col: Any, key: str) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return col.op("->>")(key)
    return sa.cast(sa.func.json_extract(col, f"$.{key}"), sa.String)


def purchases(session: Session, *, until: datetime | None = None) -> list[Any]:
    o = orders_service.orders_table()
    ln = orders_service.order_lines_table()
    stmt = (
        sa.select(o.c.customer_id, ln.c.product_id, o.c.id, o.c.placed_at, ln.c.quantity)
        .join(ln, ln.c.order_id == o.c.id)
        .where(o.c.customer_id.is_not(None), ln.c.product_id.is_not(None))
        .where(o.c.status != "cancelled", ln.c.quantity > 0)
    )
    if until is not None:
        stmt = stmt.where(o.c.placed_at < until)
    return list(session.execute(stmt).all())


def views(session: Session, *, until: datetime | None = None) -> list[Any]:
    """(customer, product, time) of product views, by external id or by sku."""
    e = events_service.events_table()
    x = catalog_service.product_external_ids_table()
    p = catalog_service.products_table()
    ext = _json_text(session, e.c.properties, "product_id")
    sku = _json_text(session, e.c.properties, "sku")
    base = [e.c.customer_id.is_not(None), e.c.name == VIEW_EVENT]
    if until is not None:
        base.append(e.c.timestamp < until)
    by_ext = (
        sa.select(e.c.customer_id, x.c.product_id, e.c.timestamp)
        .join(x, sa.and_(x.c.source_id == e.c.source_id, x.c.external_id == ext))
        .where(*base)
    )
    by_sku = (
        sa.select(e.c.customer_id, p.c.id, e.c.timestamp)
        .join(p, p.c.sku == sku)
        .where(*base)
        .where(~sa.exists().where(x.c.source_id == e.c.source_id, x.c.external_id == ext))
    )
    return list(session.execute(by_ext).all()) + list(session.execute(by_sku).all())


def catalog_rows(session: Session) -> list[Any]:
    p = catalog_service.products_table()
    stmt = sa.select(
        p.c.id, p.c.title, p.c.category_path, p.c.brand, p.c.price, p.c.currency, p.c.properties
    ).order_by(p.c.id)
    return list(session.execute(stmt).all())


def family_of(title: str, brand: str | None, properties: dict[str, Any] | None) -> str:
    """Diversity key: `properties.family` if the store sets one, else the brand and the first
    two title words after it ("JUMBO BAG RED" and "JUMBO BAG PINK" are one family)."""
    if properties and isinstance(properties.get("family"), str | int):
        return f"f:{properties['family']}"
    skip = set((brand or "").lower().split())
    words = [w for w in title.lower().split() if w not in skip][:_FAMILY_WORDS]
    return f"{(brand or '').lower()}|{' '.join(words)}"


def load(
    session: Session, *, until: datetime | None = None
) -> tuple[dataset.Dataset, scoring.Catalog]:
    """The interactions (optionally only those before `until`) and the whole catalog."""
    buys = purchases(session, until=until)
    seen = views(session, until=until)
    products = catalog_rows(session)
    c = customers_service.customers_table()
    countries = dict(
        session.execute(sa.select(c.c.id, c.c.country).where(c.c.country.is_not(None))).all()
    )
    data = dataset.build(
        user_keys=[r[0] for r in buys],
        item_keys=[r[1] for r in buys],
        basket_keys=[r[2] for r in buys],
        times=_epoch([r[3] for r in buys]),
        quantities=[r[4] for r in buys],
        view_user_keys=[r[0] for r in seen],
        view_item_keys=[r[1] for r in seen],
        view_times=_epoch([r[2] for r in seen]),
        user_country=countries,
        items=[r.id for r in products],
    )
    info = {r.id: r for r in products}
    n = data.n_items
    cat = scoring.Catalog.empty(n)
    for k, pid in enumerate(data.item_ids.tolist()):
        r = info.get(pid)
        if r is None:
            continue
        cat.titles[k] = r.title or ""
        cat.categories[k] = r.category_path
        cat.brands[k] = r.brand
        cat.prices[k] = np.nan if r.price is None else float(r.price)
        cat.currencies[k] = r.currency
        cat.families[k] = family_of(r.title or "", r.brand, r.properties)
    return data, cat


def train(session: Session, *, params: scoring.Params | None = None) -> ArtifactInfo:
    """Train every kind on all loaded data and store it as the new active version."""
    started = time.perf_counter()
    data, cat = load(session)
    loaded = time.perf_counter()
    model = scoring.fit(data, params, cat)
    fitted = time.perf_counter()
    payload = scoring.dumps(model)
    card = {
        "method": {
            "for_you": f"{model.method} on time-decayed purchases and views, plus own history "
            "for consumable categories",
            "together": "asymmetric-cosine co-purchase association with minimum support, "
            "plus the for-you item weights",
            "upsell": "same category, higher price band, ranked by decayed popularity",
            "trending": "time-decayed popularity per category and per country",
            "similar": "TF-IDF over title words, category path and brand",
            "adr": "docs/adr/0012-recommendations.md",
        },
        "params": model.params.as_dict(),
        "data": {
            "purchases": len(data.p_user),
            "views": len(data.v_user),
            "customers": data.n_users,
            "products": data.n_items,
            "trained_until": model.trained_until,
        },
        "seconds": {"load": round(loaded - started, 3), "fit": round(fitted - loaded, 3)},
    }
    return artifacts_service.save(
        session, kind=ARTIFACT_KIND, payload=payload, format="npz", card=card
    )
