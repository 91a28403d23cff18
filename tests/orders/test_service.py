"""Order upserts, refunds, cancellations, stats and merges, on both backends."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.catalog.models import Product, ProductExternalId
from patron.catalog.schemas import ProductRef
from patron.customers import service as customers_service
from patron.customers.models import TimelineEntry
from patron.customers.schemas import CustomerCreate, IdentityKey, IdentityKind
from patron.orders import service
from patron.orders.models import Order, OrderExternalId, OrderLine, Refund
from patron.orders.schemas import (
    CustomerRefIn,
    OrderIn,
    OrderLineIn,
    OrderStatus,
    RefundIn,
)
from patron.store import service as store_service
from patron.store.schemas import StoreSettings

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def src(session: Session, key: str = "shopify") -> int:
    return store_service.ensure_source(session, key=key).id


def by_email(address: str, **traits: str) -> CustomerRefIn:
    return CustomerRefIn(keys=[IdentityKey.of(IdentityKind.EMAIL, address)], traits=dict(traits))


def line(sku: str, qty: int, price: int, discount: int = 0) -> OrderLineIn:
    return OrderLineIn(
        product=ProductRef(sku=sku, title=sku.title()),
        quantity=qty,
        unit_price=price,
        discount=discount,
    )


def order(ext: str, who: CustomerRefIn, *lines: OrderLineIn, **kw: object) -> OrderIn:
    kw.setdefault("placed_at", T0)
    kw.setdefault("currency", "USD")
    return OrderIn(external_id=ext, customer=who, lines=list(lines), **kw)  # type: ignore[arg-type]


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def table_counts(session: Session) -> tuple[int, ...]:
    return tuple(
        count(session, m)
        for m in (Order, OrderExternalId, OrderLine, Refund, Product, ProductExternalId,
                  TimelineEntry)
    )  # fmt: skip


def timeline_kinds(session: Session, customer_id: int) -> list[str]:
    page = customers_service.timeline(session, customer_id=customer_id, limit=200)
    return sorted(e.kind for e in page.items)


def test_new_order_totals_lines_stats_and_timeline(session: Session) -> None:
    s = src(session)
    o = order("1001", by_email("Ann@Shop.com", first_name="Ann"), line("tee", 2, 1500, 100),
              line("mug", 1, 800), number="1001", discount_total=200, shipping_total=500,
              tax_total=300)  # fmt: skip
    summary = service.upsert_orders(session, orders=[o], source_id=s)
    assert (summary.created, summary.updated, summary.unchanged) == (1, 0, 0)
    got = service.get(session, order_id=summary.ids[0])
    # subtotal = 2*1500-100 + 800 = 3700; total = 3700 - 200 + 500 + 300 = 4300
    assert (got.subtotal, got.total, got.base_total, got.status) == (3700, 4300, 4300, "placed")
    assert [(ln.sku, ln.quantity, ln.total) for ln in got.lines] == [
        ("tee", 2, 2900),
        ("mug", 1, 800),
    ]
    ann = customers_service.get(session, customer_id=got.customer_id)  # type: ignore[arg-type]
    assert (ann.email, ann.first_name, ann.orders_count, ann.total_spent) == (
        "ann@shop.com", "Ann", 1, 4300)  # fmt: skip
    assert (ann.first_order_at, ann.last_order_at, ann.channels) == (T0, T0, ["web"])
    [entry] = customers_service.timeline(session, customer_id=ann.id).items
    assert (entry.kind, entry.title, entry.ref_type, entry.ref_id) == (
        "order", "Order #1001 · 3 items · 43.00 USD", "order", got.id)  # fmt: skip
    assert entry.data == {"total": 4300, "currency": "USD", "items": 3, "number": "1001",
                          "status": "placed"}  # fmt: skip


def test_resend_unchanged_writes_nothing(session: Session) -> None:
    s = src(session)
    orders = [order(str(n), by_email(f"c{n % 3}@x.io"), line("a", n, 100), line("b", 1, 50))
              for n in range(1, 8)]  # fmt: skip
    first = service.upsert_orders(session, orders=orders, source_id=s)
    before = table_counts(session)
    updated = {o.id: o.updated_at for o in service.list(session, limit=50).items}
    second = service.upsert_orders(session, orders=orders, source_id=s)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 7)
    assert second.ids == first.ids
    assert table_counts(session) == before == (7, 7, 14, 0, 2, 0, 7)
    assert {o.id: o.updated_at for o in service.list(session, limit=50).items} == updated


def test_resend_with_changes_updates_header_and_replaces_lines(session: Session) -> None:
    s = src(session)
    who = by_email("b@x.io")
    [oid] = service.upsert_orders(session, orders=[order("9", who, line("a", 1, 100))],
                                  source_id=s).ids  # fmt: skip
    summary = service.upsert_orders(
        session,
        orders=[order("9", who, line("a", 2, 100), line("c", 1, 30), status=OrderStatus.PAID)],
        source_id=s,
    )
    assert (summary.created, summary.updated, summary.ids) == (0, 1, [oid])
    got = service.get(session, order_id=oid)
    assert (got.status, got.total, [ln.sku for ln in got.lines]) == ("paid", 230, ["a", "c"])
    assert count(session, OrderLine) == 2
    assert timeline_kinds(session, got.customer_id) == ["order"]  # type: ignore[arg-type]
    cust = customers_service.get(session, customer_id=got.customer_id)  # type: ignore[arg-type]
    assert (cust.orders_count, cust.total_spent) == (1, 230)


def test_guest_checkout_lands_on_existing_customer(session: Session) -> None:
    known = customers_service.create(session, data=CustomerCreate(email="siti@toko.id"))
    s = src(session, "woo")
    summary = service.upsert_orders(
        session, orders=[order("g1", by_email("SITI@toko.id"), line("x", 1, 1000))], source_id=s
    )
    assert service.get(session, order_id=summary.ids[0]).customer_id == known.id
    assert customers_service.get(session, customer_id=known.id).orders_count == 1


def test_customer_id_short_cuts_resolution(session: Session) -> None:
    known = customers_service.create(session, data=CustomerCreate(email="z@x.io"))
    s = src(session)
    ref = CustomerRefIn(customer_id=known.id)
    summary = service.upsert_orders(session, orders=[order("s1", ref, line("x", 1, 9))],
                                    source_id=s)  # fmt: skip
    assert service.get(session, order_id=summary.ids[0]).customer_id == known.id


def test_second_source_is_a_second_order(session: Session) -> None:
    # the same external id in two sources names two different orders
    a, b = src(session, "shopify"), src(session, "pos")
    who = by_email("d@x.io")
    [x] = service.upsert_orders(session, orders=[order("1", who, line("a", 1, 5))],
                                source_id=a).ids  # fmt: skip
    [y] = service.upsert_orders(session, orders=[order("1", who, line("a", 1, 5))],
                                source_id=b).ids  # fmt: skip
    assert x != y
    assert count(session, Product) == 1  # matched by sku across sources


def test_order_seen_from_second_source_gains_a_second_external_id(session: Session) -> None:
    shop, events = src(session, "shopify"), src(session, "segment")
    who = by_email("d2@x.io")
    [x] = service.upsert_orders(session, orders=[order("S-1", who, line("a", 1, 5))],
                                source_id=shop).ids  # fmt: skip
    again = order("evt-9", who, line("a", 1, 5), same_as=[(shop, "S-1")])
    first = service.upsert_orders(session, orders=[again], source_id=events)
    second = service.upsert_orders(session, orders=[again], source_id=events)
    assert first.ids == second.ids == [x]
    assert (first.created, first.updated, second.unchanged) == (0, 1, 1)
    got = service.get(session, order_id=x)
    assert sorted((e["source_id"], e["external_id"]) for e in got.external_ids) == sorted(
        [(shop, "S-1"), (events, "evt-9")]
    )
    assert (count(session, Order), count(session, OrderExternalId)) == (1, 2)
    assert timeline_kinds(session, got.customer_id) == ["order"]  # type: ignore[arg-type]


def test_refunds_are_idempotent_and_update_status_and_stats(session: Session) -> None:
    s = src(session)
    [oid] = service.upsert_orders(
        session, orders=[order("r1", by_email("e@x.io"), line("a", 4, 2500))], source_id=s
    ).ids
    cid = service.get(session, order_id=oid).customer_id
    assert cid is not None
    r1 = RefundIn(external_id="rf1", amount=2500, refunded_at=T0 + timedelta(days=1))
    assert service.add_refunds(session, source_id=s, refunds=[("r1", r1)]) == 1
    assert service.add_refunds(session, source_id=s, refunds=[("r1", r1)]) == 0
    got = service.get(session, order_id=oid)
    assert (got.status, got.refunded_total, len(got.refunds)) == ("partially_refunded", 2500, 1)
    assert customers_service.get(session, customer_id=cid).total_spent == 7500
    r2 = RefundIn(external_id="rf2", amount=7500, refunded_at=T0 + timedelta(days=2))
    assert service.add_refunds(session, source_id=s, refunds=[("r1", r2), ("r1", r1)]) == 1
    got = service.get(session, order_id=oid)
    assert (got.status, got.refunded_total) == ("refunded", 10000)
    c = customers_service.get(session, customer_id=cid)
    assert (c.orders_count, c.total_spent) == (1, 0)
    assert timeline_kinds(session, cid) == ["order", "refund", "refund"]


def test_unknown_order_for_refund_names_order_id(session: Session) -> None:
    import pytest

    from patron.core.errors import ValidationError

    r = RefundIn(external_id="x", amount=1, refunded_at=T0)
    with pytest.raises(ValidationError) as err:
        service.add_refunds(session, source_id=src(session), refunds=[("nope", r)])
    assert err.value.field == "order_id"


def test_cancel_excludes_order_from_stats_once(session: Session) -> None:
    s = src(session)
    who = by_email("f@x.io")
    ids = service.upsert_orders(
        session,
        orders=[order("c1", who, line("a", 1, 1000)),
                order("c2", who, line("a", 1, 3000), placed_at=T0 + timedelta(days=5))],
        source_id=s,
    ).ids  # fmt: skip
    cid = service.get(session, order_id=ids[0]).customer_id
    assert cid is not None
    at = T0 + timedelta(days=6)
    assert service.cancel_orders(session, source_id=s, cancellations=[("c2", at)]) == 1
    assert service.cancel_orders(session, source_id=s, cancellations=[("c2", at)]) == 0
    got = service.get(session, order_id=ids[1])
    assert (got.status, got.cancelled_at) == ("cancelled", at)
    c = customers_service.get(session, customer_id=cid)
    assert (c.orders_count, c.total_spent, c.last_order_at) == (1, 1000, T0)
    assert timeline_kinds(session, cid) == ["cancellation", "order", "order"]
    # a re-sent order saying "cancelled" adds no second cancellation entry
    service.upsert_orders(
        session,
        orders=[order("c2", who, line("a", 1, 3000), placed_at=T0 + timedelta(days=5),
                      status=OrderStatus.CANCELLED, cancelled_at=at)],
        source_id=s,
    )  # fmt: skip
    assert timeline_kinds(session, cid) == ["cancellation", "order", "order"]


def test_multi_currency_base_total_uses_fx_rates(session: Session) -> None:
    store_service.update_settings(
        session,
        settings=StoreSettings(base_currency="USD", fx_rates={"IDR": "0.000064", "CNY": "0.14"}),
    )
    s = src(session)
    who = by_email("g@x.io")
    ids = service.upsert_orders(
        session,
        orders=[
            order("m1", who, line("a", 1, 1_500_000), currency="IDR"),  # IDR 15,000.00
            order("m2", who, line("b", 1, 10_000), currency="CNY"),  # CNY 100.00
            order("m3", who, line("c", 1, 999), currency="JPY"),  # no rate: 0 in base
        ],
        source_id=s,
    ).ids
    bases = [service.get(session, order_id=i).base_total for i in ids]
    assert bases == [96, 1400, 0]  # 15000*0.000064 = 0.96 USD; 100*0.14 = 14.00 USD
    cid = service.get(session, order_id=ids[0]).customer_id
    c = customers_service.get(session, customer_id=cid)  # type: ignore[arg-type]
    assert (c.orders_count, c.total_spent) == (3, 1496)


def test_merge_moves_orders_and_undo_restores_exact_stats(session: Session) -> None:
    from patron.wiring import wire

    wire()
    s = src(session)
    ids = service.upsert_orders(
        session,
        orders=[
            order("a1", by_email("h1@x.io"), line("a", 1, 1000), placed_at=T0),
            order("a2", by_email("h1@x.io"), line("a", 2, 1000), placed_at=T0 + timedelta(1)),
            order("b1", by_email("h2@x.io"), line("b", 1, 700), placed_at=T0 + timedelta(3)),
        ],
        source_id=s,
    ).ids
    one = service.get(session, order_id=ids[0]).customer_id
    two = service.get(session, order_id=ids[2]).customer_id
    assert one is not None
    assert two is not None

    def stats(cid: int) -> tuple[object, ...]:
        c = customers_service.get(session, customer_id=cid)
        return (c.orders_count, c.total_spent, c.first_order_at, c.last_order_at)

    before = (stats(one), stats(two))
    assert before == ((2, 3000, T0, T0 + timedelta(1)), (1, 700, T0 + timedelta(3),
                                                         T0 + timedelta(3)))  # fmt: skip
    m = customers_service.merge(session, winner_id=one, loser_id=two)
    assert stats(one) == (3, 3700, T0, T0 + timedelta(3))
    assert {o.customer_id for o in service.list(session, limit=10).items} == {one}
    customers_service.unmerge(session, merge_id=m.id)
    assert (stats(one), stats(two)) == before
    assert service.get(session, order_id=ids[2]).customer_id == two


def test_order_converts_its_cart(session: Session) -> None:
    from patron.orders.schemas import CartIn, CartLineIn, CartStatus

    s = src(session)
    who = by_email("k@x.io")
    [cart_id] = service.upsert_carts(
        session,
        carts=[CartIn(external_id="cart-1", customer=who, updated_at=T0, currency="USD",
                      status=CartStatus.CHECKOUT,
                      lines=[CartLineIn(product=ProductRef(sku="a"), quantity=2, unit_price=300),
                             CartLineIn(product=ProductRef(sku="a"), quantity=1, unit_price=300),
                             CartLineIn(product=ProductRef(sku="b"), quantity=1, unit_price=50)])],
        source_id=s,
    )  # fmt: skip
    cart = service.get_cart(session, cart_id=cart_id)
    assert (cart.status, cart.value, cart.item_count, len(cart.lines)) == ("checkout", 950, 4, 2)
    assert cart.checkout_started_at == T0
    [oid] = service.upsert_orders(
        session,
        orders=[order("o-1", who, line("a", 3, 300), properties={"cart_id": "cart-1"})],
        source_id=s,
    ).ids
    cart = service.get_cart(session, cart_id=cart_id)
    assert (cart.status, cart.converted_order_id, cart.converted_at) == ("converted", oid, T0)
    # a late cart update does not reopen it; lines None keeps lines
    service.upsert_carts(
        session,
        carts=[CartIn(external_id="cart-1", customer=who, updated_at=T0 + timedelta(1))],
        source_id=s,
    )
    cart = service.get_cart(session, cart_id=cart_id)
    assert (cart.status, cart.item_count, len(cart.lines)) == ("converted", 4, 2)
    page = service.list_carts(session, status="converted")
    assert [c.id for c in page.items] == [cart_id]
    assert service.list_carts(session, updated_before=T0).items == []


def test_orders_arriving_cancelled_or_refunded_are_recorded_once(session: Session) -> None:
    s = src(session)
    who = by_email("n@x.io")
    refund = RefundIn(external_id="R1", amount=400, refunded_at=T0 + timedelta(hours=2))
    batch = [
        order("x1", who, line("a", 1, 1000), status=OrderStatus.CANCELLED,
              cancelled_at=T0 + timedelta(hours=1)),
        order("x2", who, line("a", 2, 1000), refunds=[refund]),
    ]  # fmt: skip
    ids = service.upsert_orders(session, orders=batch, source_id=s).ids
    before = table_counts(session)
    assert service.upsert_orders(session, orders=batch, source_id=s).unchanged == 2
    assert table_counts(session) == before
    cancelled, refunded = (service.get(session, order_id=i) for i in ids)
    assert (cancelled.status, cancelled.cancelled_at) == ("cancelled", T0 + timedelta(hours=1))
    assert (refunded.status, refunded.refunded_total) == ("partially_refunded", 400)
    cid = refunded.customer_id
    assert cid is not None
    assert timeline_kinds(session, cid) == ["cancellation", "order", "order", "refund"]
    c = customers_service.get(session, customer_id=cid)
    assert (c.orders_count, c.total_spent) == (1, 1600)


def test_bad_order_input_names_the_field(session: Session) -> None:
    import pytest

    from patron.core.errors import ValidationError

    s = src(session)
    good = order("ok", by_email("v@x.io"), line("a", 1, 1))
    cases = [
        (order("b", by_email("v@x.io"), currency="EURO"), "orders[1].currency"),
        (order("b", by_email("v@x.io"), placed_at=datetime(2026, 1, 1)), "orders[1].placed_at"),  # noqa: DTZ001
    ]
    for bad, field in cases:
        with pytest.raises(ValidationError) as err:
            service.upsert_orders(session, orders=[good, bad], source_id=s)
        assert err.value.field == field
    assert count(session, Order) == 0
