"""Import of the UCI Online Retail file through `patron import`, against bare executemany.

For each backend: a fresh database, `patron import orders FILE --format online-retail`
as a subprocess (what a user runs: parsing, validation, identity resolution, catalog,
orders, lines, refunds, customer stats, timeline), then a second import of the same file
(idempotence: nothing changes). Baseline in the same run and process tree: the same
file's rows parsed with csv and loaded with plain executemany into a bare 8-column table
with no index, in chunks of 10,000 rows committed once (what the storage itself can do).

    .venv/bin/python bench/import_online_retail.py [--backend sqlite postgresql] [--rows N]

`--rows N` imports the file's first N lines (a quicker run; the figure names its size).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import drop_database, fresh_database, last_line, machine, patron  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "online_retail_uci"
BARE = sa.text(
    "CREATE TABLE bare_lines (invoice TEXT, stock_code TEXT, description TEXT, quantity"
    " INTEGER, invoice_date TEXT, unit_price NUMERIC, customer_id TEXT, country TEXT)"
)
INSERT = sa.text(
    "INSERT INTO bare_lines VALUES (:invoice, :stock_code, :description, :quantity,"
    " :invoice_date, :unit_price, :customer_id, :country)"
)


def prefix_file(source: Path, rows: int | None, tmp: Path) -> Path:
    if rows is None:
        return source
    out = tmp / f"online_retail_{rows}.csv.gz"
    with gzip.open(source, "rt", newline="") as fin, gzip.open(out, "wt", newline="") as fout:
        for i, line in enumerate(fin):
            if i > rows:
                break
            fout.write(line)
    return out


def baseline(url: str, path: Path) -> tuple[int, float]:
    """Seconds to parse the file and executemany its rows into a bare table."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"),
                              poolclass=NullPool)  # fmt: skip
    with engine.begin() as conn:
        conn.execute(BARE)
    started = time.perf_counter()
    count = 0
    with gzip.open(path, "rt", newline="", encoding="utf-8") as fh, engine.connect() as conn:
        reader = csv.reader(fh)
        next(reader)
        chunk: list[dict[str, object]] = []
        for r in reader:
            chunk.append({
                "invoice": r[0], "stock_code": r[1], "description": r[2],
                "quantity": int(float(r[3])), "invoice_date": r[4], "unit_price": r[5],
                "customer_id": r[6] or None, "country": r[7],
            })  # fmt: skip
            if len(chunk) == 10_000:
                conn.execute(INSERT, chunk)
                conn.commit()
                count += len(chunk)
                chunk = []
        if chunk:
            conn.execute(INSERT, chunk)
            conn.commit()
            count += len(chunk)
    seconds = time.perf_counter() - started
    engine.dispose()
    return count, seconds


def run(backend: str, path: Path) -> dict[str, object]:
    url = fresh_database(backend, f"patron_bench_import_{backend}")
    try:
        patron(url, "init", "--credentials-file", "/dev/null")
        started = time.perf_counter()
        first = json.loads(last_line(patron(url, "import", "orders", str(path),
                                            "--format", "online-retail", "--json")))  # fmt: skip
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        again = json.loads(last_line(patron(url, "import", "orders", str(path),
                                            "--format", "online-retail", "--json")))  # fmt: skip
        again_seconds = time.perf_counter() - started
    finally:
        drop_database(url)
    bare_url = fresh_database(backend, f"patron_bench_bare_{backend}")
    try:
        rows, bare_seconds = baseline(bare_url, path)
    finally:
        drop_database(bare_url)
    lines = int(first["rows"])
    return {
        "backend": backend,
        "lines": lines,
        "imported": first["imported"],
        "rejected": first["rejected"],
        "orders_created": first["orders_created"],
        "seconds": round(seconds, 1),
        "lines_per_s": round(lines / seconds),
        "reimport_seconds": round(again_seconds, 1),
        "reimport_orders_created": again["orders_created"],
        "reimport_orders_updated": again["orders_updated"],
        "baseline_lines_per_s": round(rows / bare_seconds),
        "ratio_to_baseline": round((lines / seconds) / (rows / bare_seconds), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", nargs="+", default=["sqlite", "postgresql"],
                    choices=["sqlite", "postgresql"])  # fmt: skip
    ap.add_argument("--rows", type=int, default=None, help="only the first N lines")
    ap.add_argument("--repeat", type=int, default=1, help="runs per backend (median)")
    args = ap.parse_args()
    source = DATA / "online_retail.csv.gz"
    if not source.is_file():
        raise SystemExit(f"{source} is missing: this bench needs the real file")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = prefix_file(source, args.rows, Path(tmp))
        for backend in args.backend:
            runs = [run(backend, path) for _ in range(args.repeat)]
            for r in runs:
                print(json.dumps(r))
            ratios = [float(r["ratio_to_baseline"]) for r in runs]  # type: ignore[arg-type]
            best = sorted(runs, key=lambda r: float(r["ratio_to_baseline"]))  # type: ignore[arg-type]
            results.append({**best[len(best) // 2], "median_ratio": statistics.median(ratios)})
    print(json.dumps({"bench": "import_online_retail", "runs": results, "machine": machine()}))


if __name__ == "__main__":
    main()
