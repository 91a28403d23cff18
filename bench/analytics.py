"""Analytics at scale: RFM for all customers, the KPI summary for a quarter, cohorts.

Seeds a fresh database, then times the services in-process (medians of --repeat runs) and
`patron kpis --json` once end to end. Baseline in the same run: one full scan of the
orders table (`SELECT count(*), sum(base_total) FROM orders`).

Seeds:
  --seed demo          `patron demo --customers N` (the realistic generator; ~3 orders each)
  --seed sql           set-based SQL: N customers, ~10 orders each over 730 days (1 in 37
                       cancelled), 4 channels, 2 tracked page views each, customer stats
                       recomputed from the orders in SQL (what the orders domain keeps)
  --seed online-retail the real UCI Online Retail file through `patron import`

    python bench/analytics.py --backend postgresql --seed sql --customers 1000000

A persistent store for repeated runs: `--keep-db patron_1m` seeds into the database of that
name (PostgreSQL on the bench server, or bench/results/patron_1m.db) once and reuses it while
its marker (seed, customers, schema hash of the migration) matches; when it does not, the run
stops unless `--reseed` is given. `--only kpis` times just the KPI quarter. `--adopt-schema`
keeps a store whose marker differs only in the schema: the tables it lacks are created (never
altered) and the marker updated. `--only sessions` times the stored sessions' first build
(ADR 21) and a refresh with nothing to do; `--only kpis` alone reads whatever is stored
(`--no-sessions` empties it first: the quarter numbered live).

    python bench/analytics.py --backend postgresql --customers 1000000 --keep-db patron_1m
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa

from _common import PG_ADMIN, RESULTS, ROOT, drop_database, fresh_database, machine, patron

ONLINE_RETAIL = Path("/work/shared/data/online_retail_uci/online_retail.csv.gz")
MIGRATIONS = ROOT / "src" / "patron" / "migrations" / "versions"
TIMED = ("scan", "rfm", "sessions", "order_days", "kpis", "cohorts", "cli")

PG = [
    "INSERT INTO sources (id, key, name, kind, channel, created_at)"
    " VALUES (900, 'bench', 'bench', 'web', 'web', now())",
    """INSERT INTO customers (id, is_anonymous, email, country, tags, properties, created_at,
        updated_at, orders_count, total_spent, channels)
       SELECT g, false, 'c' || g || '@example.com', (ARRAY['US','ID','CN','GB'])[1 + g % 4],
        '[]'::jsonb, '{}'::jsonb, now() - interval '740 days', now(), 0, 0, '[]'::jsonb
       FROM generate_series(1, :n) g""",
    # prev_placed_at: the customer's previous counted order, as refresh_stats keeps it
    # (a window over each customer's few generated orders; no two share a day).
    """INSERT INTO orders (customer_id, channel, status, currency, subtotal, discount_total,
        shipping_total, tax_total, total, refunded_total, base_total, base_refunded_total,
        coupon_codes, properties, placed_at, prev_placed_at, created_at, updated_at)
       SELECT g, (ARRAY['web','app','pos','social'])[1 + (g + e) % 4],
        CASE WHEN cancelled THEN 'cancelled' ELSE 'paid' END, 'USD',
        t, 0, 0, 0, t, 0, t, 0, '[]'::jsonb, '{}'::jsonb, p, prev, p, p
       FROM generate_series(1, CAST(:n AS bigint)) g
       CROSS JOIN LATERAL (
        SELECT e, t, p, cancelled, CASE WHEN NOT cancelled THEN
            max(p) FILTER (WHERE NOT cancelled) OVER (ORDER BY p
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) END AS prev
        FROM generate_series(1, 1 + (g * 7919) % 19) e
        CROSS JOIN LATERAL (SELECT 1000 + (g * 13 + e * 7919) % 20000 AS t,
         now() - ((g * 31 + e * 97) % 730) * interval '1 day'
               - ((g + e) % 24) * interval '1 hour' AS p, (g + e) % 37 = 0 AS cancelled) x
       ) y""",
    """INSERT INTO events (source_id, message_id, type, name, customer_id, timestamp,
        received_at, stored_at, properties, traits, context)
       SELECT 900, 'b' || g || '-' || e, 'page', 'Home', g,
        t.at, t.at, t.at,
        '{}'::jsonb, '{}'::jsonb, '{}'::jsonb
       FROM generate_series(1, CAST(:n AS bigint)) g, generate_series(1, 2) e,
        LATERAL (SELECT now() - ((g * 31 + e * 89) % 730) * interval '1 day' AS at) t""",
    """UPDATE customers c SET orders_count = s.n, total_spent = s.spent,
        first_order_at = s.first, last_order_at = s.last
       FROM (SELECT customer_id, count(*) n, sum(base_total - base_refunded_total) spent,
                    min(placed_at) first, max(placed_at) last
             FROM orders WHERE status <> 'cancelled' GROUP BY customer_id) s
       WHERE s.customer_id = c.id""",
    "SELECT setval(pg_get_serial_sequence('customers', 'id'), :n)",
    "VACUUM ANALYZE",
]
_NOW = "strftime('%Y-%m-%d %H:%M:%S', 'now')"
SQLITE = [
    f"INSERT INTO sources (id, key, name, kind, channel, created_at)"
    f" VALUES (900, 'bench', 'bench', 'web', 'web', {_NOW})",
    f"""WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < :n)
       INSERT INTO customers (id, is_anonymous, email, country, tags, properties, created_at,
        updated_at, orders_count, total_spent, channels)
       SELECT x, 0, 'c' || x || '@example.com',
        CASE x % 4 WHEN 0 THEN 'US' WHEN 1 THEN 'ID' WHEN 2 THEN 'CN' ELSE 'GB' END,
        '[]', '{{}}', strftime('%Y-%m-%d %H:%M:%S', 'now', '-740 days') || '.000000',
        {_NOW} || '.000000', 0, 0, '[]' FROM g""",
    """WITH RECURSIVE e(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM e WHERE k < 19)
       INSERT INTO orders (customer_id, channel, status, currency, subtotal, discount_total,
        shipping_total, tax_total, total, refunded_total, base_total, base_refunded_total,
        coupon_codes, properties, placed_at, prev_placed_at, created_at, updated_at)
       SELECT id,
        CASE (id + k) % 4 WHEN 0 THEN 'web' WHEN 1 THEN 'app' WHEN 2 THEN 'pos'
             ELSE 'social' END,
        CASE WHEN cancelled THEN 'cancelled' ELSE 'paid' END, 'USD',
        t, 0, 0, 0, t, 0, t, 0, '[]', '{}', at,
        CASE WHEN NOT cancelled THEN max(at) FILTER (WHERE NOT cancelled) OVER (
            PARTITION BY id ORDER BY at ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
        END, at, at
       FROM (SELECT c.id AS id, k, 1000 + (c.id * 13 + k * 7919) % 20000 AS t,
                    strftime('%Y-%m-%d %H:%M:%S', 'now',
                             '-' || ((c.id * 31 + k * 97) % 730) || ' days',
                             '-' || ((c.id + k) % 24) || ' hours') || '.000000' AS at,
                    (c.id + k) % 37 = 0 AS cancelled
             FROM customers c JOIN e ON k <= 1 + (c.id * 7919) % 19)""",
    """WITH RECURSIVE e(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM e WHERE k < 2)
       INSERT INTO events (source_id, message_id, type, name, customer_id, timestamp,
        received_at, stored_at, properties, traits, context)
       SELECT 900, 'b' || c.id || '-' || k, 'page', 'Home', c.id, at, at, at, '{}', '{}', '{}'
       FROM (SELECT c.id AS id, k, strftime('%Y-%m-%d %H:%M:%S', 'now',
                    '-' || ((c.id * 31 + k * 89) % 730) || ' days') || '.000000' AS at
             FROM customers c, e) c""",
    """UPDATE customers SET (orders_count, total_spent, first_order_at, last_order_at) = (
        SELECT count(*), coalesce(sum(base_total - base_refunded_total), 0), min(placed_at),
               max(placed_at)
        FROM orders o WHERE o.customer_id = customers.id AND o.status <> 'cancelled')""",
    "ANALYZE",
]


def seed_sql(url: str, n: int) -> None:
    from patron.orders import service as orders_service

    # The orders' secondary indexes are built after the rows (one sort each), not entry by
    # entry in random order while 10M rows go in; same definitions as the migration's.
    order_indexes = [i for i in orders_service.orders_table().indexes if i.name]
    engine = sa.create_engine(url)
    statements = PG if url.startswith("postgresql") else SQLITE
    with engine.connect() as conn:
        if url.startswith("postgresql"):
            conn.execute(sa.text("SET maintenance_work_mem = '512MB'"))
        for sql in statements:
            if sql in ("VACUUM ANALYZE", "ANALYZE"):
                continue
            is_orders = "INSERT INTO orders" in sql
            if is_orders:
                for index in order_indexes:
                    index.drop(conn)
            conn.execute(sa.text(sql), {"n": n})
            if is_orders:
                for index in order_indexes:
                    index.create(conn)
        conn.commit()
    if url.startswith("postgresql"):
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
    else:
        with engine.connect() as conn:
            conn.execute(sa.text("ANALYZE"))
            conn.commit()
    engine.dispose()


def schema_hash() -> str:
    """The schema the database was created with (the one generated migration)."""
    h = hashlib.sha1()
    for f in sorted(MIGRATIONS.glob("*.py")):
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def kept_url(backend: str, name: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{RESULTS / name}.db"
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def kept_marker(url: str) -> str | None:
    """The marker a kept database was seeded with, or None (missing, empty, unfinished)."""
    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            value = conn.execute(sa.text("SELECT marker FROM bench_seed")).scalar()
        engine.dispose()
    except sa.exc.SQLAlchemyError:
        return None
    return str(value) if value is not None else None


def mark_seeded(url: str, marker: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE bench_seed (marker VARCHAR(200) NOT NULL)"))
        conn.execute(sa.text("INSERT INTO bench_seed (marker) VALUES (:m)"), {"m": marker})
    engine.dispose()


def adopt_schema(url: str, found: str, marker: str) -> bool:
    """Create the tables (and their indexes) a kept store lacks when only the schema hash
    differs; existing tables are left as they are. True when the store was adopted."""
    if found.rsplit(":", 1)[0] != marker.rsplit(":", 1)[0]:
        return False
    from patron import tables  # noqa: F401 - registers every model
    from patron.db import Base

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        have = set(sa.inspect(conn).get_table_names())
        missing = [t for t in Base.metadata.sorted_tables if t.name not in have]
        Base.metadata.create_all(conn, tables=missing)
        from patron.orders import day_marks

        day_marks.install(conn)  # what migrations/env.py does after every upgrade
        conn.execute(sa.text("UPDATE bench_seed SET marker = :m"), {"m": marker})
    engine.dispose()
    print(f"adopted: created {[t.name for t in missing]}", file=sys.stderr)
    return True


def timed(fn, repeat: int) -> tuple[float, list[float]]:  # type: ignore[no-untyped-def]
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs), runs


def last_full_quarter(today: date) -> tuple[date, date]:
    q = (today.month - 1) // 3
    end = date(today.year, 3 * q + 1, 1)
    start = date(end.year - (end.month == 1), (end.month - 4) % 12 + 1, 1)
    return start, end


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], required=True)
    ap.add_argument("--seed", choices=["sql", "demo", "online-retail"], default="sql")
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    ap.add_argument(
        "--keep-db",
        metavar="NAME",
        help="seed into database NAME once and reuse it while seed, size and schema match",
    )
    ap.add_argument(
        "--reseed",
        action="store_true",
        help="with --keep-db: drop and seed again when the kept database does not match",
    )
    ap.add_argument(
        "--adopt-schema",
        action="store_true",
        help="with --keep-db: create the tables a kept store lacks and take the new schema",
    )
    ap.add_argument(
        "--no-sessions",
        action="store_true",
        help="drop the stored sessions' state first (the KPI quarter numbers sessions live)",
    )
    ap.add_argument(
        "--only", default=",".join(TIMED), help=f"comma-separated subset of {','.join(TIMED)}"
    )
    args = ap.parse_args()
    only = set(args.only.split(","))
    if only - set(TIMED):
        ap.error(f"--only takes {','.join(TIMED)}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    marker = f"{args.seed}:{args.customers}:{schema_hash()}"
    reused = False
    if args.keep_db:
        url = kept_url(args.backend, args.keep_db)
        found = kept_marker(url)
        reused = found == marker
        if found is not None and not reused and args.adopt_schema:
            reused = adopt_schema(url, found, marker)
        if found is not None and not reused and not args.reseed:
            ap.error(
                f"{args.keep_db} was seeded as {found}, not {marker} (another size or schema);"
                " pass --reseed to drop it and seed it again (others may be using it)"
            )
        if not reused:
            url = fresh_database(args.backend, args.keep_db)
    else:
        url = fresh_database(args.backend)
    t0 = time.perf_counter()
    if not reused:
        creds = str(RESULTS / "analytics-bench-credentials.txt")
        patron(url, "init", "--credentials-file", creds)
        t0 = time.perf_counter()
        if args.seed == "sql":
            seed_sql(url, args.customers)
        elif args.seed == "demo":
            patron(url, "demo", "--customers", str(args.customers), "--json")
        else:
            patron(url, "init", "--currency", "GBP", "--credentials-file", creds)
            patron(url, "import", "orders", str(ONLINE_RETAIL), "--format", "online-retail",
                   "--json")  # fmt: skip
        if args.keep_db:
            mark_seeded(url, marker)
    seed_s = time.perf_counter() - t0

    from patron import db
    from patron.analytics import service

    engine = db.make_engine(url)
    db.set_engine(engine)
    with engine.connect() as conn:
        orders, customers = (
            conn.execute(sa.text("SELECT count(*) FROM orders")).scalar(),
            conn.execute(sa.text("SELECT count(*) FROM customers")).scalar(),
        )
        events = conn.execute(sa.text("SELECT count(*) FROM events")).scalar()
        first, last = conn.execute(
            sa.text("SELECT min(placed_at), max(placed_at) FROM orders")
        ).one()

    def scan() -> None:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT count(*), sum(base_total) FROM orders")).one()

    def rfm() -> None:
        with db.unit_of_work() as session:
            service.refresh_rfm(session)

    if args.seed == "online-retail":
        last_day = datetime.fromisoformat(str(last)[:19]).date()
        quarter = last_full_quarter(last_day)
    else:
        quarter = last_full_quarter(datetime.now(UTC).date())

    if args.no_sessions:
        with db.unit_of_work() as session:
            session.execute(sa.text("DELETE FROM analytics_session_upkeep"))
            session.execute(sa.text("DELETE FROM analytics_sessions"))

    def build_then_step(refresh, table: str) -> tuple[float, float]:  # type: ignore[no-untyped-def]
        """A kept table's first build (`full`), then a refresh with nothing to take in."""
        t0 = time.perf_counter()
        with db.unit_of_work() as session:
            built = refresh(session, full=True)
        build_s = time.perf_counter() - t0
        if url.startswith("postgresql"):  # what autovacuum does after the insert: the
            # visibility map that lets the KPI read be an index-only scan
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text(f"VACUUM ANALYZE {table}"))
        t0 = time.perf_counter()
        with db.unit_of_work() as session:
            refresh(session)
        print(f"{table}: {built}", file=sys.stderr)
        return build_s, time.perf_counter() - t0

    sessions_build_s = sessions_step_s = days_build_s = days_step_s = 0.0
    if "sessions" in only:
        sessions_build_s, sessions_step_s = build_then_step(
            service.refresh_sessions, "analytics_sessions"
        )
    days_chunks: list[float] = []
    if "order_days" in only:  # ADR 25: the build in chunks, each its own transaction
        t0 = time.perf_counter()
        full = True
        while True:  # as the job does, without its pause between chunks
            c0 = time.perf_counter()
            with db.unit_of_work() as session:
                built = service.refresh_order_days(session, full=full)
            days_chunks.append(time.perf_counter() - c0)  # the write transaction, commit included
            full = False
            if not built.more:
                break
        days_build_s = time.perf_counter() - t0
        if url.startswith("postgresql"):
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE analytics_order_days"))
        t0 = time.perf_counter()
        with db.unit_of_work() as session:
            service.refresh_order_days(session)
        days_step_s = time.perf_counter() - t0
        print(f"analytics_order_days: {built}, {len(days_chunks)} chunks", file=sys.stderr)

    def kpis() -> None:
        with db.unit_of_work(readonly=True) as session:
            service.kpis(session, start=quarter[0], end=quarter[1])

    def cohorts() -> None:
        with db.unit_of_work(readonly=True) as session:
            service.cohorts(session)

    def run(name: str, fn) -> tuple[float, list[float]]:  # type: ignore[no-untyped-def]
        return timed(fn, args.repeat) if name in only else (0.0, [])

    scan_s, _ = run("scan", scan)
    rfm_s, rfm_runs = run("rfm", rfm)
    kpi_s, kpi_runs = run("kpis", kpis)
    cohort_s, _ = run("cohorts", cohorts)
    with db.unit_of_work(readonly=True) as session:
        groups = {g.group.value: g.customers for g in service.rfm_summary(session).groups}
    cli_s = 0.0
    if "cli" in only:
        t0 = time.perf_counter()
        out = patron(url, "kpis", "--from", quarter[0].isoformat(),
                     "--to", quarter[1].isoformat(), "--json")  # fmt: skip
        cli_s = time.perf_counter() - t0
        assert json.loads(out)["kpis"]
    engine.dispose()
    if not args.keep and not args.keep_db:
        drop_database(url)
    result = {
        "bench": "analytics", "backend": args.backend, "seed": args.seed,
        "customers": customers, "orders": orders, "events": events,
        "orders_span": [str(first)[:10], str(last)[:10]], "seed_s": round(seed_s, 1),
        "reused_db": reused,
        "quarter": [quarter[0].isoformat(), quarter[1].isoformat()],
        "baseline_orders_scan_s": round(scan_s, 3),
        "rfm_refresh_s": round(rfm_s, 3), "rfm_runs_s": [round(x, 3) for x in rfm_runs],
        "sessions_build_s": round(sessions_build_s, 2),
        "sessions_refresh_step_s": round(sessions_step_s, 3),
        "order_days_build_s": round(days_build_s, 2),
        "order_days_refresh_step_s": round(days_step_s, 3),
        "order_days_chunks": len(days_chunks),
        "order_days_longest_chunk_s": round(max(days_chunks, default=0.0), 3),
        "order_days_chunk_median_s": round(statistics.median(days_chunks), 3)
        if days_chunks else None,
        "kpi_quarter_s": round(kpi_s, 3), "kpi_runs_s": [round(x, 3) for x in kpi_runs],
        "cohorts_12m_s": round(cohort_s, 3), "cli_kpis_json_s": round(cli_s, 2),
        "rfm_vs_scan": round(rfm_s / scan_s, 2) if scan_s else None,
        "kpi_vs_scan": round(kpi_s / scan_s, 2) if scan_s else None,
        "rfm_groups": groups, "machine": machine(),
    }  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
