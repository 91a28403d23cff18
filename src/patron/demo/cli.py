"""`patron demo`: a seeded demo store, or the real UCI Online Retail data set."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import typer

from patron.clitools import console, err_console, fail, handles_errors
from patron.demo import generator

# `--from online-retail` loads a file through the importers (a sibling layer): patron.cli
# sets this to a function (path) -> one-line summary.
online_retail_loader: Callable[[Path], str] | None = None
DATA_CANDIDATES = (
    Path("data/online_retail.csv.gz"),
    Path("/work/shared/data/online_retail_uci/online_retail.csv.gz"),
)


@handles_errors
def demo_command(
    customers: int = typer.Option(5000, "--customers", help="how many customers"),
    seed: int = typer.Option(42, "--seed", help="random seed: same seed, same store"),
    if_empty: bool = typer.Option(False, "--if-empty", help="do nothing if customers exist"),
    from_: str = typer.Option("", "--from", help="'online-retail': load the real data set"),
    file: Path | None = typer.Option(None, "--file", help="the Online Retail CSV(.gz)"),
    as_json: bool = typer.Option(False, "--json", help="a JSON summary as the last line"),
) -> None:
    """Build a realistic demo store (customers, products, orders, carts, browsing)."""
    if customers < 1 or customers > 10_000_000:
        raise fail("must be between 1 and 10000000", field="--customers")
    if from_ not in ("", "online-retail"):
        raise fail("the only data set is 'online-retail'", field="--from")
    if if_empty and not generator.is_empty():
        console.print("the database already has customers: demo skipped")
        return
    started = time.perf_counter()
    if from_:
        path = file or next((p for p in DATA_CANDIDATES if p.is_file()), None)
        if path is None or not path.is_file():
            raise fail("the Online Retail file was not found; give its path", field="--file")
        assert online_retail_loader is not None
        console.print(online_retail_loader(path))
        return

    def progress(done: int) -> None:
        if not sys.stdout.isatty() or done == customers:
            err_console.print(f"{done:,} of {customers:,} customers", markup=False)

    report = generator.build(customers=customers, seed=seed, progress=progress)
    r = report.as_dict()
    console.print(
        f"demo store: {r['customers']:,} customers, {r['products']:,} products, "
        f"{r['orders']:,} orders ({r['lines']:,} lines, {r['cancelled']:,} cancelled, "
        f"{r['refunds']:,} refunds), {r['carts']:,} abandoned carts, {r['events']:,} "
        f"browsing events in {time.perf_counter() - started:.1f} s"
    )
    if as_json:
        console.print(json.dumps(r), markup=False)
