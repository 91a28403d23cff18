"""Products and variants: set-based upserts from every source; CRUD for the API."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Table, bindparam, func, insert, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from patron.catalog.models import Product, ProductExternalId, Variant
from patron.catalog.schemas import (
    CATEGORY_SEPARATOR,
    ExternalIdRead,
    ProductCreate,
    ProductIn,
    ProductPage,
    ProductRead,
    ProductRef,
    ProductStatus,
    ProductUpdate,
    VariantIn,
    VariantRead,
)
from patron.core.errors import Conflict, NotFound, ValidationError
from patron.core.money import normalize_currency
from patron.core.pagination import clamp_limit, decode_cursor, encode_cursor
from patron.core.time import parse_datetime, utcnow
from patron.db import by_id, keyset_before, table_of

_list = list  # `list` is a service verb here
_CHUNK = 500  # keys per IN (...): well under SQLite's variable limit
_PRODUCT_FIELDS = (
    "sku",
    "title",
    "category_path",
    "brand",
    "price",
    "currency",
    "image_url",
    "url",
    "status",
    "stock",
)
_VARIANT_FIELDS = ("sku", "title", "price", "currency", "stock")


def _insert(session: Session):  # type: ignore[no-untyped-def]
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _clean_category(path: str | None) -> str | None:
    if path is None:
        return None
    parts = [p.strip() for p in path.replace("/", ">").split(">") if p.strip()]
    return CATEGORY_SEPARATOR.join(parts) or None


def _check_money(price: int | None, stock: int | None, currency: str | None, at: str) -> str | None:
    if price is not None and (not isinstance(price, int) or price < 0):
        raise ValidationError(f"{at}price must be a non-negative integer", field=f"{at}price")
    if stock is not None and (not isinstance(stock, int) or stock < 0):
        raise ValidationError(f"{at}stock must be a non-negative integer", field=f"{at}stock")
    return None if currency is None else normalize_currency(currency, field=f"{at}currency")


def _product_values(p: ProductIn, at: str) -> dict[str, Any]:
    """The non-None stored fields of `p`, validated and normalised."""
    currency = _check_money(p.price, p.stock, p.currency, at)
    status = None
    if p.status is not None:
        try:
            status = ProductStatus(p.status).value
        except ValueError:
            raise ValidationError(f"{at}status must be one of active, draft, archived",
                                  field=f"{at}status") from None  # fmt: skip
    values = {
        "sku": p.sku.strip() if p.sku else None,
        "title": p.title.strip()[:500] if p.title else None,
        "category_path": _clean_category(p.category_path),
        "brand": p.brand,
        "price": p.price,
        "currency": currency,
        "image_url": p.image_url,
        "url": p.url,
        "status": status,
        "stock": p.stock,
    }
    return {k: v for k, v in values.items() if v is not None}


def _lookup_external(
    session: Session, model: Any, id_col: Any, source_id: int, keys: Iterable[str]
) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(set(keys))):
        found.update(
            session.execute(
                select(model.external_id, id_col).where(
                    model.source_id == source_id, model.external_id.in_(chunk)
                )
            ).all()
        )
    return found


def _lookup_sku(session: Session, model: Any, keys: Iterable[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(set(keys))):
        found.update(session.execute(select(model.sku, model.id).where(model.sku.in_(chunk))).all())
    return found


def _rows_by_id(
    session: Session, model: Any, fields: Sequence[str], ids: Iterable[int]
) -> dict[int, Any]:
    cols = [model.id, model.properties, *[getattr(model, f) for f in fields]]
    out: dict[int, Any] = {}
    for chunk in _chunks(sorted(set(ids))):
        for row in session.execute(select(*cols).where(model.id.in_(chunk))):
            out[row.id] = row
    return out


def _apply_updates(session: Session, model: Any, updates: _list[dict[str, Any]]) -> None:
    """executemany UPDATE, one statement per shape of changed columns."""
    by_shape: dict[tuple[str, ...], _list[dict[str, Any]]] = {}
    for values in updates:
        by_shape.setdefault(tuple(sorted(values)), []).append(values)
    for shape, batch in by_shape.items():
        cols = [c for c in shape if c != "b_id"]
        stmt = (
            sa.update(model)
            .where(model.id == bindparam("b_id"))
            .values({c: bindparam(f"v_{c}", type_=getattr(model, c).type) for c in cols})
            .execution_options(synchronize_session=False)
        )
        session.connection().execute(
            stmt,
            by_id(
                [{("b_id" if k == "b_id" else f"v_{k}"): v for k, v in b.items()} for b in batch]
            ),
        )


def _diff(row: Any, values: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    changed = {k: v for k, v in values.items() if getattr(row, k) != v}
    if props:
        merged = {**(row.properties or {}), **props}
        if merged != row.properties:
            changed["properties"] = merged
    return changed


def upsert_products(
    session: Session, *, products: Sequence[ProductIn], source_id: int
) -> _list[int]:
    """Create or update products (and their variants); ids in input order.

    Matched by (source_id, external_id), then by sku; a product seen from a second source
    gains a second external id instead of becoming a second product. None fields keep what
    is stored. Set-based: a few statements per call, whatever its size.
    """
    if not products:
        return []
    now = utcnow()
    values = [_product_values(p, f"products[{i}].") for i, p in enumerate(products)]
    exts = {p.external_id for p in products if p.external_id}
    by_ext = _lookup_external(
        session, ProductExternalId, ProductExternalId.product_id, source_id, exts
    )
    by_sku = _lookup_sku(session, Product, (v["sku"] for v in values if "sku" in v))
    ids: _list[int | None] = [None] * len(products)
    # Inputs that name no stored product: grouped by shared ext id / sku into new products.
    new_groups: dict[int, _list[int]] = {}
    batch_ext: dict[str, int] = {}
    batch_sku: dict[str, int] = {}
    for i, (p, v) in enumerate(zip(products, values, strict=True)):
        pid = by_ext.get(p.external_id or "") or by_sku.get(v.get("sku", ""))
        if pid is not None:
            ids[i] = pid
            continue
        leader = batch_ext.get(p.external_id or "")
        if leader is None:
            leader = batch_sku.get(v.get("sku", ""))
        if leader is None:
            leader = i
            new_groups[i] = []
        new_groups[leader].append(i)
        if p.external_id:
            batch_ext.setdefault(p.external_id, leader)
        if "sku" in v:
            batch_sku.setdefault(v["sku"], leader)
    # Updates of stored products: only columns whose value changes; later inputs win.
    patches: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
    for i, pid in enumerate(ids):
        if pid is not None:
            v, props = patches.setdefault(pid, ({}, {}))
            v.update(values[i])
            props.update(products[i].properties)
    if patches:
        current = _rows_by_id(session, Product, _PRODUCT_FIELDS, patches)
        updates = []
        for pid, (v, props) in patches.items():
            sku = v.get("sku")
            if sku is not None and by_sku.get(sku, pid) != pid:
                v.pop("sku")  # the sku belongs to another product: keep this one's
            changed = _diff(current[pid], v, props)
            if changed:
                changed["updated_at"] = now
                changed["b_id"] = pid
                updates.append(changed)
        _apply_updates(session, Product, updates)
    if new_groups:
        rows = []
        for members in new_groups.values():
            row: dict[str, Any] = {"properties": {}}
            for i in members:
                row.update(values[i])
                row["properties"].update(products[i].properties)
            p0 = products[members[0]]
            row.setdefault("title", row.get("sku") or p0.external_id or "")
            row.setdefault("status", ProductStatus.ACTIVE.value)
            row.update(source_id=source_id, created_at=now, updated_at=now)
            rows.append({c: row.get(c) for c in (*_PRODUCT_FIELDS, "properties", "source_id",
                                                  "created_at", "updated_at")})  # fmt: skip
        new_ids = session.scalars(
            insert(table_of(Product)).returning(
                table_of(Product).c.id, sort_by_parameter_order=True
            ),
            rows,
        ).all()
        for (_leader, members), pid in zip(new_groups.items(), new_ids, strict=True):
            for i in members:
                ids[i] = pid
    # Every (source, external id) not yet linked gains a link to its product.
    links = {
        p.external_id: ids[i]
        for i, p in enumerate(products)
        if p.external_id and p.external_id not in by_ext
    }
    if links:
        session.execute(
            _insert(session)(table_of(ProductExternalId)).on_conflict_do_nothing(
                index_elements=["source_id", "external_id"]
            ),
            [{"product_id": pid, "source_id": source_id, "external_id": e} for e, pid in
             sorted(links.items())],  # key order: concurrent writers lock in one order
        )  # fmt: skip
    result = [pid for pid in ids if pid is not None]
    variants = [
        (pid, f"products[{i}].variants[{j}].", v)
        for i, (p, pid) in enumerate(zip(products, result, strict=True))
        for j, v in enumerate(p.variants)
    ]
    if variants:
        _upsert_variants(session, variants, source_id, now)
    session.flush()
    return result


def _upsert_variants(
    session: Session, variants: _list[tuple[int, str, VariantIn]], source_id: int, now: Any
) -> None:
    by_ext = _lookup_external(
        session, Variant, Variant.id, source_id, (v.external_id for _, _, v in variants if
                                                  v.external_id)
    )  # fmt: skip
    by_sku = _lookup_sku(session, Variant, (v.sku for _, _, v in variants if v.sku))
    patches: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
    new: dict[tuple[str, str], dict[str, Any]] = {}
    for pid, at, v in variants:
        currency = _check_money(v.price, v.stock, v.currency, at)
        vals = {
            "sku": v.sku, "title": v.title or None, "price": v.price, "currency": currency,
            "stock": v.stock,
        }  # fmt: skip
        vals = {k: x for k, x in vals.items() if x is not None}
        vid = by_ext.get(v.external_id or "") or by_sku.get(v.sku or "")
        if vid is not None:
            pv, props = patches.setdefault(vid, ({}, {}))
            pv.update(vals)
            props.update(v.properties)
            continue
        key = ("e", v.external_id) if v.external_id else ("s", v.sku or f"{pid}:{at}")
        row = new.setdefault(key, {"product_id": pid, "properties": {}})
        row.update(vals)
        row["properties"].update(v.properties)
    if patches:
        current = _rows_by_id(session, Variant, _VARIANT_FIELDS, patches)
        updates = []
        for vid, (pv, props) in patches.items():
            changed = _diff(current[vid], pv, props)
            if changed:
                changed.update(updated_at=now, b_id=vid)
                updates.append(changed)
        _apply_updates(session, Variant, updates)
    if new:
        rows = []
        for (kind, name), row in new.items():
            rows.append({
                "product_id": row["product_id"], "sku": row.get("sku"),
                "title": row.get("title", ""), "price": row.get("price"),
                "currency": row.get("currency"), "stock": row.get("stock"),
                "properties": row["properties"], "source_id": source_id,
                "external_id": name if kind == "e" else None,
                "created_at": now, "updated_at": now,
            })  # fmt: skip
        session.execute(insert(table_of(Variant)), rows)


def resolve_products(
    session: Session, *, refs: Sequence[ProductRef], source_id: int
) -> _list[int | None]:
    """The product id behind each ref (by external id, then sku), creating missing products
    from what the ref knows. A ref with neither external id nor sku resolves to None."""
    by_ext = _lookup_external(
        session,
        ProductExternalId,
        ProductExternalId.product_id,
        source_id,
        (r.external_id for r in refs if r.external_id),
    )
    by_sku = _lookup_sku(session, Product, (r.sku for r in refs if r.sku))
    result: _list[int | None] = [None] * len(refs)
    missing: dict[tuple[str | None, str | None], ProductIn] = {}
    links: dict[str, int] = {}
    for i, r in enumerate(refs):
        if not r.external_id and not r.sku:
            continue
        pid = by_ext.get(r.external_id or "")
        if pid is None and r.sku and r.sku in by_sku:
            pid = by_sku[r.sku]
            if r.external_id:
                links.setdefault(r.external_id, pid)
        if pid is not None:
            result[i] = pid
            continue
        key = (r.external_id, r.sku)
        if key not in missing:
            missing[key] = ProductIn(
                external_id=r.external_id, sku=r.sku, title=r.title or r.sku or r.external_id,
                category_path=r.category_path, brand=r.brand, price=r.price,
                currency=r.currency, image_url=r.image_url, url=r.url,
            )  # fmt: skip
    if links:
        session.execute(
            _insert(session)(table_of(ProductExternalId)).on_conflict_do_nothing(
                index_elements=["source_id", "external_id"]
            ),
            [{"product_id": p, "source_id": source_id, "external_id": e} for e, p in
             sorted(links.items())],  # key order: concurrent writers lock in one order
        )  # fmt: skip
    if missing:
        created = dict(
            zip(missing, upsert_products(session, products=_list(missing.values()),
                                         source_id=source_id), strict=True)
        )  # fmt: skip
        for i, r in enumerate(refs):
            if result[i] is None and (r.external_id or r.sku):
                result[i] = created.get((r.external_id, r.sku))
    return result


# --- one product at a time (the API) ----------------------------------------------------


def _read_many(session: Session, rows: Sequence[Product]) -> _list[ProductRead]:
    ids = [r.id for r in rows]
    exts: dict[int, _list[ExternalIdRead]] = {}
    variants: dict[int, _list[VariantRead]] = {}
    for chunk in _chunks(ids):
        for e in session.scalars(
            select(ProductExternalId)
            .where(ProductExternalId.product_id.in_(chunk))
            .order_by(ProductExternalId.id)
        ):
            exts.setdefault(e.product_id, []).append(
                ExternalIdRead(source_id=e.source_id, external_id=e.external_id)
            )
        for v in session.scalars(
            select(Variant).where(Variant.product_id.in_(chunk)).order_by(Variant.id)
        ):
            variants.setdefault(v.product_id, []).append(VariantRead.model_validate(v))
    out = []
    for r in rows:
        item = ProductRead.model_validate(r)
        item.external_ids = exts.get(r.id, [])
        item.variants = variants.get(r.id, [])
        out.append(item)
    return out


def get(session: Session, *, product_id: int) -> ProductRead:
    row = session.get(Product, product_id)
    if row is None:
        raise NotFound(f"product {product_id} not found", field="product_id")
    return _read_many(session, [row])[0]


def _check_sku_free(session: Session, sku: str | None, product_id: int | None = None) -> None:
    if sku is None:
        return
    owner = session.scalar(select(Product.id).where(Product.sku == sku))
    if owner is not None and owner != product_id:
        raise Conflict(f"sku {sku!r} belongs to product {owner}", field="sku")


def create(session: Session, *, data: ProductCreate, source_id: int | None = None) -> ProductRead:
    """One product from the API; 409 on a taken sku or external id."""
    currency = _check_money(data.price, data.stock, data.currency, "")
    _check_sku_free(session, data.sku)
    if data.external_id is not None:
        if source_id is None:
            raise ValidationError("external_id needs a source", field="source")
        taken = session.scalar(
            select(ProductExternalId.product_id).where(
                ProductExternalId.source_id == source_id,
                ProductExternalId.external_id == data.external_id,
            )
        )
        if taken is not None:
            raise Conflict(f"external id belongs to product {taken}", field="external_id")
    now = utcnow()
    row = Product(
        sku=data.sku, title=data.title, category_path=_clean_category(data.category_path),
        brand=data.brand, price=data.price, currency=currency, image_url=data.image_url,
        url=data.url, status=data.status.value, stock=data.stock, properties=data.properties,
        source_id=source_id, created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(row)
    session.flush()
    if data.external_id is not None and source_id is not None:
        session.add(
            ProductExternalId(product_id=row.id, source_id=source_id, external_id=data.external_id)
        )
        session.flush()
    return get(session, product_id=row.id)


def update(session: Session, *, product_id: int, data: ProductUpdate) -> ProductRead:
    row = session.get(Product, product_id)
    if row is None:
        raise NotFound(f"product {product_id} not found", field="product_id")
    patch = data.model_dump(exclude_unset=True)
    if "currency" in patch and patch["currency"] is not None:
        patch["currency"] = normalize_currency(patch["currency"])
    if "title" in patch and patch["title"] is None:
        raise ValidationError("title may not be null", field="title")
    if "status" in patch:
        if patch["status"] is None:
            raise ValidationError("status may not be null", field="status")
        patch["status"] = ProductStatus(patch["status"]).value
    if patch.get("sku") is not None:
        _check_sku_free(session, patch["sku"], product_id)
    if "category_path" in patch:
        patch["category_path"] = _clean_category(patch["category_path"])
    props = patch.pop("properties", None)
    for k, v in patch.items():
        setattr(row, k, v)
    if props is not None:
        merged = {**row.properties, **props}
        row.properties = {k: v for k, v in merged.items() if v is not None}
    row.updated_at = utcnow()
    session.flush()
    return get(session, product_id=product_id)


def list(  # noqa: A001 - the service verb
    session: Session,
    *,
    q: str | None = None,
    category: str | None = None,
    brand: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> ProductPage:
    """Newest first, keyset-paginated. `q`: title prefix, exact sku or external id."""
    limit = clamp_limit(limit)
    stmt = select(Product)
    if q and q.strip():
        stmt = stmt.where(_search(session, q.strip()))
    if category:
        cat = _clean_category(category) or ""
        stmt = stmt.where(
            or_(Product.category_path == cat, Product.category_path.startswith(
                cat + CATEGORY_SEPARATOR, autoescape=True))
        )  # fmt: skip
    if brand:
        stmt = stmt.where(Product.brand == brand)
    if status:
        try:
            stmt = stmt.where(Product.status == ProductStatus(status).value)
        except ValueError:
            raise ValidationError("status must be active, draft or archived",
                                  field="status") from None  # fmt: skip
    if cursor:
        created, pid = decode_cursor(cursor, arity=2)
        if not isinstance(pid, int):
            raise ValidationError("cursor is not valid", field="cursor")
        at = parse_datetime(created, field="cursor")
        stmt = stmt.where(keyset_before(Product.created_at, Product.id, at, pid))
    stmt = stmt.order_by(Product.created_at.desc(), Product.id.desc()).limit(limit + 1)
    rows = session.scalars(stmt).all()
    items = _read_many(session, rows[:limit])
    nxt = None
    if len(rows) > limit:
        nxt = encode_cursor([items[-1].created_at.isoformat(), items[-1].id])
    return ProductPage(items=items, next_cursor=nxt)


def _search(session: Session, q: str) -> ColumnElement[bool]:
    collation = "C" if session.get_bind().dialect.name == "postgresql" else "BINARY"
    title = func.lower(Product.title).collate(collation)
    low = q.lower()
    by_ext = select(ProductExternalId.product_id).where(ProductExternalId.external_id == q)
    return or_(
        (title >= low) & (title < low + "\U0010ffff"), Product.sku == q, Product.id.in_(by_ext)
    )


def products_table() -> Table:
    """The products table (Core), for other domains' read-only aggregate SQL."""
    return table_of(Product)


def product_external_ids_table() -> Table:
    """Product external ids per source (Core), for other domains' read-only SQL."""
    return table_of(ProductExternalId)
