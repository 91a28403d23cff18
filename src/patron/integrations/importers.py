"""The machinery every file import shares: row rejects, grouping rows into orders, chunked
writes through the domain services, and the report.

A row that cannot be read is rejected with its row number and the reason; it never stops
the others. Writes go in chunks (one transaction each). A chunk a service refuses is split
in halves until the refused item is alone; that item's rows are rejected and every other
item lands: a bad row never blocks or half-applies the good ones.
"""

from __future__ import annotations

import gc
import gzip
import queue
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from patron.catalog import service as catalog_service
from patron.catalog.schemas import ProductIn
from patron.core.errors import PatronError
from patron.core.money import exponent
from patron.customers import service as customers_service
from patron.customers.schemas import ResolveRequest
from patron.db import unit_of_work
from patron.orders import service as orders_service
from patron.orders.schemas import OrderIn
from patron.store import service as store_service

ORDER_CHUNK = 2000  # orders per transaction
ROW_CHUNK = 2000  # customers / products per transaction

T = TypeVar("T")


class RowError(Exception):
    """A row that cannot be imported: the column at fault and why."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


@dataclass(slots=True)
class Reject:
    row: int
    column: str
    reason: str


@dataclass(slots=True)
class Item(Generic[T]):
    """One thing to write (an order, a profile, a product) and the file rows behind it."""

    value: T
    rows: list[int]


@dataclass
class ImportReport:
    rows: int = 0
    imported: int = 0
    rejects: list[Reject] = field(default_factory=list)
    orders_created: int = 0
    orders_updated: int = 0
    orders_unchanged: int = 0
    customers: int = 0
    products: int = 0

    def reject(self, row: int, column: str, reason: str) -> None:
        self.rejects.append(Reject(row, column, reason))

    def summary(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "imported": self.imported,
            "rejected": len(self.rejects),
            "orders_created": self.orders_created,
            "orders_updated": self.orders_updated,
            "orders_unchanged": self.orders_unchanged,
            "customers": self.customers,
            "products": self.products,
        }


Progress = Callable[[int], None]  # called with the number of rows read so far


# --- parsing helpers --------------------------------------------------------------------

_DT_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S")


def parse_local_datetime(text: str, column: str, zone: ZoneInfo | None = None) -> datetime:
    """'2010-12-01 08:26:00' (or ISO 8601 with an offset, or '12/1/2010 8:26') -> aware
    UTC; a time without an offset is local time of `zone` (UTC when None)."""
    parsed = _local_datetime(text.strip(), zone)
    if parsed is None:
        raise RowError(column, f"not a date-time: {text!r}")
    return parsed


@lru_cache(maxsize=1 << 16)
def _local_datetime(value: str, zone: ZoneInfo | None) -> datetime | None:
    # Cached: the lines of one order share their time stamp, and a file repeats them often.
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        for fmt in _DT_FORMATS:
            try:
                parsed = datetime.strptime(value, fmt)  # noqa: DTZ007 - zone applied below
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone or UTC)
    return parsed.astimezone(UTC)


def parse_decimal(text: str, column: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise RowError(column, f"not a number: {text!r}") from None
    if not value.is_finite():
        raise RowError(column, f"not a number: {text!r}")
    return value


def parse_quantity(text: str, column: str) -> int:
    """'6', '6.0' -> 6; '1.5', 'x', '' -> RowError."""
    return _quantity(text, column)


@lru_cache(maxsize=1 << 12)
def _quantity(text: str, column: str) -> int:
    value = parse_decimal(text, column)
    if value != value.to_integral_value():
        raise RowError(column, f"not a whole number: {text!r}")
    return int(value)


def parse_money(text: str, currency: str, column: str, *, negative: bool = False) -> int:
    """A major-unit amount ('2.55') -> minor units (255), half-even; negative refused."""
    return _minor_units(text, exponent(currency), column, negative)


def parse_minor_units(text: str, exp: int, column: str) -> int:
    """`parse_money` for a currency of `exp` minor-unit digits (hot loops look it up once)."""
    return _minor_units(text, exp, column, False)


@lru_cache(maxsize=1 << 16)
def _minor_units(text: str, exp: int, column: str, negative: bool) -> int:
    # Cached (errors are not: they raise anew): price lists repeat the same few amounts.
    value = parse_decimal(text, column)
    if value < 0 and not negative:
        raise RowError(column, f"must not be negative: {text!r}")
    return int(value.scaleb(exp).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


_INT_LIKE = re.compile(r"^\d+\.0+$")


@lru_cache(maxsize=1 << 16)
def clean_id(text: str) -> str:
    """'17850.0' -> '17850' (spreadsheets turn ids into floats); others stripped. Cached:
    a file names the same customers over and over."""
    value = text.strip()
    return value.split(".", 1)[0] if _INT_LIKE.match(value) else value


def count_lines(path: Path) -> int:
    """Lines in a (possibly gzipped) file, for the progress bar; cheap next to the import."""
    with path.open("rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
    total = 0
    opener: Any = gzip.open if gz else open
    with opener(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            total += chunk.count(b"\n")
    return total


# --- grouping rows into orders ------------------------------------------------------------


class Grouper(Generic[T]):
    """Collects the rows of each key (an invoice, an order id) in file order.

    Rows of one key are usually together; the most recent `window` keys stay open so rows
    that are a little apart still join (the UCI file has one such invoice). `ready()` yields
    groups that are old enough; a row for a key already written is rejected.
    """

    def __init__(self, window: int = ORDER_CHUNK) -> None:
        self.window = window
        self.open: OrderedDict[str, list[tuple[int, T]]] = OrderedDict()
        self.done: set[str] = set()

    def add(self, key: str, row: int, value: T) -> bool:
        """False when `key` was already written (the caller rejects the row)."""
        if key in self.done:
            return False
        self.open.setdefault(key, []).append((row, value))
        return True

    def ready(self) -> Iterator[tuple[str, list[tuple[int, T]]]]:
        while len(self.open) > self.window:
            key, rows = self.open.popitem(last=False)
            self.done.add(key)
            yield key, rows

    def rest(self) -> Iterator[tuple[str, list[tuple[int, T]]]]:
        while self.open:
            key, rows = self.open.popitem(last=False)
            self.done.add(key)
            yield key, rows


# --- writing ----------------------------------------------------------------------------


def source_id_for(key: str) -> int:
    with unit_of_work() as session:
        return store_service.ensure_source(session, key=key).id


def _write(
    items: Sequence[Item[Any]],
    apply: Callable[[Session, list[Any]], None],
    report: ImportReport,
) -> None:
    """Apply `items` in one transaction; on refusal, split until the culprit is alone."""
    if not items:
        return
    try:
        with unit_of_work() as session:
            apply(session, [it.value for it in items])
    except (PatronError, SQLAlchemyError) as exc:
        if len(items) == 1:
            if isinstance(exc, PatronError):
                column, reason = exc.field or "", exc.message
            else:
                column, reason = "", f"refused by the database: {str(exc).splitlines()[0]}"
            for row in items[0].rows:
                report.reject(row, column, reason)
            return
        half = len(items) // 2
        _write(items[:half], apply, report)
        _write(items[half:], apply, report)
        return
    report.imported += sum(len(it.rows) for it in items)


def write_orders(items: Sequence[Item[OrderIn]], source_id: int, report: ImportReport) -> None:
    def apply(session: Session, orders: list[OrderIn]) -> None:
        summary = orders_service.upsert_orders(session, orders=orders, source_id=source_id)
        done.append((summary.created, summary.updated, summary.unchanged))

    # upsert_orders raises before returning when it refuses a batch, so each summary here
    # belongs to a call whose transaction then committed.
    done: list[tuple[int, int, int]] = []
    _write(items, apply, report)
    for created, updated, unchanged in done:
        report.orders_created += created
        report.orders_updated += updated
        report.orders_unchanged += unchanged


def write_profiles(
    items: Sequence[Item[ResolveRequest]], source_id: int, report: ImportReport, seen: set[int]
) -> None:
    for it in items:
        it.value.source_id = it.value.source_id or source_id

    def apply(session: Session, requests: list[ResolveRequest]) -> None:
        seen.update(customers_service.resolve_many(session, requests))

    _write(items, apply, report)
    report.customers = len(seen)


def write_products(
    items: Sequence[Item[ProductIn]], source_id: int, report: ImportReport, seen: set[int]
) -> None:
    def apply(session: Session, products: list[ProductIn]) -> None:
        seen.update(
            catalog_service.upsert_products(session, products=products, source_id=source_id)
        )

    _write(items, apply, report)
    report.products = len(seen)


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_END = object()


def prefetched(batches: Iterator[list[T]]) -> Iterator[list[T]]:
    """`batches`, read one ahead in a thread: the next chunk is parsed while this one is
    written (the database works with the GIL released: SQLite's steps, PostgreSQL's round
    trips). Only for readers that touch nothing shared but `report.rows` and
    `report.reject` (list appends). A reader's exception is raised here, in order."""
    slot: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                slot.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not put(batch):
                    return
            put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(_Failed(exc))

    worker = threading.Thread(target=produce, name="import-reader", daemon=True)
    worker.start()
    try:
        while True:
            item = slot.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item
    finally:
        stop.set()
        worker.join()


@contextmanager
def collecting_per_chunk(every: int = 25) -> Iterator[Callable[[], None]]:
    """Automatic garbage collection off for a bulk import; the caller ticks the function
    this yields once per chunk, and every `every` chunks the cycle collector runs. A file
    import allocates millions of small objects that live until their chunk is written (no
    cycles: refcounting frees them); the collector's own heuristics ran over them again and
    again, about half the CPU time of the Online Retail import."""
    was_enabled = gc.isenabled()
    gc.disable()
    ticks = 0

    def tick() -> None:
        nonlocal ticks
        ticks += 1
        if ticks % every == 0:
            gc.collect()

    try:
        yield tick
    finally:
        if was_enabled:
            gc.enable()
