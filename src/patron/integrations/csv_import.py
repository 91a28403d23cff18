"""Generic CSV files: orders (one row per order line), customers and products.

Each field is read from the column of the same name (case, spaces, '_' and '-' ignored:
"Order ID" is `order_id`) unless `--map field=Header` names another. Money columns are in
major units ("12.50"); dates ISO 8601 (no offset = UTC).

Orders: rows sharing `order_id` form one order; order-level fields (date, customer,
currency, shipping, tax, discount, status, channel) come from its first row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patron.catalog.schemas import ProductIn, ProductRef, ProductStatus
from patron.core.errors import ValidationError
from patron.core.money import KNOWN_CURRENCIES
from patron.core.time import as_utc, utcnow
from patron.customers.schemas import IdentityKey, IdentityKind, ResolveRequest
from patron.integrations.countries import country_code
from patron.integrations.files import read_header, read_rows
from patron.integrations.importers import (
    ORDER_CHUNK,
    Grouper,
    ImportReport,
    Item,
    Progress,
    RowError,
    parse_local_datetime,
    parse_money,
    parse_quantity,
)
from patron.orders.schemas import CustomerRefIn, OrderIn, OrderLineIn, OrderStatus
from patron.store.schemas import Channel

MAP_FIELD = "--map"
CUSTOMER_FIELDS = ("customer_id", "email", "phone", "first_name", "last_name", "country", "city",
                   "locale", "tags")  # fmt: skip
ORDER_FIELDS = (
    "order_id", "number", "placed_at", "currency", "status", "channel", "sku", "product_id",
    "title", "category", "brand", "quantity", "unit_price", "line_discount", "discount",
    "shipping", "tax", "total", "coupon", *CUSTOMER_FIELDS,
)  # fmt: skip
PRODUCT_FIELDS = ("product_id", "sku", "title", "category", "brand", "price", "currency",
                  "image_url", "url", "status", "stock")  # fmt: skip
FIELDS = {"orders": ORDER_FIELDS, "customers": CUSTOMER_FIELDS, "products": PRODUCT_FIELDS}
REQUIRED = {
    "orders": ("order_id", "placed_at", "quantity", "unit_price"),
    "customers": (),
    "products": (),
}


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


def parse_mapping(pairs: list[str], kind: str) -> dict[str, str]:
    """['email=E-mail address', ...] -> {'email': 'E-mail address'}; unknown fields refused."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, header = pair.partition("=")
        name = name.strip()
        if not sep or not name or not header.strip():
            raise ValidationError(f"expected field=Header, got {pair!r}", field=MAP_FIELD)
        if name not in FIELDS[kind]:
            raise ValidationError(
                f"unknown {kind} field {name!r}; known: {', '.join(FIELDS[kind])}",
                field=MAP_FIELD,
            )
        out[name] = header.strip()
    return out


@dataclass(slots=True)
class Columns:
    index: dict[str, int]

    def get(self, cells: list[str], name: str) -> str:
        i = self.index.get(name)
        return cells[i].strip() if i is not None and i < len(cells) else ""


def columns(path: Path, kind: str, mapping: dict[str, str]) -> Columns:
    header = read_header(path)
    by_norm = {_norm(h): i for i, h in enumerate(header)}
    by_exact = {h: i for i, h in enumerate(header)}
    index: dict[str, int] = {}
    for name in FIELDS[kind]:
        if name in mapping:
            wanted = mapping[name]
            i = by_exact.get(wanted, by_norm.get(_norm(wanted)))
            if i is None:
                raise ValidationError(f"{name}={wanted}: the file has no column {wanted!r}",
                                      field=MAP_FIELD)  # fmt: skip
            index[name] = i
        elif _norm(name) in by_norm:
            index[name] = by_norm[_norm(name)]
    missing = [n for n in REQUIRED[kind] if n not in index]
    if kind == "orders" and not {"sku", "product_id", "title"} & set(index):
        missing.append("sku")
    if kind == "customers" and not {"customer_id", "email", "phone"} & set(index):
        missing.append("customer_id")
    if kind == "products" and not {"product_id", "sku"} & set(index):
        missing.append("sku")
    if missing:
        raise ValidationError(
            f"no column for {', '.join(missing)} (name it with --map {missing[0]}=Header)",
            field=MAP_FIELD,
        )
    return Columns(index)


def _profile(
    cols: Columns, cells: list[str], source_key: str
) -> tuple[list[IdentityKey], dict[str, Any]]:
    keys: list[IdentityKey] = []
    cid, email, phone = (cols.get(cells, f) for f in ("customer_id", "email", "phone"))
    if cid:
        keys.append(IdentityKey.of(IdentityKind.EXTERNAL, cid, source_key))
    if email:
        local, _, domain = email.partition("@")
        if not local or "." not in domain:
            raise RowError("email", f"not an email address: {email!r}")
        keys.append(IdentityKey.of(IdentityKind.EMAIL, email))
    if phone:
        if sum(ch.isdigit() for ch in phone) < 5:
            raise RowError("phone", f"not a phone number: {phone!r}")
        keys.append(IdentityKey.of(IdentityKind.PHONE, phone))
    traits: dict[str, Any] = {}
    for name in ("first_name", "last_name", "city", "locale"):
        value = cols.get(cells, name)
        if value:
            traits[name] = value[:200]
    country = cols.get(cells, "country")
    if country:
        code = country_code(country)
        if code is None:
            raise RowError("country", f"unknown country {country!r}")
        traits["country"] = code
    tags = cols.get(cells, "tags")
    if tags:
        traits["tags"] = [t.strip() for t in re.split(r"[;,|]", tags) if t.strip()]
    return keys, traits


def _rows(
    path: Path, report: ImportReport, progress: Progress | None
) -> Iterator[tuple[int, list[str]]]:
    for n, (row, cells) in enumerate(read_rows(path), start=1):
        report.rows += 1
        if progress is not None and n % 5000 == 0:
            progress(row)
        yield row, cells


def customers(
    path: Path, source_key: str, report: ImportReport, mapping: dict[str, str],
    progress: Progress | None = None,
) -> Iterator[Item[ResolveRequest]]:  # fmt: skip
    cols = columns(path, "customers", mapping)
    for row, cells in _rows(path, report, progress):
        try:
            keys, traits = _profile(cols, cells, source_key)
            if not keys:
                raise RowError("customer_id", "a customer needs a customer_id, email or phone")
        except RowError as exc:
            report.reject(row, exc.column, exc.reason)
            continue
        yield Item(ResolveRequest(keys=keys, traits=traits), [row])


def products(
    path: Path, source_key: str, report: ImportReport, mapping: dict[str, str],
    progress: Progress | None = None,
) -> Iterator[Item[ProductIn]]:  # fmt: skip
    del source_key
    cols = columns(path, "products", mapping)
    for row, cells in _rows(path, report, progress):
        g = cols.get
        try:
            ext, sku = g(cells, "product_id") or None, g(cells, "sku") or None
            if not ext and not sku:
                raise RowError("sku", "a product needs a sku or product_id")
            currency = _currency(g(cells, "currency") or None)
            price = g(cells, "price")
            status = g(cells, "status").lower() or None
            if status is not None and status not in {s.value for s in ProductStatus}:
                raise RowError("status", f"unknown status {status!r}")
            stock = g(cells, "stock")
            product = ProductIn(
                external_id=ext, sku=sku, title=g(cells, "title") or sku or ext,
                category_path=g(cells, "category") or None, brand=g(cells, "brand") or None,
                price=parse_money(price, currency or "USD", "price") if price else None,
                currency=currency if price else None, image_url=g(cells, "image_url") or None,
                url=g(cells, "url") or None,
                status=ProductStatus(status) if status else None,
                stock=parse_quantity(stock, "stock") if stock else None,
            )  # fmt: skip
            if product.stock is not None and product.stock < 0:
                raise RowError("stock", "must not be negative")
            if price and currency is None:
                raise RowError("currency", "a price needs a currency")
        except RowError as exc:
            report.reject(row, exc.column, exc.reason)
            continue
        yield Item(product, [row])


def _currency(value: str | None) -> str | None:
    if value is None:
        return None
    if value.upper() not in KNOWN_CURRENCIES:
        raise RowError("currency", f"not an ISO 4217 currency code: {value!r}")
    return value.upper()


@dataclass(slots=True)
class _OrderRow:
    row: int
    cells: list[str]


def orders(
    path: Path, source_key: str, report: ImportReport, mapping: dict[str, str],
    progress: Progress | None = None, *, default_currency: str = "USD",
) -> Iterator[Item[OrderIn]]:  # fmt: skip
    cols = columns(path, "orders", mapping)
    grouper: Grouper[list[str]] = Grouper(ORDER_CHUNK)

    def emit(key: str, rows: list[tuple[int, list[str]]]) -> Item[OrderIn] | None:
        good: list[tuple[int, OrderLineIn]] = []
        first_row, first = rows[0]
        try:
            head = _order_head(cols, first, key, source_key, default_currency)
        except RowError as exc:
            for r, _ in rows:
                report.reject(r, exc.column, f"order {key}: {exc.reason}"
                              if r != first_row else exc.reason)  # fmt: skip
            return None
        for r, cells in rows:
            try:
                good.append((r, _line(cols, cells, head.currency)))
            except RowError as exc:
                report.reject(r, exc.column, exc.reason)
        if not good:
            return None
        head.lines = [ln for _, ln in good]
        return Item(head, [r for r, _ in good])

    make: Callable[[str, list[tuple[int, list[str]]]], Item[OrderIn] | None] = emit
    for row, cells in _rows(path, report, progress):
        key = cols.get(cells, "order_id")
        if not key:
            report.reject(row, "order_id", "is empty")
            continue
        if not grouper.add(key, row, cells):
            report.reject(row, "order_id", f"order {key} was already imported from rows far "
                          "above; sort the file by order id")  # fmt: skip
            continue
        for k, rows in grouper.ready():
            if (item := make(k, rows)) is not None:
                yield item
    for k, rows in grouper.rest():
        if (item := make(k, rows)) is not None:
            yield item


def _order_head(
    cols: Columns, cells: list[str], key: str, source_key: str, default_currency: str
) -> OrderIn:
    g = cols.get
    currency = _currency(g(cells, "currency") or None) or default_currency
    placed = g(cells, "placed_at")
    if not placed:
        raise RowError("placed_at", "is empty")
    placed_at = parse_local_datetime(placed, "placed_at")
    keys, traits = _profile(cols, cells, source_key)
    status = g(cells, "status").lower() or None
    if status is not None and status not in {s.value for s in OrderStatus}:
        raise RowError("status", f"unknown status {status!r}")
    channel = g(cells, "channel").lower() or "web"
    if channel not in {c.value for c in Channel}:
        raise RowError("channel", f"unknown channel {channel!r}")
    total = g(cells, "total")
    coupon = g(cells, "coupon")
    return OrderIn(
        external_id=key[:128], number=(g(cells, "number") or key)[:64],
        placed_at=as_utc(placed_at) if placed_at else utcnow(), currency=currency,
        customer=CustomerRefIn(keys=keys, traits=traits), channel=channel,
        status=OrderStatus(status) if status else None,
        discount_total=_money(g(cells, "discount"), currency, "discount"),
        shipping_total=_money(g(cells, "shipping"), currency, "shipping"),
        tax_total=_money(g(cells, "tax"), currency, "tax"),
        total=parse_money(total, currency, "total") if total else None,
        coupon_codes=[c.strip() for c in coupon.split(",") if c.strip()] if coupon else [],
    )  # fmt: skip


def _money(text: str, currency: str, column: str) -> int:
    return parse_money(text, currency, column) if text else 0


def _line(cols: Columns, cells: list[str], currency: str) -> OrderLineIn:
    g = cols.get
    sku, ext, title = g(cells, "sku") or None, g(cells, "product_id") or None, g(cells, "title")
    if not (sku or ext or title):
        raise RowError("sku", "a line needs a sku, product_id or title")
    quantity = parse_quantity(g(cells, "quantity"), "quantity")
    if quantity <= 0:
        raise RowError("quantity", f"must be positive, got {quantity}")
    price = g(cells, "unit_price")
    if not price:
        raise RowError("unit_price", "is empty")
    return OrderLineIn(
        product=ProductRef(external_id=ext, sku=sku, title=title or None,
                           category_path=g(cells, "category") or None,
                           brand=g(cells, "brand") or None),
        quantity=quantity, unit_price=parse_money(price, currency, "unit_price"),
        discount=_money(g(cells, "line_discount"), currency, "line_discount"),
    )  # fmt: skip
