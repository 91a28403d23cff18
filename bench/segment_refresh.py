"""Full and incremental refresh of a 5-condition segment on a demo store.

The segment has a profile, an order, an event, a money and a time condition:

    country IN ("US", "ID", "SG", "CN") AND total_spent >= 100 USD
    AND ordered(category = "Fashion", within = 365d)
    AND did("Product Viewed", within = 30d) AND last_order_at < -14d

Measured in one run, on the same data:
- baseline: counting the compiled query's member set (SELECT count(*)), what any refresh
  must at least pay;
- preview: count + a sample of 10 (what the API answers while the marketer types);
- first full refresh (every member enters: history, timeline entries and jobs);
- steady full refresh (nothing changed), and a full refresh one day later (time moved:
  members enter and leave);
- incremental update after one event: a "Product Viewed" event for one random customer is
  ingested, then the segment's incremental refresh runs (p50/p95 over --events runs).

    python bench/segment_refresh.py --url sqlite:///path/demo.db
    python bench/segment_refresh.py --backend postgresql --customers 100000   # builds it

An existing store (e.g. built with `patron demo --customers N`) is used as it is; tables and
indexes the segments domain adds are created if the store predates them. The segment and
its history are deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from _common import fresh_database, machine, patron

QUERY = (
    'country IN ("US", "ID", "SG", "CN") AND total_spent >= 100 USD '
    'AND ordered(category = "Fashion", within = 365d) '
    'AND did("Product Viewed", within = 30d) AND last_order_at < -14d'
)


def ensure_schema(url: str) -> None:
    """Tables and indexes added since the store was built (an older demo database)."""
    import patron.tables  # noqa: F401 - every model, for Base.metadata
    from patron.db import Base, make_engine

    engine = make_engine(url, poolclass=NullPool)
    Base.metadata.create_all(engine, checkfirst=True)
    insp = sa.inspect(engine)
    for name in ("customers", "orders", "events"):
        have = {ix["name"] for ix in insp.get_indexes(name)}
        for index in Base.metadata.tables[name].indexes:
            if index.name not in have:
                index.create(engine)
    engine.dispose()


def timed(fn):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    value = fn()
    return value, (time.perf_counter() - started) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", help="an existing demo store")
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--customers", type=int, default=20_000, help="when building a store")
    ap.add_argument("--runs", type=int, default=3, help="steady full refreshes")
    ap.add_argument("--events", type=int, default=30, help="incremental updates")
    ap.add_argument("--query", default=QUERY, help="another segment (e.g. for Online Retail)")
    ap.add_argument("--now", default="", help="pin the clock (ISO date), for historic data")
    args = ap.parse_args()
    url = args.url
    if not url:
        url = fresh_database(args.backend)
        patron(url, "init")
        patron(url, "demo", "--customers", str(args.customers))
    ensure_schema(url)

    from patron import db
    from patron.core.time import utcnow
    from patron.events import service as events_service
    from patron.segments import membership, service
    from patron.segments.schemas import SegmentCreate
    from patron.store import service as store_service
    from patron.wiring import wire

    wire()
    engine = db.make_engine(url)
    db.set_engine(engine)
    backend = engine.dialect.name
    with db.unit_of_work() as s:
        customers = s.scalar(sa.text("SELECT count(*) FROM customers")) or 0
        orders = s.scalar(sa.text("SELECT count(*) FROM orders")) or 0
        events = s.scalar(sa.text("SELECT count(*) FROM events")) or 0
        old = s.scalar(sa.text("SELECT id FROM segments WHERE name = 'bench'"))
        if old:
            service.delete(s, segment_id=old)
    if backend == "postgresql":
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()

    query = args.query
    now = datetime.fromisoformat(args.now).replace(tzinfo=UTC) if args.now else utcnow()
    with db.unit_of_work(readonly=True) as s:
        compiled = membership.compile_for(s, query=query, now=now)
        stmt = sa.select(sa.func.count()).select_from(membership.member_select(compiled).subquery())
        baselines = []
        for _ in range(args.runs):
            count, ms = timed(lambda: s.scalar(stmt))
            baselines.append(ms)
        previews = []
        for _ in range(args.runs):
            got, ms = timed(lambda: service.preview(s, query=query, sample=10, now=now))
            previews.append(ms)
    assert got.count == count

    with db.unit_of_work() as s:
        seg = service.create(s, data=SegmentCreate(name="bench", query=query))
        sid = seg.id
        s.execute(sa.text("DELETE FROM jobs WHERE kind = 'segments.refresh'"))
    with db.unit_of_work() as s:
        first, first_ms = timed(lambda: service.refresh(s, segment_id=sid, now=now))
    steady = []
    for _ in range(args.runs):
        with db.unit_of_work() as s:
            r, ms = timed(lambda: service.refresh(s, segment_id=sid, now=now))
            assert (r.entered, r.exited) == (0, 0)
            steady.append(ms)
    later = now + timedelta(days=1)
    with db.unit_of_work() as s:
        moved, moved_ms = timed(lambda: service.refresh(s, segment_id=sid, now=later))

    # Incremental: one event for a random customer, then the incremental refresh.
    with db.unit_of_work() as s:
        src = store_service.ensure_source(s, key="bench").id
        emails = [r[0] for r in s.execute(sa.text(
            "SELECT email FROM customers WHERE orders_count >= 1 AND merged_into_id IS NULL "
            "AND email IS NOT NULL ORDER BY id LIMIT 5000"))]  # fmt: skip
        if emails:
            service.refresh(s, segment_id=sid, mode="incremental")
    rng = random.Random(7)
    incr = []
    checked = []
    for i in range(args.events if emails else 0):
        email = rng.choice(emails)
        with db.unit_of_work() as s:
            t = utcnow()
            events_service.ingest(
                s,
                messages=[
                    {
                        "type": "track",
                        "event": "Product Viewed",
                        "messageId": f"bench-{t.timestamp()}-{i}",
                        "anonymousId": f"bench-anon-{i}",
                        "timestamp": t.isoformat(),
                        "context": {"traits": {"email": email}},
                        "properties": {"category": "Fashion > Shoes"},
                    }
                ],  # fmt: skip
                source_id=src,
                received_at=t,
            )
        with db.unit_of_work() as s:
            r, ms = timed(lambda: service.refresh(s, segment_id=sid, mode="incremental"))
            incr.append(ms)
            checked.append(r.checked or 0)

    with db.unit_of_work() as s:
        service.delete(s, segment_id=sid)
        s.execute(sa.text("DELETE FROM jobs WHERE kind LIKE 'segment%'"))
        s.execute(sa.text("DELETE FROM timeline_entries WHERE kind = 'segment'"))
    engine.dispose()

    incr.sort()
    out = {
        "bench": "segment_refresh",
        "backend": backend,
        "customers": customers,
        "orders": orders,
        "events": events,
        "query": query,
        "members": first.members,
        "baseline_count_ms": round(statistics.median(baselines), 1),
        "preview_ms": round(statistics.median(previews), 1),
        "first_full_refresh_ms": round(first_ms, 1),
        "steady_full_refresh_ms": round(statistics.median(steady), 1),
        "next_day_full_refresh_ms": round(moved_ms, 1),
        "next_day_entered": moved.entered,
        "next_day_exited": moved.exited,
        "incremental_p50_ms": round(incr[len(incr) // 2], 1) if incr else None,
        "incremental_p95_ms": round(incr[max(0, int(len(incr) * 0.95) - 1)], 1) if incr else None,
        "incremental_checked_median": statistics.median(checked) if checked else 0,
        "steady_vs_baseline": round(statistics.median(steady) / statistics.median(baselines), 2),
        **machine(),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
