"""`patron import` as a script runs it: a subprocess, no terminal, a real database."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from patron import db
from tests.conftest import run_patron as run
from tests.integrations.test_importers import ONLINE_RETAIL_SAMPLE


def scalar(url: str, sql: str) -> object:
    engine = db.make_engine(url)
    with engine.connect() as conn:
        value = conn.execute(sa.text(sql)).scalar()
    engine.dispose()
    return value


def test_import_online_retail_twice_with_rejects(database: str, tmp_path: Path) -> None:
    assert run(database, "init", cwd=tmp_path).returncode == 0
    sample = tmp_path / "or.csv"
    sample.write_text(ONLINE_RETAIL_SAMPLE)
    args = ("import", "orders", str(sample), "--format", "online-retail", "--json")

    first = run(database, *args, "--rejects", str(tmp_path / "rejects.csv"), cwd=tmp_path)

    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout.strip().splitlines()[-1]) == {
        "rows": 15, "imported": 10, "rejected": 5, "orders_created": 7, "orders_updated": 0,
        "orders_unchanged": 0, "customers": 0, "products": 0,
    }  # fmt: skip
    assert "Rejected rows (first 20 of 5)" in first.stdout
    assert (tmp_path / "rejects.csv").read_text().splitlines()[:2] == [
        "row,column,reason",
        '10,Quantity,"negative on a sale invoice (a stock write-off, not a sale)"',
    ]
    again = run(database, *args, cwd=tmp_path)
    assert json.loads(again.stdout.strip().splitlines()[-1])["orders_unchanged"] == 7
    assert scalar(database, "SELECT count(*) FROM orders") == 7


def test_usage_errors_exit_2_naming_the_field(database: str, tmp_path: Path) -> None:
    assert run(database, "init", cwd=tmp_path).returncode == 0
    missing = run(database, "import", "orders", str(tmp_path / "nope.csv"), cwd=tmp_path)
    assert (missing.returncode, missing.stderr.strip()) == (
        2, f"error: FILE: no such file: {tmp_path / 'nope.csv'}")  # fmt: skip
    shop = tmp_path / "shop.csv"
    shop.write_text("Order,When,Item,Qty,Price\nA,2026-01-01,S,x,1\n")
    unknown = run(database, "import", "orders", str(shop), "--map", "colour=Item", cwd=tmp_path)
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("error: --map: unknown orders field 'colour'")
    no_col = run(database, "import", "orders", str(shop), cwd=tmp_path)
    assert (no_col.returncode, no_col.stderr.strip()) == (2, (
        "error: --map: no column for order_id, placed_at, quantity, unit_price, sku "
        "(name it with --map order_id=Header)"))  # fmt: skip
    mapped = ("--map", "order_id=Order", "--map", "placed_at=When", "--map", "sku=Item",
              "--map", "quantity=Qty", "--map", "unit_price=Price")  # fmt: skip
    nothing = run(database, "import", "orders", str(shop), *mapped, "--json", cwd=tmp_path)
    assert nothing.returncode == 2
    assert nothing.stderr.strip() == "error: FILE: no row could be imported"
    assert json.loads(nothing.stdout.strip().splitlines()[-1])["rejected"] == 1
    products = run(database, "import", "products", str(shop), "--format", "cdnow", cwd=tmp_path)
    assert (products.returncode, products.stderr.strip()) == (
        2, "error: --format: the cdnow format has no products (orders, customers)")  # fmt: skip
    assert "Traceback" not in products.stderr + nothing.stderr + no_col.stderr
