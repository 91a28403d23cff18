"""Server time of every page of the web app, on a big store (target: p95 < 300 ms, none > 1 s).

Signs in as an owner, then requests each page --repeat times in sequence from one client
and reads the server's own `Server-Timing: app;dur=` header (time inside the server, what
the target is about) next to the time the client saw. The fragments and chart data a page
loads by itself (`hx-get` with a load trigger, `data-chart`) are found in its HTML and timed
as requests of their own. Baseline in the same run: `/health`.

The store: `--keep-db NAME` reuses (or seeds once) the database bench/analytics.py keeps
under that name (`--seed sql`: N customers with about 10 orders each); `--url` takes any
existing store. Tables added since it was seeded are created; RFM is computed and the
built-in segments are installed and refreshed before timing, as the nightly jobs would.

    python bench/web_pages.py --backend postgresql --customers 1000000 --keep-db patron_1m
"""

from __future__ import annotations

import argparse
import html
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    RESULTS,
    fresh_database,
    machine,
    patron,
    percentile,
    server,
)
from analytics import kept_url, seed_sql  # noqa: E402

FRAGMENT = re.compile(r'(?:hx-get|data-chart)="([^"]+)"')


def prepare(url: str, customers: int, fresh: bool) -> dict[str, object]:
    from patron import db
    from patron.analytics import service as analytics
    from patron.auth import service as auth
    from patron.auth.schemas import Role, UserCreate
    from patron.segments import service as segments
    from patron.tables import Base  # noqa: F401 - every model registered

    if fresh:
        patron(url, "init", "--credentials-file", str(RESULTS / "web-bench-credentials.txt"))
        t0 = time.perf_counter()
        seed_sql(url, customers)
        print(f"seeded {customers} customers in {time.perf_counter() - t0:.0f} s", flush=True)
    engine = db.make_engine(url)
    db.set_engine(engine)
    db.Base.metadata.create_all(engine, checkfirst=True)  # tables newer than the seed
    for table in db.Base.metadata.sorted_tables:  # and indexes newer than the seed
        for index in table.indexes:
            index.create(engine, checkfirst=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # what autovacuum does minutes after a bulk load or a refresh: statistics, and the
        # visibility map that index-only scans need (SQLite: ANALYZE only)
        conn.execute(
            sa.text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE")
        )
        conn.execute(sa.text("DELETE FROM report_snapshots"))  # first views start cold
        conn.execute(sa.text("DELETE FROM jobs WHERE status IN ('queued', 'running')"))
    facts: dict[str, object] = {}
    with db.unit_of_work() as session:
        t0 = time.perf_counter()
        analytics.refresh_rfm(session)
        facts["rfm_s"] = round(time.perf_counter() - t0, 1)
    with db.unit_of_work() as session:
        segments.install_builtins(session, refresh_now=False)
    with db.unit_of_work() as session:
        t0 = time.perf_counter()
        segments.refresh_all(session)
        facts["segments_refresh_s"] = round(time.perf_counter() - t0, 1)
    email = f"bench-{int(time.time())}@patron.local"
    with db.unit_of_work() as session:
        user = auth.create_user(session, data=UserCreate(email=email, password="bench-password-1",
                                                         role=Role.OWNER))  # fmt: skip
        token, _ = auth.start_web_session(session, user_id=user.id)
    with engine.connect() as conn:
        facts["customers"] = conn.execute(sa.text("SELECT count(*) FROM customers")).scalar()
        facts["orders"] = conn.execute(sa.text("SELECT count(*) FROM orders")).scalar()
        row = conn.execute(sa.text(
            "SELECT id, email FROM customers WHERE merged_into_id IS NULL AND email IS NOT NULL "
            "ORDER BY total_spent DESC LIMIT 1"
        )).one()  # fmt: skip
        facts["customer_id"], facts["email"] = row[0], row[1]
        facts["segment_id"] = conn.execute(
            sa.text("SELECT id FROM segments ORDER BY id LIMIT 1")
        ).scalar()
    engine.dispose()
    facts["cookie"] = token
    return facts


def timed_get(client: httpx.Client, path: str) -> tuple[float, float, int, str, str]:
    t0 = time.perf_counter()
    r = client.get(path, headers={"Accept": "text/html"})
    seen = (time.perf_counter() - t0) * 1000
    timing = r.headers.get("server-timing", "")
    found = re.search(r"app;dur=([\d.]+)", timing)
    source = re.search(r'report;dur=[\d.]+;desc="(\w+)"', timing)
    server_ms = float(found.group(1)) if found else float("nan")
    return server_ms, seen, r.status_code, r.text, source.group(1) if source else ""


def crawl(client: httpx.Client, pages: list[str], repeat: int) -> list[dict[str, object]]:
    """Each page, then each fragment and chart its HTML loads, `repeat` times in a row."""
    results: list[dict[str, object]] = []
    queue, seen_paths = list(pages), set()
    while queue:
        path = queue.pop(0)
        if path in seen_paths:
            continue
        seen_paths.add(path)
        first = timed_get(client, path)
        if first[2] >= 400:
            results.append({"path": path, "status": first[2]})
            print(f"{path}: HTTP {first[2]}", flush=True)
            continue
        for found in FRAGMENT.findall(first[3]):
            link = html.unescape(found)
            if "cursor=" not in path or "cursor=" not in link:  # one page deep, not the list
                queue.append(link)
        server_ms, client_ms, sources = [first[0]], [first[1]], {first[4]}
        for _ in range(repeat - 1):
            s, c, _status, _, source = timed_get(client, path)
            server_ms.append(s)
            client_ms.append(c)
            sources.add(source)
        row = {
            "path": path, "status": first[2], "first_ms": round(first[0], 1),
            "p50_ms": round(statistics.median(server_ms), 1),
            "p95_ms": round(percentile(server_ms, 95), 1),
            "max_ms": round(max(server_ms), 1),
            "client_p50_ms": round(statistics.median(client_ms), 1),
            "report": sorted(x for x in sources if x),
        }  # fmt: skip
        results.append(row)
        print(json.dumps(row), flush=True)
    return results


LIVE_QUERIES = [  # the builder's preview as a marketer types: profile, RFM, events, orders
    "orders_count >= 2 AND total_spent > 100 USD",
    'rfm_group = "champions"',
    'did("Home", within = 365d) AND orders_count >= 3',
    'did("Home", count >= 2, within = 730d) AND total_spent > 500 USD AND last_order_at < -30d',
    'ordered(within = 90d, count >= 2) AND NOT did("Home", within = 60d)',
]


def live_counts(client: httpx.Client, repeat: int) -> list[dict[str, object]]:
    """POST /segments/preview (what the builder sends on each keystroke) per query."""
    page = client.get("/segments/new", headers={"Accept": "text/html"}).text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert token is not None
    headers = {"HX-Request": "true", "X-CSRF-Token": token.group(1)}
    out: list[dict[str, object]] = []
    for query in LIVE_QUERIES:
        server_ms, text = [], ""
        for _ in range(repeat):
            r = client.post("/segments/preview", data={"query": query}, headers=headers)
            timing = re.search(r"app;dur=([\d.]+)", r.headers.get("server-timing", ""))
            server_ms.append(float(timing.group(1)) if timing else float("nan"))
            text = r.text
        count = re.search(r'data-testid="preview-count">([^<]*)<', text)
        row = {
            "query": query, "p50_ms": round(statistics.median(server_ms), 1),
            "p95_ms": round(percentile(server_ms, 95), 1), "max_ms": round(max(server_ms), 1),
            "shown": html.unescape(count.group(1)) if count else "not counted",
            "estimated": 'data-testid="preview-estimated"' in text,
        }  # fmt: skip
        out.append(row)
        print(json.dumps(row), flush=True)
    return out


def run_worker(url: str) -> float:
    """`patron worker --burst`: computes the report snapshots the pages queued."""
    t0 = time.perf_counter()
    patron(url, "worker", "--burst", "--no-schedules", "--kind", "analytics.snapshot")
    took = round(time.perf_counter() - t0, 1)
    print(f"worker --burst: {took} s", flush=True)
    return took


def snapshot_costs(url: str) -> list[dict[str, object]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT kind, params, compute_ms FROM report_snapshots ORDER BY kind, key")
        ).all()
    engine.dispose()
    return [{"kind": k, "params": str(p), "compute_ms": int(ms)} for k, p, ms in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="postgresql")
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--keep-db", metavar="NAME", help="reuse (or seed once) this database")
    ap.add_argument("--url", help="an existing store instead")
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.url:
        url, fresh = args.url, False
    elif args.keep_db:
        url = kept_url(args.backend, args.keep_db)
        try:
            e = sa.create_engine(url)
            with e.connect() as c:
                fresh = not c.execute(sa.text("SELECT count(*) FROM customers")).scalar()
            e.dispose()
        except sa.exc.SQLAlchemyError:
            fresh = True
        if fresh:
            url = fresh_database(args.backend, args.keep_db)
    else:
        url, fresh = fresh_database(args.backend), True
    facts = prepare(url, args.customers, fresh)
    pages = [
        "/", "/customers", f"/customers?q={facts['email']}", "/customers?sort=spent&dir=desc",
        "/customers?rfm=champions", f"/customers/{facts['customer_id']}", "/segments",
        f"/segments/{facts['segment_id']}", "/segments/new", "/settings", "/account",
    ]  # fmt: skip
    load = Path("/proc/loadavg").read_text().split()[:3]
    with server(url) as base, httpx.Client(base_url=base, timeout=60) as client:
        client.cookies.set("patron_session", str(facts["cookie"]))
        baseline = [timed_get(client, "/health")[0] for _ in range(args.repeat)]
        print("first views (no report snapshots yet):", flush=True)
        first_views = crawl(client, pages, 1)
        worker_runs = [run_worker(url)]
        crawl(client, pages, 1)  # reports found only once others are ready (sparklines)
        worker_runs.append(run_worker(url))
        print("with the worker's snapshots:", flush=True)
        results = crawl(client, pages, args.repeat)
        print("the segment builder's live count:", flush=True)
        live = live_counts(client, args.repeat)
    summary = {
        "bench": "web_pages", "backend": args.backend, **machine(), "load": load,
        "customers": facts["customers"], "orders": facts["orders"],
        "health_p50_ms": round(statistics.median(baseline), 2),
        "rfm_s": facts["rfm_s"], "segments_refresh_s": facts["segments_refresh_s"],
        "worker_burst_s": worker_runs, "snapshots": snapshot_costs(url),
        "first_views": first_views, "live_count": live,
        "pages": results,
        "worst_first_view_ms": max((r.get("p50_ms", 0) for r in first_views), default=0),
        "worst_p95_ms": max((r.get("p95_ms", 0) for r in results), default=0),
        "worst_max_ms": max((r.get("max_ms", 0) for r in results), default=0),
    }  # fmt: skip
    (RESULTS / f"web_pages-{args.backend}.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "pages"}))


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as exc:
        print(exc.stderr, file=sys.stderr)
        raise
