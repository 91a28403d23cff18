"""`patron import ...`: files in (CSV, UCI Online Retail, CDNOW)."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from patron.clitools import console, err_console, fail, handles_errors
from patron.core.errors import ValidationError
from patron.db import refresh_statistics, unit_of_work
from patron.integrations import cdnow, csv_import, online_retail
from patron.integrations.importers import (
    ORDER_CHUNK,
    ROW_CHUNK,
    ImportReport,
    Item,
    chunked,
    collecting_per_chunk,
    count_lines,
    prefetched,
    source_id_for,
    write_orders,
    write_products,
    write_profiles,
)
from patron.store import service as store_service


class Kind(StrEnum):
    ORDERS = "orders"
    CUSTOMERS = "customers"
    PRODUCTS = "products"


class Format(StrEnum):
    CSV = "csv"
    ONLINE_RETAIL = "online-retail"
    CDNOW = "cdnow"


DEFAULT_SOURCE = {Format.CSV: "csv", Format.ONLINE_RETAIL: online_retail.SOURCE_KEY,
                  Format.CDNOW: cdnow.SOURCE_KEY}  # fmt: skip
SHOWN_REJECTS = 20


def _items(
    kind: Kind, fmt: Format, path: Path, source_key: str, report: ImportReport,
    mapping: dict[str, str], progress: Callable[[int], None],
) -> Iterator[Item[Any]]:  # fmt: skip
    if fmt is Format.ONLINE_RETAIL:
        reader = {
            Kind.ORDERS: online_retail.orders,
            Kind.CUSTOMERS: online_retail.customers,
            Kind.PRODUCTS: online_retail.products,
        }[kind]
        return reader(path, source_key, report, progress)
    if fmt is Format.CDNOW:
        if kind is Kind.PRODUCTS:
            raise ValidationError("the cdnow format has no products (orders, customers)",
                                  field="--format")  # fmt: skip
        fn = cdnow.orders if kind is Kind.ORDERS else cdnow.customers
        return fn(path, source_key, report, progress)
    if kind is Kind.ORDERS:
        with unit_of_work(readonly=True) as session:
            base = store_service.get_settings(session).base_currency
        return csv_import.orders(path, source_key, report, mapping, progress,
                                 default_currency=base)  # fmt: skip
    fn2 = csv_import.customers if kind is Kind.CUSTOMERS else csv_import.products
    return fn2(path, source_key, report, mapping, progress)


def run_import(
    kind: Kind, fmt: Format, path: Path, *, source_key: str, mapping: dict[str, str],
    progress: Callable[[int], None] = lambda _: None,
) -> ImportReport:  # fmt: skip
    """Import `path`; every chunk commits on its own. The report says what happened."""
    report = ImportReport()
    items = _items(kind, fmt, path, source_key, report, mapping, progress)
    source_id = source_id_for(source_key)
    seen: set[int] = set()
    size = ORDER_CHUNK if kind is Kind.ORDERS else ROW_CHUNK
    batches = chunked(items, size)
    if kind is Kind.ORDERS:  # order readers share only rows and rejects with the writer
        batches = prefetched(batches)
    with collecting_per_chunk() as tick:
        for n, batch in enumerate(batches):
            if n == 1:
                # PostgreSQL planned (and cached) the chunk's lookups for tables that may have
                # been empty: a seq scan per key, 200 ms a lookup by the 10th chunk of the
                # Online Retail file. Statistics from the first chunk fix the plans.
                refresh_statistics(postgresql_only=True)
            if kind is Kind.ORDERS:
                write_orders(batch, source_id, report)
            elif kind is Kind.CUSTOMERS:
                write_profiles(batch, source_id, report, seen)
            else:
                write_products(batch, source_id, report, seen)
            tick()
    report.rejects.sort(key=lambda r: r.row)  # reader and writer reject side by side
    refresh_statistics()  # the planner sees what was loaded
    return report


def _reject_table(report: ImportReport) -> Table:
    table = Table(title=f"Rejected rows (first {SHOWN_REJECTS} of {len(report.rejects)})")
    table.add_column("row", justify="right")
    table.add_column("column")
    table.add_column("reason")
    for r in sorted(report.rejects, key=lambda r: r.row)[:SHOWN_REJECTS]:
        table.add_row(str(r.row), r.column, r.reason)
    return table


@handles_errors
def import_command(
    kind: Kind = typer.Argument(..., help="orders, customers or products"),
    file: Path = typer.Argument(..., help="CSV, CSV.gz or CDNOW text file"),
    fmt: Format = typer.Option(Format.CSV, "--format", help="csv, online-retail or cdnow"),
    source: str = typer.Option("", "--source", help="source key (default: per format)"),
    map_: list[str] = typer.Option([], "--map", help="field=Header (CSV), repeatable"),
    rejects: Path | None = typer.Option(None, "--rejects", help="write rejected rows here"),
    as_json: bool = typer.Option(False, "--json", help="a JSON summary as the last line"),
) -> None:
    """Import orders (CSV: one row per order line, grouped by order_id), customers (matched
    by the source's customer_id, email or phone) or products (by product_id, then sku)."""
    _command(kind, file, fmt, source, map_, rejects, as_json)


def _command(
    kind: Kind, file: Path, fmt: Format, source: str, map_: list[str], rejects: Path | None,
    as_json: bool,
) -> None:  # fmt: skip
    from patron.store.schemas import SourceCreate

    if map_ and fmt is not Format.CSV:
        raise fail("--map applies to --format csv only", field="--map")
    source_key = source or DEFAULT_SOURCE[fmt]
    try:
        SourceCreate(key=source_key)
    except ValueError:
        raise fail("lower-case letters, digits, '.', '_' or '-'", field="--source") from None
    mapping = csv_import.parse_mapping(map_, kind.value) if map_ else {}
    if not file.is_file():
        raise fail(f"no such file: {file}", field="FILE")
    report = _with_progress(kind, fmt, file, source_key, mapping)
    if report.rejects:
        console.print(_reject_table(report))
    if rejects is not None:
        with rejects.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["row", "column", "reason"])
            for r in sorted(report.rejects, key=lambda r: r.row):
                w.writerow([r.row, r.column, r.reason])
    s = report.summary()
    what = (
        f"{s['orders_created']} orders created, {s['orders_updated']} updated, "
        f"{s['orders_unchanged']} unchanged"
        if kind is Kind.ORDERS
        else f"{s[kind.value]} {kind.value}"
    )
    console.print(f"{s['rows']} rows: {s['imported']} imported, {s['rejected']} rejected; {what}")
    if as_json:
        console.print(json.dumps(s), markup=False)
    if s["imported"] == 0 and s["rows"] > 0:
        raise fail("no row could be imported", field="FILE")
    if s["rows"] == 0:
        raise fail("the file has no data rows", field="FILE")


def _with_progress(
    kind: Kind, fmt: Format, file: Path, source_key: str, mapping: dict[str, str]
) -> ImportReport:
    total = max(count_lines(file) - 1, 1)
    if not sys.stdout.isatty():
        step = max(total // 10, 1)
        marks = {"next": step}

        def plain(row: int) -> None:
            if row >= marks["next"]:
                err_console.print(f"read {row:,} of ~{total:,} rows", markup=False)
                marks["next"] = row + step

        return run_import(kind, fmt, file, source_key=source_key, mapping=mapping,
                          progress=plain)  # fmt: skip
    with Progress(
        TextColumn(f"importing {kind.value}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=console, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("rows", total=total)
        report = run_import(
            kind, fmt, file, source_key=source_key, mapping=mapping,
            progress=lambda row: bar.update(task, completed=row),
        )  # fmt: skip
        bar.update(task, completed=total)
    return report


def load_online_retail_demo(path: Path) -> str:
    """`patron demo --from online-retail`: the whole file as orders; a one-line summary."""
    report = _with_progress(Kind.ORDERS, Format.ONLINE_RETAIL, path, online_retail.SOURCE_KEY, {})
    s = report.summary()
    return (
        f"online retail: {s['rows']:,} rows, {s['imported']:,} imported, "
        f"{s['rejected']:,} rejected; {s['orders_created']:,} orders created, "
        f"{s['orders_unchanged']:,} unchanged"
    )
