"""Customer 360 reads at 1,000,000 customers: p50/p99 under 50 concurrent clients.

Seeds a fresh database set-based in SQL (customers, two identities each, N timeline entries
each), starts a real `patron serve`, then reads GET /api/customers/{random id} from 50
concurrent clients (asyncio keep-alive connections, closed loop: each client sends its next
request when the last one answered). As a baseline in the same run, GET /health measures what the
server stack alone costs at the same concurrency.

    python bench/customer_360.py --backend postgresql --customers 1000000

`--baseline-src DIR --rounds N` also serves earlier code (DIR is a checkout's src/, first on
PYTHONPATH) and alternates it with this code N times in the same run, against the same store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import time

import sqlalchemy as sa

from _common import (
    RESULTS,
    closed_loop,
    drop_database,
    existing_database,
    fresh_database,
    last_line,
    machine,
    patron,
    percentile,
    server,
)

SQL_PG = [
    """INSERT INTO customers (id, is_anonymous, email, first_name, last_name, country, tags,
        properties, created_at, updated_at, orders_count, total_spent, channels)
       SELECT g, false, 'c' || g || '@example.com', 'First' || g, 'Last' || g, 'ID', '[]'::jsonb,
        jsonb_build_object('tier', g % 5), now() - (g % 700) * interval '1 day', now(),
        g % 7, (g % 7) * 125000, '["web"]'::jsonb
       FROM generate_series(1, :n) g""",
    """INSERT INTO customer_identities (customer_id, kind, source, value, created_at)
       SELECT g, 'email', '', 'c' || g || '@example.com', now() FROM generate_series(1, :n) g
       UNION ALL
       SELECT g, 'external', 'shopify', 'S' || g, now() FROM generate_series(1, :n) g""",
    """INSERT INTO timeline_entries (customer_id, occurred_at, kind, channel, title, data)
       SELECT g, now() - (g % 700 + e) * interval '1 hour',
        CASE WHEN e % 4 = 0 THEN 'order' ELSE 'event' END, 'web',
        CASE WHEN e % 4 = 0 THEN 'Order placed' ELSE 'Product Viewed' END, '{}'::jsonb
       FROM generate_series(1, :n) g, generate_series(1, :e) e""",
    "SELECT setval(pg_get_serial_sequence('customers', 'id'), :n)",
]
SQL_SQLITE = [
    """WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < :n)
       INSERT INTO customers (id, is_anonymous, email, first_name, last_name, country, tags,
        properties, created_at, updated_at, orders_count, total_spent, channels)
       SELECT x, 0, 'c' || x || '@example.com', 'First' || x, 'Last' || x, 'ID', '[]',
        json_object('tier', x % 5), datetime('now', '-' || (x % 700) || ' days'),
        datetime('now'), x % 7, (x % 7) * 125000, '["web"]' FROM g""",
    """WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < :n)
       INSERT INTO customer_identities (customer_id, kind, source, value, created_at)
       SELECT x, 'email', '', 'c' || x || '@example.com', datetime('now') FROM g
       UNION ALL SELECT x, 'external', 'shopify', 'S' || x, datetime('now') FROM g""",
    """WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < :n),
       e(y) AS (SELECT 1 UNION ALL SELECT y + 1 FROM e WHERE y < :e)
       INSERT INTO timeline_entries (customer_id, occurred_at, kind, channel, title, data)
       SELECT x, datetime('now', '-' || (x % 700 + y) || ' hours'),
        CASE WHEN y % 4 = 0 THEN 'order' ELSE 'event' END, 'web',
        CASE WHEN y % 4 = 0 THEN 'Order placed' ELSE 'Product Viewed' END, '{}'
       FROM g, e""",
    "ANALYZE",
]


def _count_customers(url: str) -> int | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM customers")).scalar_one())
    except sa.exc.DBAPIError:
        return None
    finally:
        engine.dispose()


def seed(url: str, customers: int, entries: int) -> float:
    from patron.db import make_engine

    engine = make_engine(url)
    started = time.perf_counter()
    with engine.begin() as conn:
        for sql in SQL_PG if url.startswith("postgresql") else SQL_SQLITE:
            conn.execute(sa.text(sql), {"n": customers, "e": entries})
    if url.startswith("postgresql"):
        # As a maintained database is: hint bits set and visibility map current (autovacuum
        # would do it later, in the middle of the measurement).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
    engine.dispose()
    return time.perf_counter() - started


WRK_SCRIPT = """
math.randomseed(7)
request = function()
  local path = base_path
  if max_id > 0 then path = path .. math.random(1, max_id) end
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. key})
end
"""


def run_wrk(base: str, path: str, key: str, clients: int, seconds: int, max_id: int) -> dict:
    """wrk (written in C) as the load generator, so the client costs the 2 cores little:
    `clients` connections on 2 threads; latency percentiles from its --latency report."""
    script = RESULTS / "wrk_360.lua"
    RESULTS.mkdir(parents=True, exist_ok=True)
    script.write_text(f'base_path = "{path}"\nmax_id = {max_id}\nkey = "{key}"\n' + WRK_SCRIPT)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{clients}", f"-d{seconds}s", "--latency", "-s", str(script), base],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    script.unlink()
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    pct = {
        p: float(v) * unit[u]
        for p, v, u in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)", out, re.M)
    }
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": round(rps),
        "p50_ms": round(pct["50"], 1),
        "p90_ms": round(pct["90"], 1),
        "p99_ms": round(pct["99"], 1),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="postgresql")
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--entries", type=int, default=8, help="timeline entries per customer")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument(
        "--wrk",
        type=int,
        default=0,
        metavar="SECONDS",
        help="also load with wrk (C, Debian package wrk) for SECONDS per path",
    )
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="keep the database and, when it already holds --customers customers, do not seed",
    )
    ap.add_argument(
        "--compare-freeze",
        action="store_true",
        help="also serve with PATRON_FREEZE_HEAP=0 (ADR 23) in the same run, as a baseline",
    )
    ap.add_argument(
        "--baseline-src",
        metavar="DIR",
        help="also serve the code in DIR (a checkout's src/, e.g. `git worktree add` of an "
        "earlier commit) as a baseline, alternating with this code --rounds times",
    )
    ap.add_argument("--rounds", type=int, default=1, help="alternations with --baseline-src")
    args = ap.parse_args()

    name = f"patron_bench_360_{args.backend}"
    url = existing_database(args.backend, name) if args.reuse else None
    seconds = None
    if url is None or _count_customers(url) != args.customers:
        url = fresh_database(args.backend, name)
        patron(url, "init", "--credentials-file", "/dev/null")
        seconds = round(seed(url, args.customers, args.entries), 1)
    key = last_line(patron(url, "keys", "create", "--name", "bench", "--role", "analyst"))
    rng = random.Random(7)
    paths = [f"/api/customers/{rng.randint(1, args.customers)}" for _ in range(args.requests)]
    headers = {"Authorization": f"Bearer {key}"}
    gets = [("GET", p, b"") for p in paths]
    variants: list[tuple[str, dict[str, str]]] = [("frozen", {})]
    if args.compare_freeze:
        variants.append(("unfrozen", {"PATRON_FREEZE_HEAP": "0"}))
    if args.baseline_src:
        variants = []
        for n in range(1, args.rounds + 1):
            variants += [(f"baseline_{n}", {"PYTHONPATH": args.baseline_src}), (f"this_{n}", {})]
    runs: dict[str, dict] = {}
    try:
        for label, env in variants:
            with server(url, workers=args.workers, env=env) as base:
                asyncio.run(closed_loop(base, gets[:500], clients=args.clients, headers=headers))
                health = [("GET", "/health", b"")] * args.requests
                base_lat, _ = asyncio.run(
                    closed_loop(base, health, clients=args.clients, headers=headers)
                )
                lat, wall = asyncio.run(
                    closed_loop(base, gets, clients=args.clients, headers=headers)
                )
                run = {
                    "p50_ms": round(percentile(lat, 50), 1),
                    "p99_ms": round(percentile(lat, 99), 1),
                    "rps": round(args.requests / wall),
                    "health_p50_ms": round(percentile(base_lat, 50), 1),
                    "health_p99_ms": round(percentile(base_lat, 99), 1),
                    "load_1m": round(os.getloadavg()[0], 2),
                }
                if args.wrk:
                    run["wrk_health"] = run_wrk(base, "/health", key, args.clients, args.wrk, 0)
                    run["wrk_360"] = run_wrk(base, "/api/customers/", key, args.clients,
                                             args.wrk, args.customers)  # fmt: skip
                runs[label] = run
    finally:
        if not (args.keep or args.reuse):
            drop_database(url)
    result = {
        "bench": "customer_360",
        "backend": args.backend,
        "customers": args.customers,
        "timeline_rows": args.customers * args.entries,
        "seed_s": seconds,
        "clients": args.clients,
        "requests": args.requests,
        "server_workers": args.workers,
        **runs.get("frozen", {}),
        "machine": machine(),
    }
    if args.baseline_src:
        result["alternated"] = runs
    if args.compare_freeze:
        result["unfrozen"] = runs["unfrozen"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
