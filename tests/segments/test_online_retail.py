"""A five-condition segment on a slice of the real UCI Online Retail data, checked against
an independent computation straight from the CSV (plain Python, no Patron code).

Given the first 60,000 rows of the file (2010-12-01 to 2011-01), imported through the
importer into a GBP store; when the segment is evaluated with the clock pinned, then its
members are exactly the customers the raw rows say: sale invoices only (cancellations and
'A' adjustments count neither as orders nor spend), rejected rows left out (non-positive or
fractional quantities, negative prices), total = lines - 'D' discounts.
"""

from __future__ import annotations

import csv
import gzip
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from patron.customers import service as customers_service
from patron.integrations.cli import Format, Kind, run_import
from patron.segments import membership
from patron.store import service as store_service
from patron.store.schemas import StoreSettings
from tests.shared_data import SHARED

REAL = SHARED / "online_retail_uci" / "online_retail.csv.gz"
ROWS = 60_000
NOW = datetime(2011, 1, 20, tzinfo=UTC)
QUERY = (
    'country = "GB" AND orders_count >= 2 AND total_spent >= 300 GBP AND '
    'ordered(product = "85123A", within = 45d) AND last_order_at < -10d'
)
COLUMNS = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
           "CustomerID", "Country"]  # fmt: skip


def independent(rows: list[list[str]]) -> set[str]:
    invoices: dict[str, list[list[str]]] = defaultdict(list)
    for row in rows:
        no, code, qty, price = row[0].strip(), row[1].strip(), row[3], row[5]
        if not no.isdigit() or not code:
            continue
        q, p = Decimal(qty), Decimal(price)
        if q <= 0 or q != q.to_integral_value() or p < 0:
            continue
        invoices[no].append(row)
    people: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"n": 0, "spent": Decimal(0), "last": None, "country": "", "bought": False}
    )
    for lines in invoices.values():
        who = lines[0][6].strip().split(".")[0]
        if not who:
            continue  # a guest checkout: an order without a customer
        # Times in the file are UK local time; in December and January that is UTC.
        at = min(datetime.strptime(r[4] + " +0000", "%Y-%m-%d %H:%M:%S %z") for r in lines)
        total = sum(
            (-1 if r[1].strip().upper() == "D" else 1) * Decimal(r[3]) * Decimal(r[5])
            for r in lines
        )
        p = people[who]
        p["n"] += 1
        p["spent"] += total
        if p["last"] is None or at > p["last"]:
            p["last"], p["country"] = at, lines[0][7].strip()
        if at >= NOW - timedelta(days=45) and any(r[1].strip() == "85123A" for r in lines):
            p["bought"] = True
    return {
        who
        for who, p in people.items()
        if p["country"] == "United Kingdom" and p["n"] >= 2 and p["spent"] >= 300
        and p["bought"] and p["last"] < NOW - timedelta(days=10)
    }  # fmt: skip


@pytest.mark.slow
def test_segment_members_match_an_independent_computation(session: Session, tmp_path: Path) -> None:
    if not REAL.is_file():  # pragma: no cover - machines without the data set
        pytest.skip("the Online Retail file is not on this machine")
    with gzip.open(REAL, "rt", newline="") as fh:
        reader = csv.reader(fh)
        assert next(reader) == COLUMNS
        rows = [row for _, row in zip(range(ROWS), reader, strict=False)]
    path = tmp_path / "slice.csv"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([COLUMNS, *rows])
    store_service.update_settings(session, settings=StoreSettings(base_currency="GBP"))
    session.commit()
    run_import(Kind.ORDERS, Format.ONLINE_RETAIL, path, source_key="online-retail", mapping={})

    compiled = membership.compile_for(session, query=QUERY, now=NOW)
    ids = [r[0] for r in session.execute(membership.member_select(compiled))]
    got = {
        next(i.value for i in customers_service.identities(session, customer_id=cid)
             if i.kind == "external")
        for cid in ids
    }  # fmt: skip

    want = independent(rows)
    assert len(want) == 50  # the slice really exercises every condition
    assert got == want
