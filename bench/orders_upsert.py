"""One importer chunk: 2,000 orders x 20 lines through orders.upsert_orders, against bare
executemany of the same order and line rows. Prints a JSON line per backend.

    .venv/bin/python bench/orders_upsert.py [sqlite|postgresql ...]
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import drop_database, fresh_database, machine  # noqa: E402
from patron import db  # noqa: E402
from patron.catalog.schemas import ProductRef  # noqa: E402
from patron.customers.schemas import IdentityKey, IdentityKind  # noqa: E402
from patron.migrate import upgrade  # noqa: E402
from patron.orders import service  # noqa: E402
from patron.orders.models import Order, OrderLine  # noqa: E402
from patron.orders.schemas import CustomerRefIn, OrderIn, OrderLineIn  # noqa: E402
from patron.store import service as store_service  # noqa: E402

ORDERS, LINES = 2000, 20
T0 = datetime(2011, 1, 1, tzinfo=UTC)


def make_orders(offset: int) -> list[OrderIn]:
    out = []
    for n in range(offset, offset + ORDERS):
        who = CustomerRefIn(keys=[IdentityKey.of(IdentityKind.EXTERNAL, str(n % 900), "uci")])
        lines = [
            OrderLineIn(product=ProductRef(sku=f"SKU{(n * 7 + k) % 3000}", title="Item"),
                        quantity=1 + k % 5, unit_price=100 + k)
            for k in range(LINES)
        ]  # fmt: skip
        out.append(OrderIn(external_id=str(n), number=str(n), placed_at=T0 + timedelta(hours=n),
                           currency="GBP", customer=who, lines=lines))  # fmt: skip
    return out


def bare(session: db.Session, offset: int) -> None:  # type: ignore[name-defined]
    now = datetime.now(UTC)
    rows = [
        {"number": str(n), "channel": "web", "status": "placed", "currency": "GBP",
         "subtotal": 0, "total": 0, "base_total": 0, "placed_at": T0 + timedelta(hours=n),
         "created_at": now, "updated_at": now, "coupon_codes": [], "properties": {}}
        for n in range(offset, offset + ORDERS)
    ]  # fmt: skip
    ids = session.scalars(
        insert(Order).returning(Order.id, sort_by_parameter_order=True), rows
    ).all()
    session.execute(
        insert(OrderLine),
        [{"order_id": oid, "sku": f"SKU{k}", "title": "Item", "quantity": 1, "unit_price": 100,
          "discount": 0, "total": 100, "properties": {}} for oid in ids for k in range(LINES)],
    )  # fmt: skip


def run(backend: str) -> dict[str, object]:
    url = fresh_database(backend)
    engine = db.make_engine(url, poolclass=NullPool)
    upgrade(engine)
    db.set_engine(engine)
    try:
        with db.unit_of_work() as s:
            source_id = store_service.ensure_source(s, key="uci").id
        timings = {}
        for label, offset in (("bare", 10_000_000), ("cold", 0), ("warm", ORDERS)):
            batch = make_orders(offset)
            t = time.perf_counter()
            with db.unit_of_work() as s:
                if label == "bare":
                    bare(s, offset)
                else:
                    service.upsert_orders(s, orders=batch, source_id=source_id)
            timings[label] = time.perf_counter() - t
        batch = make_orders(ORDERS)
        t = time.perf_counter()
        with db.unit_of_work() as s:
            summary = service.upsert_orders(s, orders=batch, source_id=source_id)
        timings["replay"] = time.perf_counter() - t
        assert summary.unchanged == ORDERS
    finally:
        engine.dispose()
        drop_database(url)
    return {
        "scenario": "orders_upsert_chunk",
        "backend": backend,
        "orders": ORDERS,
        "lines": ORDERS * LINES,
        **{f"{k}_s": round(v, 3) for k, v in timings.items()},
        "ratio_vs_bare": round(timings["bare"] / timings["warm"], 3),
        "machine": machine(),
    }


if __name__ == "__main__":
    for b in sys.argv[1:] or ["sqlite", "postgresql"]:
        print(json.dumps(run(b)))  # noqa: T201
