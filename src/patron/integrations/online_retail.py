"""The UCI "Online Retail" file (Chen, Sain & Guo 2012): one row per invoice line.

Columns: InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID,
Country. How rows become orders (source key "online-retail" unless `--source` says other):

- One invoice -> one order: external id and number = InvoiceNo, GBP, channel web,
  placed_at = the invoice's earliest InvoiceDate, read as UK local time (Europe/London,
  as the data set documents) and stored in UTC.
- CustomerID -> an EXTERNAL identity of the source, with the ISO country as a trait
  (names the ISO list does not know, e.g. "Unspecified", go to the `country_name`
  property). Rows without a CustomerID are guest checkouts: the order is imported with no
  customer.
- 'C' invoices (cancellations, negative quantities) carry no link to the invoice they
  cancel. Each becomes its own order, external id "C536379", holding the returned lines
  with positive quantities, status `cancelled` (cancelled_at = its date) and one refund of
  its whole value (refund external id = InvoiceNo, reason "cancellation invoice"). So a
  cancellation counts neither as an order nor as spend, and the money that went back is
  on the customer's timeline and in refunded totals. The original sale keeps counting:
  without the link, its spend cannot be reduced.
- Non-product codes are not products: POST, DOT (postage) and C2 (carriage) go to
  shipping_total; D (discount) to discount_total on a sale (on a cancellation it is part
  of the money returned); M (manual), S (samples), B, BANK CHARGES, AMAZONFEE, CRUK and
  PADS go to the order property `adjustments` ([{code, description, amount}]) and count in
  the total. total = lines - discount + shipping + adjustments = what the rows add up to.
- Rejected rows (row number and reason): invoices that are neither sales nor 'C'
  cancellations (the 'A' bad-debt adjustments), quantities that are not whole numbers, zero,
  or of the wrong sign for the invoice (negative quantities on sale invoices are stock
  write-offs, not sales), negative or non-numeric prices, unreadable dates, missing codes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from patron.catalog.schemas import ProductIn, ProductRef
from patron.core.errors import ValidationError
from patron.core.money import exponent
from patron.customers.schemas import IdentityKey, IdentityKind, ResolveRequest
from patron.integrations.countries import country_code
from patron.integrations.files import FILE_FIELD, read_header, read_rows
from patron.integrations.importers import (
    ORDER_CHUNK,
    Grouper,
    ImportReport,
    Item,
    Progress,
    RowError,
    clean_id,
    parse_local_datetime,
    parse_minor_units,
    parse_quantity,
)
from patron.orders.schemas import (
    CustomerRefIn,
    OrderIn,
    OrderLineIn,
    OrderStatus,
    RefundIn,
)

SOURCE_KEY = "online-retail"
CURRENCY = "GBP"
ZONE = ZoneInfo("Europe/London")
COLUMNS = (
    "InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
    "CustomerID", "Country",
)  # fmt: skip
SHIPPING_CODES = frozenset({"POST", "DOT", "C2"})
DISCOUNT_CODE = "D"
ADJUSTMENT_CODES = frozenset({"M", "S", "B", "BANK CHARGES", "AMAZONFEE", "CRUK", "PADS"})
_INVOICE = re.compile(r"^(C?)(\d+)$")


@dataclass(slots=True)
class Line:
    row: int
    invoice: str
    code: str
    description: str
    quantity: int
    unit_price: int
    at: datetime
    customer: str
    country: str


def _columns(path: Path) -> list[int]:
    header = read_header(path)
    index = {name.strip().lower(): i for i, name in enumerate(header)}
    missing = [c for c in COLUMNS if c.lower() not in index]
    if missing:
        raise ValidationError(
            f"not an Online Retail file: no column {', '.join(missing)}", field=FILE_FIELD
        )
    return [index[c.lower()] for c in COLUMNS]


_EXP = exponent(CURRENCY)
_CACHED = 1 << 16  # parsed values kept per kind
_WRITE_OFF = "negative on a sale invoice (a stock write-off, not a sale)"


def line_parser(cols: list[int]) -> Callable[[int, list[str]], Line]:
    """A parser of one data row (cells at `cols`, in COLUMNS order) into a Line; RowError
    names the column at fault. Quantities, prices, dates and customer ids repeat through
    the file: their parses are cached."""
    width = max(cols) + 1
    get = itemgetter(*cols)
    # Parsed values by text (errors are not kept: they raise anew each time).
    quantities: dict[str, int] = {}
    prices: dict[str, int] = {}
    times: dict[str, datetime] = {}
    last: list[Any] = ["", False]  # the invoice of the previous row and whether it cancels

    def parse(row: int, cells: list[str]) -> Line:
        if len(cells) < width:
            cells = cells + [""] * (width - len(cells))
        invoice, code, description, qty, date, price, customer, country = get(cells)
        invoice = invoice.strip()
        if invoice == last[0]:
            cancel = last[1]
        else:
            m = _INVOICE.match(invoice)
            if not m:
                raise RowError("InvoiceNo", f"{invoice!r} is neither a sale nor a 'C' cancellation")
            cancel = bool(m.group(1))
            last[:] = [invoice, cancel]
        code = code.strip()
        if not code:
            raise RowError("StockCode", "is empty")
        qty = qty.strip()
        quantity = quantities.get(qty)
        if quantity is None:
            quantity = parse_quantity(qty, "Quantity")
            if len(quantities) < _CACHED:
                quantities[qty] = quantity
        if quantity == 0:
            raise RowError("Quantity", "is zero")
        if cancel and quantity > 0:
            raise RowError("Quantity", "must be negative on a cancellation invoice")
        if not cancel and quantity < 0:
            raise RowError("Quantity", _WRITE_OFF)
        price = price.strip()
        minor = prices.get(price)
        if minor is None:
            minor = parse_minor_units(price, _EXP, "UnitPrice")
            if len(prices) < _CACHED:
                prices[price] = minor
        at = times.get(date)
        if at is None:
            at = parse_local_datetime(date.strip(), "InvoiceDate", ZONE)
            if len(times) < _CACHED:
                times[date] = at
        return Line(row, invoice, code, description.strip(), abs(quantity), minor, at,
                    clean_id(customer), country.strip())  # fmt: skip

    return parse


def read_lines(path: Path, report: ImportReport, progress: Progress | None) -> Iterator[Line]:
    """Parsed lines in file order; bad rows go to the report."""
    parse = line_parser(_columns(path))
    for row, cells in read_rows(path):
        report.rows += 1
        if progress is not None and report.rows % 5000 == 0:
            progress(row)
        try:
            yield parse(row, cells)
        except RowError as exc:
            report.reject(row, exc.column, exc.reason)


def customer_traits(country: str) -> dict[str, Any]:
    if not country:
        return {}
    code = country_code(country)
    return {"country": code} if code else {"properties": {"country_name": country}}


_SHIPPING, _DISCOUNT, _ADJUSTMENT = 1, 2, 3
_FEES = {**dict.fromkeys(SHIPPING_CODES, _SHIPPING), DISCOUNT_CODE: _DISCOUNT,
         **dict.fromkeys(ADJUSTMENT_CODES, _ADJUSTMENT)}  # fmt: skip


def build_order(
    invoice: str,
    lines: list[Line],
    source_key: str,
    refs: dict[tuple[str, str], ProductRef] | None = None,
) -> OrderIn:
    """The order of one invoice. `refs` shares one ProductRef per (code, description)
    across the orders of an import (refs are read, never changed)."""
    cancel = invoice.startswith("C")
    first = lines[0]
    placed_at = min(ln.at for ln in lines)
    order_lines: list[OrderLineIn] = []
    subtotal = shipping = discount = 0
    adjustments: list[dict[str, Any]] = []
    refs = {} if refs is None else refs
    for ln in lines:
        amount = ln.quantity * ln.unit_price
        fee = _FEES.get(ln.code.upper())
        if fee is None:
            ref = refs.get((ln.code, ln.description))
            if ref is None:
                ref = refs[ln.code, ln.description] = ProductRef(
                    external_id=ln.code, sku=ln.code, title=ln.description or None
                )
            order_lines.append(OrderLineIn(ref, ln.quantity, ln.unit_price))
            subtotal += amount
        elif fee == _SHIPPING:
            shipping += amount
        elif fee == _DISCOUNT and not cancel:
            discount += amount
        else:
            adjustments.append({"code": ln.code, "description": ln.description,
                                "amount": amount})  # fmt: skip
    total = subtotal - discount + shipping + sum(a["amount"] for a in adjustments)
    customer = CustomerRefIn()
    if first.customer:
        customer = CustomerRefIn(
            keys=[IdentityKey.of(IdentityKind.EXTERNAL, first.customer, source_key)],
            traits=customer_traits(first.country),
        )
    properties: dict[str, Any] = {"country": first.country} if first.country else {}
    if adjustments:
        properties["adjustments"] = adjustments
    order = OrderIn(
        external_id=invoice, number=invoice, placed_at=placed_at, currency=CURRENCY,
        customer=customer, lines=order_lines, channel="web", discount_total=discount,
        shipping_total=shipping, total=total, properties=properties,
    )  # fmt: skip
    if cancel:
        order.status = OrderStatus.CANCELLED
        order.cancelled_at = placed_at
        if total > 0:
            order.refunds = [RefundIn(
                external_id=invoice, amount=total, refunded_at=placed_at,
                reason="cancellation invoice",
                lines=[{"sku": ln.product.sku, "quantity": ln.quantity,
                        "amount": ln.quantity * ln.unit_price} for ln in order_lines],
            )]  # fmt: skip
    return order


def orders(
    path: Path, source_key: str, report: ImportReport, progress: Progress | None = None
) -> Iterator[Item[OrderIn]]:
    grouper: Grouper[Line] = Grouper(ORDER_CHUNK)
    refs: dict[tuple[str, str], ProductRef] = {}

    def emit(key: str, rows: list[tuple[int, Line]]) -> Item[OrderIn]:
        order = build_order(key, [ln for _, ln in rows], source_key, refs)
        return Item(order, [r for r, _ in rows])

    previous = ""
    for line in read_lines(path, report, progress):
        if not grouper.add(line.invoice, line.row, line):
            report.reject(line.row, "InvoiceNo",
                          f"invoice {line.invoice} was already imported from rows far above; "
                          "sort the file by InvoiceNo")  # fmt: skip
            continue
        if line.invoice != previous:  # only a new invoice can push an old one out
            previous = line.invoice
            for key, rows in grouper.ready():
                yield emit(key, rows)
    for key, rows in grouper.rest():
        yield emit(key, rows)


def customers(
    path: Path, source_key: str, report: ImportReport, progress: Progress | None = None
) -> Iterator[Item[ResolveRequest]]:
    """One profile per CustomerID (country from its latest row); guests are skipped."""
    latest: dict[str, tuple[list[int], Line]] = {}
    for line in read_lines(path, report, progress):
        if not line.customer:
            report.imported += 1  # a guest row: nothing to import, nothing wrong
            continue
        rows, _ = latest.get(line.customer, ([], line))
        rows.append(line.row)
        latest[line.customer] = (rows, line)
    for cid, (rows, line) in latest.items():
        request = ResolveRequest(
            keys=[IdentityKey.of(IdentityKind.EXTERNAL, cid, source_key)],
            traits=customer_traits(line.country),
        )
        yield Item(request, rows)


def products(
    path: Path, source_key: str, report: ImportReport, progress: Progress | None = None
) -> Iterator[Item[ProductIn]]:
    """One product per stock code (the latest description and price); fee codes skipped."""
    del source_key
    latest: dict[str, tuple[list[int], Line]] = {}
    for line in read_lines(path, report, progress):
        code = line.code.upper()
        if code in SHIPPING_CODES or code in ADJUSTMENT_CODES or code == DISCOUNT_CODE:
            report.imported += 1
            continue
        rows, prev = latest.get(line.code, ([], line))
        rows.append(line.row)
        keep = line if line.description or not prev.description else prev
        latest[line.code] = (rows, keep)
    for code, (rows, line) in latest.items():
        product = ProductIn(
            external_id=code, sku=code, title=line.description or code, price=line.unit_price,
            currency=CURRENCY,
        )  # fmt: skip
        yield Item(product, rows)
