"""Server time of the customer list and 360 pages on a big store, through the real app.

    python bench/web_customers.py --url postgresql+psycopg://postgres@127.0.0.1:5432/big
    python bench/web_customers.py --url ... --fill 1000000   # into an EMPTY, migrated db

`--fill N` writes N synthetic customers in SQL (names, emails, phones, countries, tags,
orders counts and spend, email and external identities) and refreshes RFM, so that every
sort, search and filter of /customers has something to read. The figures are p50 / p95 of
each page's full request in process (TestClient: routing, queries and rendering), with the
machine's load average, which the shared machine makes matter.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import time

FILL = """
INSERT INTO customers (id, is_anonymous, email, phone, first_name, last_name, country, tags,
  properties, channels, created_at, updated_at, orders_count, total_spent, first_order_at,
  last_order_at)
SELECT g, false,
  CASE WHEN g % 10 = 0 THEN NULL ELSE 'user' || g || '@example' || (g % 97) || '.com' END,
  CASE WHEN g % 3 = 0 THEN '+6281' || lpad(g::text, 9, '0') ELSE NULL END,
  (ARRAY['Ana','Budi','Chen','Dewi','Eko','Fitri','Gita','Hadi','Indah','Joko'])[1 + g % 10],
  CASE WHEN g % 7 = 0 THEN NULL ELSE (ARRAY['Santoso','Wijaya','Lestari','Pratama','Wang','Li',
    'Zhang','Halim','Saputra','Kusuma','Tan','Lim'])[1 + (g / 10) % 12] || (g % 1000) END,
  (ARRAY['ID','SG','MY','CN','US'])[1 + g % 5],
  CASE WHEN g % 50 = 0 THEN '["vip"]'::jsonb ELSE '[]'::jsonb END, '{}'::jsonb,
  '["web"]'::jsonb, timestamptz '2024-01-01' + (g || ' seconds')::interval * 50, now(),
  CASE WHEN g % 2 = 0 THEN 0 ELSE 1 + (g % 7) END,
  CASE WHEN g % 2 = 0 THEN 0 ELSE 1000 * (1 + (g::bigint * 7919) % 5000) END,
  CASE WHEN g % 2 = 0 THEN NULL ELSE timestamptz '2024-01-01' + (g || ' seconds')::interval * 50
  END,
  CASE WHEN g % 2 = 0 THEN NULL
    ELSE timestamptz '2024-02-01' + ((g::bigint * 31) % 60000000 || ' seconds')::interval END
FROM generate_series(1, :n) g;
INSERT INTO customer_identities (customer_id, kind, source, value, created_at)
SELECT id, 'email', '', email, created_at FROM customers WHERE email IS NOT NULL;
INSERT INTO customer_identities (customer_id, kind, source, value, created_at)
SELECT id, 'phone', '', phone, created_at FROM customers WHERE phone IS NOT NULL;
INSERT INTO customer_identities (customer_id, kind, source, value, created_at)
SELECT id, 'external', 'shopify', 'SH-' || id, created_at FROM customers WHERE id % 4 = 0;
SELECT setval('customers_id_seq', :n + 1);
"""

PAGES = [
    ("list", "/customers"),
    ("list, sorted by total spent", "/customers?sort=spent&dir=desc"),
    ("list, sorted by name", "/customers?sort=name&dir=asc"),
    ("list, sorted by last order (asc)", "/customers?sort=last_order&dir=asc"),
    ("search: common surname", "/customers?q=wang"),
    ("search: email prefix", "/customers?q=user123456@example"),
    ("search: phone", "/customers?q=%2B62+81+000+123+456"),
    ("search: external id", "/customers?q=SH-400000"),
    ("search: no match", "/customers?q=zzz"),
    ("filter: RFM champions", "/customers?rfm=champions"),
    ("filter: RFM champions by spend", "/customers?rfm=champions&sort=spent&dir=asc"),
    ("filter: prospects by name", "/customers?rfm=prospects&sort=name&dir=asc"),
    ("filter: tag", "/customers?tag=vip"),
    ("filter: country by orders", "/customers?country=ID&sort=orders&dir=desc"),
    ("360", "/customers/123457"),
    ("360 timeline fragment", "/customers/123457/timeline?kind=order"),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--fill", type=int, default=0)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    os.environ["PATRON_DATABASE_URL"] = args.url

    from fastapi.testclient import TestClient
    from sqlalchemy import text

    from patron import db
    from patron.analytics import service as analytics_service
    from patron.app import create_app
    from patron.auth import service as auth_service
    from patron.auth.schemas import Role, UserCreate

    password = "correct horse battery staple"
    email = f"bench-{int(time.time())}@shop.test"
    with db.unit_of_work() as s:
        if args.fill:
            for statement in FILL.split(";"):
                if statement.strip():
                    s.execute(text(statement), {"n": args.fill})
            s.flush()
            analytics_service.refresh_rfm(s)
        auth_service.create_user(
            s, data=UserCreate(email=email, password=password, role=Role.OWNER)
        )
    if args.fill:
        with db.unit_of_work() as s:
            s.execute(text("ANALYZE"))
    client = TestClient(create_app(), follow_redirects=False)
    html = {"Accept": "text/html"}
    form = client.get("/login", headers=html).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    signed = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token.group(1), "next": "/"},
    )
    assert signed.status_code == 303, signed.text
    first = client.get("/customers", headers=html).text
    found = re.search(r'href="([^"]+)"[^>]*rel="next"', first)
    pages = list(PAGES)
    if found:
        pages.insert(1, ("list, page 2 (cursor)", found.group(1).replace("&amp;", "&")))
    print(f"load average before: {os.getloadavg()}")
    for label, url in pages:
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            response = client.get(url, headers=html)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code in (200, 303), (url, response.status_code)
        times.sort()
        p95 = times[round(0.95 * (len(times) - 1))]
        print(f"{label:36s} p50 {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
