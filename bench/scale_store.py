"""Multiply a demo store in SQL: K more copies of its customers, orders, lines, events, carts.

`patron demo --customers 1000000` takes hours on a shared 2-core machine; a 100,000-customer
demo store copied 9 times (ids shifted by k * 10,000,000, emails and external keys suffixed)
has the same distributions at ten times the size in minutes. Products are shared; identities,
timeline entries, refunds and cart lines are not copied (segment refreshes do not read them).

    python bench/scale_store.py --url postgresql+psycopg://.../store --copies 9
"""

from __future__ import annotations

import argparse
import json
import time

import sqlalchemy as sa

OFFSET = 10_000_000

# table -> {column: SQL expression with :k and :off}; other columns are copied as they are.
PLAN: dict[str, dict[str, str]] = {
    "customers": {
        "id": "id + :off",
        "email": "'c' || CAST(:k AS TEXT) || '.' || email",
        "merged_into_id": "merged_into_id + :off",
    },
    "orders": {"id": "id + :off", "customer_id": "customer_id + :off", "number": "NULL"},
    "order_lines": {"id": "id + :off", "order_id": "order_id + :off"},
    "events": {
        "id": "id + :off",
        "customer_id": "customer_id + :off",
        "message_id": "message_id || '-c' || CAST(:k AS TEXT)",
    },
    "carts": {
        "id": "id + :off",
        "customer_id": "customer_id + :off",
        "external_id": "external_id || '-c' || CAST(:k AS TEXT)",
        "converted_order_id": "converted_order_id + :off",
    },
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--copies", type=int, default=9)
    args = ap.parse_args()
    engine = sa.create_engine(args.url)
    insp = sa.inspect(engine)
    started = time.perf_counter()
    with engine.begin() as conn:
        top = conn.execute(sa.text("SELECT max(id) FROM customers")).scalar() or 0
        if top >= OFFSET:
            raise SystemExit("this store was scaled already")
        for k in range(1, args.copies + 1):
            for table, subst in PLAN.items():
                cols = [c["name"] for c in insp.get_columns(table)]
                select = ", ".join(subst.get(c, c) for c in cols)
                names = ", ".join(f'"{c}"' for c in cols)
                conn.execute(
                    sa.text(f"INSERT INTO {table} ({names}) SELECT {select} FROM {table} "
                            f"WHERE id < :lim"),
                    {"k": k, "off": k * OFFSET, "lim": OFFSET},
                )  # fmt: skip
            print(f"copy {k} of {args.copies} in {time.perf_counter() - started:.0f} s", flush=True)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
            # Keep the id sequences ahead of the copied rows.
            for table in PLAN:
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
    with engine.connect() as conn:
        counts = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in PLAN}
    engine.dispose()
    print(json.dumps({"copies": args.copies, "seconds": round(time.perf_counter() - started, 1),
                      **counts}))  # fmt: skip


if __name__ == "__main__":
    main()
