"""Batch ingest through POST /v1/batch over HTTP: events/s and batch p50/p99.

Starts a real `patron serve` on a fresh database, creates a write key with the CLI, then
N clients (closed loop, keep-alive) each POST batches of 100 realistic events: 50% page
views, 25% product views, 10% identify, 15% cart/checkout/order events across 5,000
visitors. Baseline in the same run: an empty batch (authentication and parsing only).

Three phases (ADR 20: the API validates and keeps a request, the worker applies it):
the gateway alone (no worker), then `patron worker --burst` applying that backlog alone,
then both at once as `patron serve` runs them, timed until every request is applied.

    python bench/ingest_batch.py --backend sqlite --batches 400 --clients 8
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from _common import (
    closed_loop,
    drop_database,
    fresh_database,
    last_line,
    machine,
    patron,
    percentile,
    server,
)
from patron.db import spool_url

CATEGORIES = ["Shoes", "Apparel > Tops", "Beauty > Skincare", "Home > Kitchen", "Electronics"]


def make_batches(n: int, size: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    out = []
    order = 0
    for _ in range(n):
        msgs = []
        for _ in range(size):
            visitor = rng.randrange(5000)
            anon = f"anon-{visitor}"
            ts = (now - timedelta(seconds=rng.randrange(86400))).isoformat()
            pid = rng.randrange(500)
            product = {
                "product_id": f"p{pid}",
                "sku": f"SKU-{pid}",
                "name": f"Item {pid}",
                "category": CATEGORIES[pid % 5],
                "price": 10 + pid % 90,
                "currency": "USD",
            }
            r = rng.random()
            base = {
                "anonymousId": anon,
                "messageId": str(uuid.UUID(int=rng.getrandbits(128))),
                "timestamp": ts,
                "context": {"userAgent": "Mozilla/5.0", "ip": "10.0.0.1"},
            }
            if r < 0.5:
                msgs.append(
                    {
                        **base,
                        "type": "page",
                        "name": "Catalog",
                        "properties": {"url": f"https://shop.example/c/{pid % 5}"},
                    }
                )
            elif r < 0.75:
                msgs.append(
                    {**base, "type": "track", "event": "Product Viewed", "properties": product}
                )
            elif r < 0.85:
                msgs.append(
                    {
                        **base,
                        "type": "identify",
                        "userId": f"user-{visitor}",
                        "traits": {"email": f"v{visitor}@example.com", "firstName": "V"},
                    }
                )
            elif r < 0.95:
                msgs.append(
                    {
                        **base,
                        "type": "track",
                        "event": "Product Added",
                        "properties": {**product, "cart_id": f"cart-{visitor}", "quantity": 1},
                    }
                )
            else:
                order += 1
                msgs.append(
                    {
                        **base,
                        "type": "track",
                        "event": "Order Completed",
                        "properties": {
                            "order_id": f"o-{seed}-{order}",
                            "currency": "USD",
                            "products": [{**product, "quantity": 1}],
                        },
                    }
                )
        out.append(orjson.dumps({"batch": msgs, "sentAt": now.isoformat()}))
    return out


def waiting(spool: sa.Engine) -> int:
    """Requests accepted and not yet applied (in a SQLite store's spool file, ADR 20)."""
    try:
        with spool.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM event_inbox")).scalar_one())
    except sa.exc.OperationalError:  # the spool file is created with the first request
        return 0


def applied(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one())


def drain_wait(spool: sa.Engine, timeout: float = 900) -> tuple[float, int]:
    """Wait until the inbox is empty; returns (seconds waited, the largest backlog seen)."""
    started, most = time.perf_counter(), 0
    while (n := waiting(spool)) and time.perf_counter() - started < timeout:
        most = max(most, n)
        time.sleep(0.05)
    if n:
        raise RuntimeError(f"{n} requests still waiting after {timeout} s")
    return time.perf_counter() - started, most


def accept(
    base: str, batches: list[bytes], clients: int, headers: dict[str, str]
) -> tuple[list[float], float]:
    return asyncio.run(
        closed_loop(base, [("POST", "/v1/batch", b) for b in batches], clients=clients,
                    headers=headers)
    )  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--batches", type=int, default=400)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    url = fresh_database(args.backend, f"patron_bench_ingest_{args.backend}")
    patron(url, "init", "--credentials-file", "/dev/null")
    key = last_line(patron(url, "keys", "create-write-key", "--name", "bench"))
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    warm = make_batches(20, args.size, seed=1)
    alone = make_batches(args.batches, args.size, seed=2)
    together = make_batches(args.batches, args.size, seed=3)
    empty = orjson.dumps({"batch": []})
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"),
                              poolclass=NullPool)  # fmt: skip
    spool = sa.create_engine(spool_url(url) or url.replace("postgresql://", "postgresql+psycopg://"),
                             poolclass=NullPool)  # fmt: skip
    events = args.batches * args.size
    try:
        # 1. The gateway alone (no worker): accepting is validating and storing the body.
        with server(url, workers=args.workers) as base:
            accept(base, warm, args.clients, headers)
            base_lat, base_wall = asyncio.run(
                closed_loop(base, [("POST", "/v1/batch", empty)] * args.batches,
                            clients=args.clients, headers=headers)
            )  # fmt: skip
            lat, wall = accept(base, alone, args.clients, headers)
        # 2. The worker alone applies what was accepted (identities, events, timeline,
        # catalog, carts, orders): `patron worker --burst` until the inbox is empty.
        started = time.perf_counter()
        patron(url, "worker", "--burst", "--no-schedules")
        apply_wall = time.perf_counter() - started
        assert waiting(spool) == 0
        assert applied(engine) == events + len(warm) * args.size
        # 3. Both at once, as `patron serve` runs by default (worker beside the server):
        # requests accepted while the worker applies; applied = until the inbox is empty.
        with server(url, workers=args.workers, with_worker=True) as base:
            started = time.perf_counter()
            both_lat, both_wall = accept(base, together, args.clients, headers)
            tail, backlog = drain_wait(spool)
            both_applied = time.perf_counter() - started
        assert applied(engine) == 2 * events + len(warm) * args.size
    finally:
        engine.dispose()
        spool.dispose()
        drop_database(url)
    print(
        json.dumps(
            {
                "bench": "ingest_batch",
                "backend": args.backend,
                "events": events,
                "batch_size": args.size,
                "clients": args.clients,
                "server_workers": args.workers,
                "events_per_s": round(events / wall),
                "batch_p50_ms": round(percentile(lat, 50), 1),
                "batch_p99_ms": round(percentile(lat, 99), 1),
                "empty_batch_rps": round(args.batches / base_wall),
                "empty_batch_p50_ms": round(percentile(base_lat, 50), 1),
                "applied_per_s_worker_alone": round(events / apply_wall),
                "together_accepted_per_s": round(events / both_wall),
                "together_batch_p50_ms": round(percentile(both_lat, 50), 1),
                "together_batch_p99_ms": round(percentile(both_lat, 99), 1),
                "together_applied_per_s": round(events / both_applied),
                "together_drain_after_last_accept_s": round(tail, 2),
                "together_max_backlog_requests": backlog,
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
