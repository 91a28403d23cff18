"""The CDNOW file (Fader & Hardie): whitespace-separated `customer_id date count dollars`
(the 1/10 sample adds a sample id after the customer id; the last three fields are read).

One line -> one order (source key "cdnow"): external id `<customer>-<YYYYMMDD>-<line>`
(several lines can share a customer and a day; the file line number keeps them apart and
stable, so a re-import matches), USD, channel web, placed at midnight UTC of the date, one
line "CD" x count whose line total is exactly the dollar value (unit price rounded up, the
remainder as a line discount). Customer = EXTERNAL id of the source.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from patron.catalog.schemas import ProductRef
from patron.customers.schemas import IdentityKey, IdentityKind, ResolveRequest
from patron.integrations.files import read_whitespace_rows
from patron.integrations.importers import (
    ImportReport,
    Item,
    Progress,
    RowError,
    parse_money,
    parse_quantity,
)
from patron.orders.schemas import CustomerRefIn, OrderIn, OrderLineIn

SOURCE_KEY = "cdnow"
CURRENCY = "USD"
PRODUCT = ProductRef(external_id="CD", sku="CD", title="CD")


def parse(row: int, fields: list[str], source_key: str) -> OrderIn:
    if len(fields) < 4:
        raise RowError("line", f"expected customer, date, count, dollars; got {len(fields)} fields")
    customer = fields[0]
    day, count_text, dollars = fields[-3:]
    try:
        placed_at = datetime.strptime(day, "%Y%m%d").replace(tzinfo=UTC)
    except ValueError:
        raise RowError("date", f"not a YYYYMMDD date: {day!r}") from None
    count = parse_quantity(count_text, "count")
    if count <= 0:
        raise RowError("count", f"must be positive, got {count}")
    amount = parse_money(dollars, CURRENCY, "dollar_value")
    unit = -(-amount // count)
    return OrderIn(
        external_id=f"{customer}-{day}-{row}", number=f"{customer}-{day}-{row}",
        placed_at=placed_at, currency=CURRENCY, channel="web",
        customer=CustomerRefIn(keys=[IdentityKey.of(IdentityKind.EXTERNAL, customer,
                                                    source_key)]),
        lines=[OrderLineIn(product=PRODUCT, quantity=count, unit_price=unit,
                           discount=unit * count - amount)],
    )  # fmt: skip


def _rows(
    path: Path, report: ImportReport, progress: Progress | None
) -> Iterator[tuple[int, list[str]]]:
    for n, (row, fields) in enumerate(read_whitespace_rows(path), start=1):
        report.rows += 1
        if progress is not None and n % 5000 == 0:
            progress(row)
        yield row, fields


def orders(
    path: Path, source_key: str, report: ImportReport, progress: Progress | None = None
) -> Iterator[Item[OrderIn]]:
    for row, fields in _rows(path, report, progress):
        try:
            yield Item(parse(row, fields, source_key), [row])
        except RowError as exc:
            report.reject(row, exc.column, exc.reason)


def customers(
    path: Path, source_key: str, report: ImportReport, progress: Progress | None = None
) -> Iterator[Item[ResolveRequest]]:
    """One profile per customer id (first seen at its first purchase)."""
    seen: dict[str, tuple[list[int], datetime]] = {}
    for row, fields in _rows(path, report, progress):
        try:
            order = parse(row, fields, source_key)
        except RowError as exc:
            report.reject(row, exc.column, exc.reason)
            continue
        rows, first = seen.get(fields[0], ([], order.placed_at))
        rows.append(row)
        seen[fields[0]] = (rows, min(first, order.placed_at))
    for cid, (rows, first) in seen.items():
        key = IdentityKey.of(IdentityKind.EXTERNAL, cid, source_key)
        yield Item(ResolveRequest(keys=[key], seen_at=first), rows)
