"""File imports through the services: Online Retail, CDNOW and CSV, on both backends."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.catalog.models import Product
from patron.customers.models import Customer, Identity
from patron.integrations.cli import Format, Kind, run_import
from patron.integrations.importers import ImportReport, Item, write_orders
from patron.orders.models import Order, OrderLine, Refund
from patron.orders.schemas import CustomerRefIn, OrderIn
from patron.store import service as store_service
from patron.store.schemas import StoreSettings
from tests.shared_data import SHARED

REAL_ONLINE_RETAIL = SHARED / "online_retail_uci" / "online_retail.csv.gz"

ONLINE_RETAIL_SAMPLE = """\
InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6.0,2010-12-01 08:26:00,2.55,17850,United Kingdom
536365,71053,WHITE METAL LANTERN,6.0,2010-12-01 08:26:00,3.39,17850,United Kingdom
536370,22728,ALARM CLOCK BAKELIKE PINK,24.0,2010-12-01 08:45:00,3.75,12583,France
536370,POST,POSTAGE,3.0,2010-12-01 08:45:00,18.0,12583,France
536544,21773,DECORATIVE ROSE BATHROOM BOTTLE,1.0,2010-12-01 14:32:00,2.51,,United Kingdom
536544,DOT,DOTCOM POSTAGE,1.0,2010-12-01 14:32:00,569.77,,United Kingdom
C536379,D,Discount,-1.0,2010-12-01 09:41:00,27.5,14527,United Kingdom
C536383,35004C,SET OF 3 COLOURED  FLYING DUCKS,-1.0,2010-12-01 09:49:00,4.65,17850,United Kingdom
536589,21777,,-10.0,2010-12-01 16:50:00,0.0,,United Kingdom
536590,22139,RETROSPOT TEA SET,two,2010-12-01 16:51:00,4.95,13047,United Kingdom
536590,22141,CHRISTMAS CRAFT TREE,1.0,2010-12-01 16:51:00,-1.0,13047,United Kingdom
536590,22142,CHRISTMAS CRAFT WHITE FAIRY,2.0,not a date,1.45,13047,United Kingdom
536590,22143,CHRISTMAS CRAFT HEART DECORATIONS,3.0,2011-06-01 16:51:00,2.10,13047,United Kingdom
A563185,B,Adjust bad debt,1.0,2011-08-12 14:50:00,11062.06,,United Kingdom
536591,M,Manual,1.0,2011-06-02 10:00:00,1.25,12347,Iceland
"""

CDNOW_SAMPLE = """\
 customer_id  date number_of_cds  dollar_value
 00001 19970101  1   11.77
 00002 19970112  1   12.00
 00002 19970112  5   77.00
 00003 19970102  2   20.76
 00003 1997013x  2   20.76
 00004 19970105  0    0.00
 00005 19970106  3   10.00
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def gbp_store(session: Session) -> None:
    store_service.update_settings(session, settings=StoreSettings(base_currency="GBP"))
    session.commit()


def count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def orders_by_number(session: Session) -> dict[str, Order]:
    return {o.number: o for o in session.scalars(select(Order))}


def test_online_retail_sample_lands_exactly(session: Session, tmp_path: Path) -> None:
    # Given a sample with customers, a guest, fees, two cancellations and five bad rows
    gbp_store(session)
    path = write(tmp_path, "or.csv", ONLINE_RETAIL_SAMPLE)

    # When it is imported
    report = run_import(Kind.ORDERS, Format.ONLINE_RETAIL, path, source_key="online-retail",
                        mapping={})  # fmt: skip

    # Then the good rows land and each bad row is rejected with its row number and reason
    assert report.summary() == {
        "rows": 15, "imported": 10, "rejected": 5, "orders_created": 7, "orders_updated": 0,
        "orders_unchanged": 0, "customers": 0, "products": 0,
    }  # fmt: skip
    assert [(r.row, r.column, r.reason) for r in report.rejects] == [
        (10, "Quantity", "negative on a sale invoice (a stock write-off, not a sale)"),
        (11, "Quantity", "not a number: 'two'"),
        (12, "UnitPrice", "must not be negative: '-1.0'"),
        (13, "InvoiceDate", "not a date-time: 'not a date'"),
        (15, "InvoiceNo", "'A563185' is neither a sale nor a 'C' cancellation"),
    ]
    session.expire_all()
    orders = orders_by_number(session)
    shape = {
        n: (o.status, o.subtotal, o.discount_total, o.shipping_total, o.total, o.refunded_total,
            o.customer_id is not None, o.currency, o.channel)
        for n, o in orders.items()
    }  # fmt: skip
    assert shape == {
        "536365": ("placed", 3564, 0, 0, 3564, 0, True, "GBP", "web"),
        "536370": ("placed", 9000, 0, 5400, 14400, 0, True, "GBP", "web"),
        "536544": ("placed", 251, 0, 56977, 57228, 0, False, "GBP", "web"),
        "C536379": ("cancelled", 0, 0, 0, 2750, 2750, True, "GBP", "web"),
        "C536383": ("cancelled", 465, 0, 0, 465, 465, True, "GBP", "web"),
        "536590": ("placed", 630, 0, 0, 630, 0, True, "GBP", "web"),
        "536591": ("placed", 0, 0, 0, 125, 0, True, "GBP", "web"),
    }
    # InvoiceDate is UK local time: summer time is one hour ahead of UTC.
    assert orders["536590"].placed_at == datetime(2011, 6, 1, 15, 51, tzinfo=UTC)
    assert orders["536365"].placed_at == datetime(2010, 12, 1, 8, 26, tzinfo=UTC)
    assert orders["536591"].properties["adjustments"] == [
        {"code": "M", "description": "Manual", "amount": 125}
    ]
    assert orders["536365"].customer_id == orders["C536383"].customer_id
    assert count(session, OrderLine) == 6
    assert count(session, Refund) == 2
    assert count(session, Product) == 6  # POST, DOT, D and M are not products
    ids = session.scalars(
        select(Identity.value).where(Identity.source == "online-retail").order_by(Identity.value)
    ).all()
    assert ids == ["12347", "12583", "13047", "14527", "17850"]
    countries = dict(
        session.execute(
            select(Identity.value, Customer.country).join(Customer,
                                                          Customer.id == Identity.customer_id)
        ).all()
    )  # fmt: skip
    assert countries == {"12347": "IS", "12583": "FR", "13047": "GB", "14527": "GB",
                         "17850": "GB"}  # fmt: skip
    c17850 = session.get(Customer, orders["536365"].customer_id)
    assert c17850 is not None
    assert (c17850.orders_count, c17850.total_spent) == (1, 3564)


def test_importing_twice_changes_nothing(session: Session, tmp_path: Path) -> None:
    path = write(tmp_path, "or.csv", ONLINE_RETAIL_SAMPLE)
    run_import(Kind.ORDERS, Format.ONLINE_RETAIL, path, source_key="online-retail", mapping={})
    session.expire_all()
    before = [(o.number, o.total, o.updated_at) for o in session.scalars(select(Order))]
    counts = [count(session, m) for m in (Order, OrderLine, Refund, Product, Customer)]

    again = run_import(Kind.ORDERS, Format.ONLINE_RETAIL, path, source_key="online-retail",
                       mapping={})  # fmt: skip

    assert (again.orders_created, again.orders_updated, again.orders_unchanged) == (0, 0, 7)
    session.expire_all()
    assert [(o.number, o.total, o.updated_at) for o in session.scalars(select(Order))] == before
    assert [count(session, m) for m in (Order, OrderLine, Refund, Product, Customer)] == counts


def test_first_lines_of_the_real_file(session: Session, tmp_path: Path) -> None:
    # Given the first 2,000 rows of the real data set (or the sample when it is absent)
    path = tmp_path / "head.csv"
    if REAL_ONLINE_RETAIL.is_file():
        with gzip.open(REAL_ONLINE_RETAIL, "rt", newline="") as fh:
            path.write_text("".join(next(fh) for _ in range(2001)))
        expected = (2000, 2000, 0, 97)  # 97 invoices, all rows clean
    else:  # pragma: no cover - machines without the data set
        path.write_text(ONLINE_RETAIL_SAMPLE)
        expected = (15, 10, 5, 7)
    report = run_import(Kind.ORDERS, Format.ONLINE_RETAIL, path, source_key="online-retail",
                        mapping={})  # fmt: skip
    assert (report.rows, report.imported, len(report.rejects), report.orders_created) == expected
    assert count(session, Order) == expected[3]


def test_bad_csv_rows_are_rejected_and_the_good_ones_land(session: Session, tmp_path: Path) -> None:
    # Given CSV orders: a bad email (order 3) and a zero quantity (order 4)
    path = write(tmp_path, "orders.csv", (
        "order_id,placed_at,email,sku,quantity,unit_price,currency,status\n"
        "1,2026-01-02T10:00:00Z,a@example.com,A,1,10.00,EUR,paid\n"
        "2,2026-01-02T11:00:00Z,b@example.com,B,2,5.00,EUR,\n"
        "2,2026-01-02T11:00:00Z,b@example.com,C,1,1.50,EUR,\n"
        "3,2026-01-03T11:00:00Z,not-an-email,B,1,5.00,EUR,\n"
        "4,2026-01-03T12:00:00Z,,D,0,5.00,EUR,\n"
    ))  # fmt: skip
    report = run_import(Kind.ORDERS, Format.CSV, path, source_key="csv", mapping={})
    assert [(r.row, r.column) for r in report.rejects] == [(5, "email"), (6, "quantity")]
    assert (report.imported, report.orders_created) == (3, 2)
    session.expire_all()
    orders = orders_by_number(session)
    assert {n: (o.status, o.total, o.currency) for n, o in orders.items()} == {
        "1": ("paid", 1000, "EUR"),
        "2": ("placed", 1150, "EUR"),
    }


def test_an_order_the_service_refuses_loses_only_its_rows(session: Session) -> None:
    # Given a chunk of three orders, the middle one refused by upsert_orders (naive time)
    source_id = store_service.ensure_source(session, key="t").id
    session.commit()

    def order(n: int, at: datetime) -> Item[OrderIn]:
        return Item(OrderIn(external_id=str(n), number=str(n), placed_at=at, currency="USD",
                            customer=CustomerRefIn(), lines=[]), [n * 10, n * 10 + 1])  # fmt: skip

    aware = datetime(2026, 1, 1, tzinfo=UTC)
    report = ImportReport()
    write_orders([order(1, aware), order(2, aware.replace(tzinfo=None)), order(3, aware)],
                 source_id, report)  # fmt: skip

    # Then the other two land and the refused order's rows are rejected with the reason
    assert (report.imported, report.orders_created) == (4, 2)
    assert [(r.row, r.column, r.reason) for r in report.rejects] == [
        (20, "orders[0].placed_at", "placed_at must be timezone-aware"),
        (21, "orders[0].placed_at", "placed_at must be timezone-aware"),
    ]
    assert sorted(orders_by_number(session)) == ["1", "3"]


def test_csv_orders_with_a_column_mapping(session: Session, tmp_path: Path) -> None:
    path = write(tmp_path, "shop.csv", (
        "Order,Date,E-mail,Item,Qty,Price,Land,Shipping\n"
        "A-1,2026-02-01 09:00,ann@example.com,SKU-1,2,12.50,Indonesia,3.00\n"
        "A-1,2026-02-01 09:00,ann@example.com,SKU-2,1,4.00,Indonesia,3.00\n"
        "A-2,2026-02-02 09:00,bob@example.com,SKU-1,1,12.50,Atlantis,0\n"
    ))  # fmt: skip
    mapping = {"order_id": "Order", "placed_at": "Date", "email": "E-mail", "sku": "Item",
               "quantity": "Qty", "unit_price": "Price", "country": "Land"}  # fmt: skip
    report = run_import(Kind.ORDERS, Format.CSV, path, source_key="shop", mapping=mapping)
    assert [(r.row, r.column, r.reason) for r in report.rejects] == [
        (4, "country", "unknown country 'Atlantis'")
    ]
    session.expire_all()
    (order,) = session.scalars(select(Order)).all()
    assert (order.number, order.subtotal, order.shipping_total, order.total, order.currency) == (
        "A-1", 2900, 300, 3200, "USD")  # fmt: skip
    customer = session.get(Customer, order.customer_id)
    assert customer is not None
    assert (customer.email, customer.country) == ("ann@example.com", "ID")


def test_csv_customers_and_products(session: Session, tmp_path: Path) -> None:
    people = write(tmp_path, "people.csv", (
        "id,email,first name,last name,country,tags\n"
        "c1,ann@example.com,Ann,Lee,GB,vip;wholesale\n"
        "c2,,Budi,Santoso,Indonesia,\n"
        ",,Nobody,,GB,\n"
    ))  # fmt: skip
    report = run_import(Kind.CUSTOMERS, Format.CSV, people, source_key="crm",
                        mapping={"customer_id": "id"})  # fmt: skip
    assert (report.imported, report.customers, [r.row for r in report.rejects]) == (2, 2, [4])
    again = run_import(Kind.CUSTOMERS, Format.CSV, people, source_key="crm",
                       mapping={"customer_id": "id"})  # fmt: skip
    assert again.customers == 2
    session.expire_all()
    rows = session.execute(
        select(Customer.first_name, Customer.country, Customer.tags).order_by(Customer.id)
    ).all()
    assert [tuple(r) for r in rows] == [("Ann", "GB", ["vip", "wholesale"]), ("Budi", "ID", [])]

    goods = write(tmp_path, "goods.csv", (
        "sku,title,category,brand,price,currency,stock\n"
        "T-1,Tea,Drinks > Tea,Leafy,4.50,GBP,10\n"
        "T-2,Bad,Drinks,Leafy,cheap,GBP,1\n"
    ))  # fmt: skip
    report = run_import(Kind.PRODUCTS, Format.CSV, goods, source_key="crm", mapping={})
    assert (report.imported, report.products, [r.row for r in report.rejects]) == (1, 1, [3])
    product = session.scalars(select(Product)).one()
    assert (product.sku, product.price, product.currency, product.category_path,
            product.stock) == ("T-1", 450, "GBP", "Drinks > Tea", 10)  # fmt: skip


def test_cdnow_sample_exact(session: Session, tmp_path: Path) -> None:
    path = write(tmp_path, "cdnow.txt", CDNOW_SAMPLE)
    report = run_import(Kind.ORDERS, Format.CDNOW, path, source_key="cdnow", mapping={})
    assert [(r.row, r.column) for r in report.rejects] == [(6, "date"), (7, "count")]
    assert (report.rows, report.imported, report.orders_created) == (7, 5, 5)
    session.expire_all()
    orders = {o.number: (o.total, o.currency, o.placed_at) for o in session.scalars(select(Order))}
    day = datetime(1997, 1, 12, tzinfo=UTC)
    assert orders == {
        "00001-19970101-2": (1177, "USD", datetime(1997, 1, 1, tzinfo=UTC)),
        "00002-19970112-3": (1200, "USD", day),
        "00002-19970112-4": (7700, "USD", day),
        "00003-19970102-5": (2076, "USD", datetime(1997, 1, 2, tzinfo=UTC)),
        "00005-19970106-8": (1000, "USD", datetime(1997, 1, 6, tzinfo=UTC)),
    }
    lines = session.execute(
        select(OrderLine.quantity, OrderLine.unit_price, OrderLine.discount, OrderLine.total)
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.number == "00005-19970106-8")
    ).all()
    assert [tuple(r) for r in lines] == [(3, 334, 2, 1000)]
    assert count(session, Customer) == 4
    assert run_import(Kind.ORDERS, Format.CDNOW, path, source_key="cdnow",
                      mapping={}).orders_unchanged == 5  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "expected"), [(Kind.CUSTOMERS, (15, 5)), (Kind.PRODUCTS, (15, 6))]
)
def test_online_retail_customers_and_products(
    session: Session, tmp_path: Path, kind: Kind, expected: tuple[int, int]
) -> None:
    path = write(tmp_path, "or.csv", ONLINE_RETAIL_SAMPLE)
    report = run_import(kind, Format.ONLINE_RETAIL, path, source_key="online-retail", mapping={})
    found = report.customers if kind is Kind.CUSTOMERS else report.products
    assert (report.rows, found) == expected
    assert len(report.rejects) == 5


def test_an_order_the_database_refuses_loses_only_its_rows(session: Session) -> None:
    # Given a chunk of three orders with lines, the middle one naming a customer that does
    # not exist: the driver-level bulk insert (COPY / executemany) fails on its foreign key
    from patron.catalog.schemas import ProductRef
    from patron.orders.schemas import OrderLineIn

    source_id = store_service.ensure_source(session, key="t").id
    session.commit()
    at = datetime(2026, 1, 1, tzinfo=UTC)

    def order(n: int, customer_id: int | None) -> Item[OrderIn]:
        lines = [OrderLineIn(ProductRef(external_id=f"P{k}", sku=f"P{k}"), k, 100 * k)
                 for k in range(1, n + 1)]  # fmt: skip
        return Item(OrderIn(external_id=str(n), number=str(n), placed_at=at, currency="USD",
                            customer=CustomerRefIn(customer_id=customer_id), lines=lines),
                    [n * 10])  # fmt: skip

    report = ImportReport()
    write_orders([order(1, None), order(2, 10**9), order(3, None)], source_id, report)

    # Then the other two land whole (lines too) and only the refused order's row is rejected
    assert (report.imported, report.orders_created) == (2, 2)
    assert [(r.row, r.column) for r in report.rejects] == [(20, "")]
    assert report.rejects[0].reason.startswith("refused by the database: ")
    session.expire_all()
    assert sorted(orders_by_number(session)) == ["1", "3"]
    lines = session.execute(
        select(Order.number, OrderLine.sku, OrderLine.quantity, OrderLine.total)
        .join(Order, Order.id == OrderLine.order_id)
        .order_by(OrderLine.id)
    ).all()
    assert [tuple(r) for r in lines] == [
        ("1", "P1", 1, 100), ("3", "P1", 1, 100), ("3", "P2", 2, 400), ("3", "P3", 3, 900),
    ]  # fmt: skip
