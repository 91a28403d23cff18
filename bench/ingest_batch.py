"""Batch ingest through POST /v1/batch over HTTP: events/s and batch p50/p99.

Starts a real `patron serve` on a fresh database, creates a write key with the CLI, then
N clients (closed loop, keep-alive) each POST batches of 100 realistic events: 50% page
views, 25% product views, 10% identify, 15% cart/checkout/order events across 5,000
visitors. Baseline in the same run: the same batches POSTed to /health's neighbour route
that only authenticates and parses (a 400 is not measured; we use an empty batch).

    python bench/ingest_batch.py --backend sqlite --batches 400 --clients 8
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import uuid
from datetime import UTC, datetime, timedelta

import orjson

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
    batches = make_batches(args.batches, args.size, seed=2)
    empty = orjson.dumps({"batch": []})
    try:
        with server(url, workers=args.workers) as base:
            asyncio.run(
                closed_loop(
                    base,
                    [("POST", "/v1/batch", b) for b in warm],
                    clients=args.clients,
                    headers=headers,
                )
            )
            base_lat, base_wall = asyncio.run(
                closed_loop(
                    base,
                    [("POST", "/v1/batch", empty)] * args.batches,
                    clients=args.clients,
                    headers=headers,
                )
            )
            lat, wall = asyncio.run(
                closed_loop(
                    base,
                    [("POST", "/v1/batch", b) for b in batches],
                    clients=args.clients,
                    headers=headers,
                )
            )
    finally:
        drop_database(url)
    events = args.batches * args.size
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
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
