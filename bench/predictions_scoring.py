"""Training and scoring at store scale: CDNOW resampled to N customers in a fresh database.

Seeds `customers` and `orders` with Core inserts (N customers drawn with replacement from the
real CDNOW histories, each purchase day one order), then times, in process, what the jobs
do: `plan_training` (read history, backtest, fit), `save_training`, `plan_scores` and
`apply_scores` (upsert of N rows, tier changes). Baseline in the same run: N rows of the
same width inserted with plain executemany into a bare table (what the storage alone costs).

    .venv/bin/python bench/predictions_scoring.py --backend sqlite --customers 200000

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, date, datetime, timedelta

import numpy as np
import sqlalchemy as sa

from _common import drop_database, fresh_database, machine, patron
from clv_cdnow import DATA, load
from patron import db
from patron.customers import service as customers_service
from patron.orders import service as orders_service
from patron.predictive import service

AS_OF = date(1998, 6, 30)


def seed(url: str, customers: int) -> int:
    days = load(DATA / "CDNOW_master.txt")
    rng = np.random.default_rng(5)
    pick = rng.integers(0, days.n_customers, customers)
    starts = np.searchsorted(days.idx, np.arange(days.n_customers))
    ends = np.searchsorted(days.idx, np.arange(days.n_customers), side="right")
    now = datetime.now(UTC)
    engine = db.make_engine(url)
    t = orders_service.orders_table()
    c = customers_service.customers_table()
    n_orders = 0
    with engine.begin() as conn:
        batch = 50_000
        for lo in range(0, customers, batch):
            ids = range(lo + 1, min(customers, lo + batch) + 1)
            conn.execute(
                c.insert(),
                [{"id": i, "is_anonymous": False, "tags": [], "properties": {},
                  "created_at": now, "updated_at": now, "orders_count": 0, "total_spent": 0,
                  "channels": []} for i in ids],
            )  # fmt: skip
            rows = []
            for cid, src in zip(ids, pick[lo : lo + batch].tolist(), strict=True):
                for k in range(starts[src], ends[src]):
                    at = datetime(1970, 1, 1, 12, tzinfo=UTC) + timedelta(days=int(days.day[k]))
                    v = int(days.spend[k])
                    rows.append(
                        {"customer_id": cid, "channel": "web", "status": "placed",
                         "currency": "USD", "subtotal": v, "discount_total": 0,
                         "shipping_total": 0, "tax_total": 0, "total": v, "refunded_total": 0,
                         "base_total": v, "base_refunded_total": 0, "coupon_codes": [],
                         "properties": {}, "placed_at": at, "created_at": now,
                         "updated_at": now}
                    )  # fmt: skip
            conn.execute(t.insert(), rows)
            n_orders += len(rows)
    engine.dispose()
    return n_orders


def baseline(url: str, customers: int) -> float:
    engine = db.make_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "CREATE TABLE bench_plain (id BIGINT PRIMARY KEY, a FLOAT, b FLOAT, c FLOAT, "
            "d FLOAT, e FLOAT, f BIGINT, g BIGINT, h BIGINT, i BIGINT, j FLOAT, k VARCHAR(8), "
            "l FLOAT, m DATE, n BOOLEAN, o VARCHAR(32))"))  # fmt: skip
    rows = [
        {"id": i, "a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4, "e": 0.5, "f": 1, "g": 2, "h": 3,
         "i": 4, "j": 0.6, "k": "high", "l": 0.7, "m": AS_OF, "n": True, "o": None}
        for i in range(1, customers + 1)
    ]  # fmt: skip
    stmt = sa.text(
        "INSERT INTO bench_plain VALUES (:id, :a, :b, :c, :d, :e, :f, :g, :h, :i, :j, :k, :l,"
        " :m, :n, :o)"
    )
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(stmt, rows)
    engine.dispose()
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--customers", type=int, default=200_000)
    args = ap.parse_args()
    url = fresh_database(args.backend, f"patron_bench_pred_{args.backend}")
    try:
        patron(url, "init", "--currency", "USD", "--credentials-file", "/dev/null")
        t0 = time.perf_counter()
        orders = seed(url, args.customers)
        seed_s = time.perf_counter() - t0
        db.set_engine(db.make_engine(url))
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        with db.unit_of_work(readonly=True) as ro:
            plan = service.plan_training(ro, as_of=AS_OF)
            timings["plan_training_s"] = time.perf_counter() - t0
            t1 = time.perf_counter()
            scores = service.plan_scores(ro, as_of=AS_OF, model=plan)
            timings["plan_scores_s"] = time.perf_counter() - t1
        t1 = time.perf_counter()
        with db.unit_of_work() as session:
            card = service.save_training(session, plan=plan)
            run = service.apply_scores(session, plan=scores, model_version=card.version)
        timings["write_s"] = time.perf_counter() - t1
        t1 = time.perf_counter()
        with db.unit_of_work() as session:  # a second run: every row is an update
            again = service.score(session, as_of=AS_OF + timedelta(days=30))
        timings["rescore_s"] = time.perf_counter() - t1
        base = baseline(url, args.customers)
    finally:
        drop_database(url)
    result = {
        "bench": "predictions_scoring",
        "backend": args.backend,
        "customers": args.customers,
        "orders": orders,
        "seed_s": round(seed_s, 1),
        **{k: round(v, 2) for k, v in timings.items()},
        "scored": run.scored,
        "rescored": again.scored,
        "tier_changes_on_rescore": again.tier_changes,
        "chosen": card.card["chosen"],
        "baseline_insert_s": round(base, 2),
        "write_vs_baseline": round(timings["write_s"] / base, 2),
        "machine": machine(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
