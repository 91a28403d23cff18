"""RFM and KPIs on a slice of the real UCI Online Retail data, checked against an
independent computation straight from the CSV (plain Python + NumPy, no Patron code).

Given the first 60,000 rows of the file (2010-12-01 to 2011-01), imported through the
importer; when RFM and the December KPIs are computed, then every customer's scores and
every group's customers and revenue equal the ones computed from the raw rows.
"""

from __future__ import annotations

import csv
import gzip
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.analytics import service
from patron.customers import service as customers_service
from patron.integrations.cli import Format, Kind, run_import
from patron.store import service as store_service
from patron.store.schemas import StoreSettings
from tests.shared_data import SHARED

REAL = SHARED / "online_retail_uci" / "online_retail.csv.gz"
ROWS = 60_000
LONDON = ZoneInfo("Europe/London")
# The documented grid (docs/analytics.md), written out again: R score -> FM score -> group.
GRID_TEXT = """
5: new active active champions champions
4: promising active active loyal loyal
3: promising needs_attention needs_attention loyal loyal
2: almost_lost almost_lost at_risk at_risk previously_loyal
1: dormant dormant at_risk at_risk previously_loyal
"""
GRID = {
    int(line.split(":")[0]): line.split(":")[1].split() for line in GRID_TEXT.strip().splitlines()
}


def sample_rows() -> list[list[str]]:
    with gzip.open(REAL, "rt", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        assert header[:4] == ["InvoiceNo", "StockCode", "Description", "Quantity"]
        return [row for _, row in zip(range(ROWS), reader, strict=False)]


def independent(rows: list[list[str]]) -> tuple[dict[str, dict[str, object]], list]:
    """Sale invoices per customer, as the importer's documented rules read them."""
    invoices: dict[str, dict[str, object]] = {}
    for inv, code, _desc, qty, when, price, cust, _country in rows:
        if inv.startswith(("C", "A")) or not code.strip():
            continue  # cancellations count neither as orders nor spend; A = bad debt
        try:
            q = Decimal(qty)
            p = Decimal(price)
            at = datetime.strptime(when, "%Y-%m-%d %H:%M:%S").replace(tzinfo=LONDON)
        except (ArithmeticError, ValueError):
            continue
        if q <= 0 or q != q.to_integral_value() or p < 0:
            continue
        pence = int((p * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
        rec = invoices.setdefault(inv, {"customer": None, "total": 0, "at": at})
        rec["total"] = int(rec["total"]) + int(q) * pence  # type: ignore[call-overload]
        rec["at"] = min(rec["at"], at)  # type: ignore[type-var]
        if cust.strip():
            rec["customer"] = cust.split(".")[0].strip()
    return invoices, rows


def expected_scores(invoices: dict[str, dict[str, object]], as_of: datetime) -> dict[str, tuple]:
    per: dict[str, list] = defaultdict(lambda: [0, 0, None])
    for rec in invoices.values():
        if rec["customer"] is None:
            continue
        c = per[str(rec["customer"])]
        c[0] += 1
        c[1] += rec["total"]
        at = rec["at"].astimezone(UTC)  # type: ignore[union-attr]
        c[2] = at if c[2] is None or at > c[2] else c[2]
    ids = sorted(per)
    freq = np.array([per[i][0] for i in ids])
    money = np.array([per[i][1] for i in ids])
    rec_days = np.array([int((as_of - per[i][2]).total_seconds() // 86400) for i in ids])
    n = len(ids)

    def score(worse: np.ndarray) -> np.ndarray:
        return 1 + (5 * worse) // n

    f_s = score(np.searchsorted(np.sort(freq), freq, side="left"))
    m_s = score(np.searchsorted(np.sort(money), money, side="left"))
    r_s = score(n - np.searchsorted(np.sort(rec_days), rec_days, side="right"))
    out = {}
    for k, cid in enumerate(ids):
        fm = (int(f_s[k]) + int(m_s[k]) + 1) // 2
        group = GRID[int(r_s[k])][fm - 1]
        out[cid] = (int(r_s[k]), int(f_s[k]), int(m_s[k]), group, int(rec_days[k]),
                    int(freq[k]), int(money[k]))  # fmt: skip
    return out


@pytest.mark.slow
def test_rfm_and_kpis_match_an_independent_computation(session: Session, tmp_path: Path) -> None:
    if not REAL.is_file():  # pragma: no cover - machines without the data set
        pytest.skip("the Online Retail file is not on this machine")
    rows = sample_rows()
    path = tmp_path / "slice.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate",
                         "UnitPrice", "CustomerID", "Country"])  # fmt: skip
        writer.writerows(rows)
    store_service.update_settings(session, settings=StoreSettings(base_currency="GBP"))
    session.commit()
    run_import(Kind.ORDERS, Format.ONLINE_RETAIL, path, source_key="online-retail", mapping={})
    invoices, _ = independent(rows)
    last = max(rec["at"] for rec in invoices.values()).astimezone(UTC)  # type: ignore[type-var]
    as_of = (last + timedelta(days=1)).replace(hour=0, minute=0, second=0)

    service.refresh_rfm(session, as_of=as_of)

    want = expected_scores(invoices, as_of)
    t = service.rfm_table()
    got = {}
    for row in session.execute(select(t)):
        got[row.customer_id] = (row.r_score, row.f_score, row.m_score, row.rfm_group,
                                row.recency_days, row.frequency, row.monetary)  # fmt: skip
    external = {
        cid: next(
            i.value
            for i in customers_service.identities(session, customer_id=cid)
            if i.kind == "external"
        )  # fmt: skip
        for cid in got
    }
    assert len(got) == len(want) > 900
    assert {external[cid]: v for cid, v in got.items()} == want
    summary = service.rfm_summary(session)
    by_group: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for v in want.values():
        by_group[v[3]][0] += 1
        by_group[v[3]][1] += v[6]
    assert {g.group.value: [g.customers, g.revenue] for g in summary.groups
            if g.customers and g.group.value != "prospects"} == dict(by_group)  # fmt: skip

    # December 2010 KPIs: revenue and orders include guest checkouts; customers do not.
    dec = [r for r in invoices.values() if r["at"].astimezone(UTC).date() < date(2011, 1, 1)]  # type: ignore[union-attr]
    report = service.kpis(session, start=date(2010, 12, 1), end=date(2011, 1, 1))
    k = {x.metric: x.value for x in report.kpis}
    buyers = {r["customer"] for r in dec if r["customer"] is not None}
    assert k["revenue"] == sum(int(r["total"]) for r in dec)  # type: ignore[call-overload]
    assert k["orders"] == len(dec)
    assert k["customers"] == len(buyers)
    assert k["new_customers"] == len(buyers)  # the data set starts on 2010-12-01
