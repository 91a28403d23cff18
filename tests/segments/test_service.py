"""Segments on a small store with hand-known answers, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from patron.customers import service as customers_service
from patron.customers.schemas import CustomerUpdate
from patron.jobs import service as jobs_service
from patron.orders import service as orders_service
from patron.orders.schemas import RefundCreate
from patron.segments import service
from patron.segments.language import SegmentQueryError
from patron.segments.schemas import MembersChange, SegmentCreate, SegmentKind, SegmentUpdate
from tests.segments.conftest import EXAMPLE, Store, _order


def who(session: Session, store: Store, query: str, **kw: object) -> set[str]:
    got = service.preview(session, query=query, sample=100, now=store.now, **kw)  # type: ignore[arg-type]
    names = store.names(m.customer_id for m in got.sample)
    assert got.count == len(names)
    return names


def members(session: Session, store: Store, segment_id: int) -> set[str]:
    page = service.members(session, segment_id=segment_id, limit=1000)
    return store.names(m.customer_id for m in page.items)


def test_the_issue_example(session: Session, store: Store) -> None:
    assert who(session, store, EXAMPLE) == {"ann"}
    without_vip = EXAMPLE.replace(' AND NOT in_segment("VIP")', "")
    assert who(session, store, without_vip) == {"ann", "eve"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("orders_count >= 2", {"ann", "bob", "cat", "dan", "eve", "fay"}),
        ("orders_count = 0", {"hal"}),
        ("total_spent > 1000000 IDR", {"ann", "cat", "dan", "eve", "fay"}),
        ("total_spent > 1000000", {"ann", "cat", "dan", "eve", "fay"}),
        ("total_spent >= 75 USD", {"ann", "cat", "dan", "eve"}),  # 1,200,000 IDR
        ("total_spent >= 75.01 USD", {"cat", "dan", "eve"}),
        ("aov >= 750000 IDR", {"cat", "dan", "eve"}),
        ("last_order_at < -60d", {"ann", "bob", "dan", "eve", "fay"}),
        ("last_order_at >= -30d", {"cat", "gus"}),
        ("last_order_at IS NULL", {"hal"}),
        ("first_order_at >= -6d", {"gus"}),
        ('country = "id"', {"gus"}),
        ('country IN ("ID", "US")', {"gus"}),
        ('email = "ANN@example.com"', {"ann"}),
        ('email CONTAINS "an@"', {"dan"}),
        ('first_name != "Ann" AND orders_count = 2', {"bob", "cat", "dan", "fay"}),
        ('tags CONTAINS "vip"', {"ann"}),
        ('has_tag("vip")', {"ann"}),
        ('NOT tags CONTAINS "vip" AND orders_count >= 3', {"eve"}),
        ('properties.size = "M"', {"ann"}),
        ('properties.size IN ("M", "L")', {"ann", "cat"}),
        ("properties.points > 50", {"ann"}),
        ("properties.points <= 50", {"cat"}),
        ("properties.size IS NULL AND orders_count >= 1", {"bob", "dan", "eve", "fay", "gus"}),
        ('properties.size != "M"', {"bob", "cat", "dan", "eve", "fay", "gus", "hal"}),
        ("properties.newsletter = true", {"ann"}),
        ("properties.newsletter != true", {"bob", "cat", "dan", "eve", "fay", "gus", "hal"}),
        ('ordered(channel = "web", count >= 4)', {"eve"}),
        ("abandoned_cart(value >= 200000 IDR)", {"dan"}),
        ("abandoned_cart(value >= 300000 IDR)", set()),
        ('did("Product Viewed")', {"ann", "bob", "cat", "dan", "eve", "fay"}),
        ('did("Product Viewed", within = 7d)', {"bob", "cat", "dan"}),
        ('did("Product Viewed", category = "Shoes")', {"ann", "bob", "cat", "eve", "fay"}),
        ('did("Product Viewed", category = "Shoes > Running")', {"eve"}),
        ('did("Product Viewed", count >= 3)', {"cat"}),
        ('did("Product Viewed", count = 0)', {"gus", "hal"}),
        (
            'did("Product Viewed", count < 2, within = 30d)',
            {"ann", "bob", "dan", "eve", "fay", "gus", "hal"},
        ),
        ('did("Product Viewed", before = -15d)', {"eve", "fay"}),
        ('did("Order Completed")', set()),
        ('NOT did("Product Viewed")', {"gus", "hal"}),
        ('ordered(category = "Shoes")', {"ann", "bob", "cat", "eve", "fay", "gus"}),
        ('ordered(category = "Bags")', {"dan"}),
        ('ordered(product = "sneaker", count >= 3)', {"ann", "eve"}),
        ("ordered(within = 30d)", {"cat", "gus"}),
        ("ordered(within = 100d, count >= 2)", {"cat", "eve"}),
        ("ordered(total >= 1000000 IDR)", {"cat", "eve"}),
        ("abandoned_cart()", {"dan"}),
        ("abandoned_cart(idle = 4h)", set()),
        ('in_segment("VIP")', {"eve"}),
        ('(orders_count = 1 OR orders_count = 0) AND NOT country = "ID"', {"hal"}),
        ("orders_count >= 2 AND (last_order_at > -15d OR total_spent >= 3000000)", {"cat", "eve"}),
    ],
)
def test_conditions_have_exact_members(
    session: Session, store: Store, query: str, expected: set[str]
) -> None:
    assert who(session, store, query) == expected


def test_nested_dynamic_segments_and_cycles(session: Session, store: Store) -> None:
    buyers = service.create(session, data=SegmentCreate(name="Buyers", query="orders_count >= 1"))
    big = service.create(
        session, data=SegmentCreate(name="Big", query='in_segment("Buyers") AND aov >= 750000')
    )
    assert who(session, store, 'in_segment("Big")') == {"cat", "dan", "eve"}
    with pytest.raises(SegmentQueryError) as cycle:
        service.update(session, segment_id=buyers.id, data=SegmentUpdate(query='in_segment("Big")'))
    assert cycle.value.position == 12
    assert cycle.value.detail == "segments refer to each other in a cycle: Buyers -> Big -> Buyers"
    with pytest.raises(SegmentQueryError) as itself:
        service.create(session, data=SegmentCreate(name="Loop", query='in_segment("Loop")'))
    assert itself.value.detail == "segments refer to each other in a cycle: Loop -> Loop"
    with pytest.raises(SegmentQueryError) as missing:
        service.preview(session, query='orders_count > 1 AND in_segment("Nope")')
    assert (missing.value.position, missing.value.detail) == (
        33,
        'there is no segment named "Nope"',
    )
    from patron.core.errors import Conflict

    with pytest.raises(Conflict) as used:
        service.delete(session, segment_id=buyers.id)
    assert used.value.message == "segments Big use this segment; change them first"
    assert big.kind is SegmentKind.DYNAMIC


def test_full_refresh_records_history_timeline_and_jobs(session: Session, store: Store) -> None:
    seg = service.create(session, data=SegmentCreate(name="Lapsing", query="last_order_at < -60d"))
    result = service.refresh(session, segment_id=seg.id, now=store.now)
    assert (result.mode, result.entered, result.exited, result.members) == ("full", 5, 0, 5)
    assert members(session, store, seg.id) == {"ann", "bob", "dan", "eve", "fay"}
    again = service.refresh(session, segment_id=seg.id, now=store.now)
    assert (again.entered, again.exited, again.members) == (0, 0, 5)
    # bob orders again: a full refresh an hour later takes him out.
    orders_service.upsert_orders(
        session,
        orders=[_order("bob-new", store.ids["bob"], store.now, 1_000_000)],
        source_id=store.source_id,
    )
    later = store.now + timedelta(hours=1)
    out = service.refresh(session, segment_id=seg.id, now=later)
    assert (out.entered, out.exited, out.members) == (0, 1, 4)
    hist = service.history(session, segment_id=seg.id, customer_id=store.ids["bob"])
    assert [(h.entered_at, h.exited_at, h.reason) for h in hist] == [(store.now, later, "full")]
    titles = [
        (e.title, e.occurred_at)
        for e in customers_service.timeline(
            session, customer_id=store.ids["bob"], kinds=["segment"]
        ).items
    ]
    assert titles == [
        ("Left segment \u201cLapsing\u201d", later),
        ("Entered segment \u201cLapsing\u201d", store.now),
    ]
    jobs = jobs_service.list_jobs(session, kind="segment.exited").items
    assert [
        (j.payload["segment"], j.payload["customer_ids"], j.payload["initial"]) for j in jobs
    ] == [("Lapsing", [store.ids["bob"]], False)]
    entered = jobs_service.list_jobs(session, kind="segment.entered").items
    assert [
        len(j.payload["customer_ids"]) for j in entered if j.payload["segment"] == "Lapsing"
    ] == [5]


def test_incremental_update_touches_only_changed_customers(session: Session, store: Store) -> None:
    # every earlier write a day old, so only this test's writes fall in the refresh's window
    day_ago = store.now - timedelta(days=1)
    for table in (customers_service.customers_table(), orders_service.orders_table()):
        session.execute(update(table).values(updated_at=day_ago))
    seg = service.create(session, data=SegmentCreate(name="Lapsing", query="last_order_at < -60d"))
    service.refresh(session, segment_id=seg.id, now=store.now)
    orders_service.upsert_orders(
        session,
        orders=[_order("bob-new", store.ids["bob"], store.now, 1_000_000)],
        source_id=store.source_id,
    )
    customers_service.update(
        session, customer_id=store.ids["gus"], data=CustomerUpdate(first_name="Gustav")
    )
    out = service.refresh(
        session, segment_id=seg.id, mode="incremental", now=store.now + timedelta(minutes=5)
    )
    assert (out.mode, out.checked, out.entered, out.exited, out.members) == (
        "incremental", 2, 0, 1, 4)  # fmt: skip
    assert members(session, store, seg.id) == {"ann", "dan", "eve", "fay"}


def test_incremental_update_sees_a_refund(session: Session, store: Store) -> None:
    """A refund changes the customer's net spend: the incremental refresh must look at that
    customer again (the refund marks the order as updated), and only at that customer."""
    # Given every write of the store a day old, and a segment refreshed now
    day_ago = store.now - timedelta(days=1)
    for table in (customers_service.customers_table(), orders_service.orders_table()):
        session.execute(update(table).values(updated_at=day_ago))
    seg = service.create(session, data=SegmentCreate(name="Big", query="total_spent > 1000000"))
    service.refresh(session, segment_id=seg.id, now=store.now)
    assert members(session, store, seg.id) == {"ann", "cat", "dan", "eve", "fay"}
    # When 300,000.00 IDR of ann's 500,000.00 IDR order is refunded (she keeps 900,000.00)
    o = orders_service.orders_table()
    order_id = session.scalar(
        select(o.c.id).where(o.c.customer_id == store.ids["ann"], o.c.total == 50_000_000)
    )
    orders_service.add_refund(
        session, order_id=order_id, data=RefundCreate(external_id="r-1", amount=30_000_000)
    )
    out = service.refresh(
        session, segment_id=seg.id, mode="incremental", now=store.now + timedelta(minutes=5)
    )
    # Then the incremental refresh checks ann alone, and she leaves
    assert (out.mode, out.checked, out.entered, out.exited) == ("incremental", 1, 0, 1)
    assert members(session, store, seg.id) == {"cat", "dan", "eve", "fay"}


def test_time_based_condition_takes_effect_when_the_time_passes(
    session: Session, store: Store
) -> None:
    seg = service.create(session, data=SegmentCreate(name="Lapsing", query="last_order_at < -60d"))
    assert service.get(session, segment_id=seg.id).time_based
    service.refresh(session, segment_id=seg.id, now=store.now)
    # cat's last order was 10 days ago: 50 days and a minute later it is 60 days old.
    at = store.now + timedelta(days=50, minutes=1)
    out = service.refresh(session, segment_id=seg.id, mode="incremental", now=at)
    assert (out.mode, out.entered, out.exited) == ("incremental", 1, 0)
    assert members(session, store, seg.id) == {"ann", "bob", "cat", "dan", "eve", "fay"}
    # An event window: bob's Shoes view (5 days ago) leaves a 7-day window 2 days later.
    recent = service.create(
        session, data=SegmentCreate(name="Browsers", query='did("Product Viewed", within = 7d)')
    )
    service.refresh(session, segment_id=recent.id, now=store.now)
    assert members(session, store, recent.id) == {"bob", "cat", "dan"}
    two_days = service.refresh(
        session,
        segment_id=recent.id,
        mode="incremental",
        now=store.now + timedelta(days=2, minutes=1),
    )
    assert (two_days.entered, two_days.exited) == (0, 1)
    assert members(session, store, recent.id) == {"cat", "dan"}


def test_static_lists_add_remove_and_import(session: Session, store: Store) -> None:
    lst = service.create(session, data=SegmentCreate(name="Press", kind=SegmentKind.STATIC))
    added = service.add_members(
        session,
        segment_id=lst.id,
        change=MembersChange(
            customer_ids=[store.ids["ann"], 999_999], emails=["BOB@example.com", "x@nowhere.io"]
        ),
    )
    assert (added.added, added.unchanged, added.not_found) == (2, 0, ["999999", "x@nowhere.io"])
    imported = service.import_list(
        session,
        segment_id=lst.id,
        text="email,name\ncat@example.com,Cat\nann@example.com,Ann\n\n",
    )
    assert (imported.added, imported.unchanged) == (1, 1)
    by_id = service.import_list(session, segment_id=lst.id, text=f"{store.ids['dan']}\n")
    assert by_id.added == 1
    assert members(session, store, lst.id) == {"ann", "bob", "cat", "dan"}
    removed = service.remove_members(
        session, segment_id=lst.id, change=MembersChange(emails=["ann@example.com"])
    )
    assert (removed.removed, service.get(session, segment_id=lst.id).member_count) == (1, 3)
    assert members(session, store, lst.id) == {"bob", "cat", "dan"}
    from patron.core.errors import ValidationError

    with pytest.raises(ValidationError) as bad:
        service.import_list(session, segment_id=lst.id, text="email\nnot-an-email\n")
    assert bad.value.message == "row 2: 'not-an-email' is neither an email nor a customer id"
    csv_text = "".join(service.export_rows(session, segment_id=lst.id))
    lines = csv_text.splitlines()
    assert lines[0] == (
        "customer_id,email,first_name,last_name,orders_count,total_spent,last_order_at,entered_at"
    )
    assert [ln.split(",")[1] for ln in lines[1:]] == [
        "bob@example.com",
        "cat@example.com",
        "dan@example.com",
    ]


def test_members_cursor_pagination(session: Session, store: Store) -> None:
    seg = service.create(
        session, data=SegmentCreate(name="Buyers", query="orders_count >= 1"), refresh_now=True
    )
    seen: list[int] = []
    cursor = None
    while True:
        page = service.members(session, segment_id=seg.id, cursor=cursor, limit=3)
        seen += [m.customer_id for m in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted(store.ids[n] for n in ("ann", "bob", "cat", "dan", "eve", "fay", "gus"))


def test_builtin_lifecycle_segments_use_the_store_purchase_cycle(
    session: Session, store: Store
) -> None:
    found = service.thresholds(session)
    # Gaps between consecutive orders (days): ann 50, 60; bob 50; cat 30; dan 200;
    # eve 100, 100, 35; fay 59 -> sorted 30 35 50 50 59 60 100 100 200: median 59.
    assert (found.purchase_cycle_days, found.derived_from_orders) == (59.0, 9)
    assert (found.new_days, found.at_risk_days, found.lapsed_days) == (59, 118, 236)
    # Spend of the 7 buyers sorted: 400k 800k 1.1M 1.2M 1.5M 2M 3M; p80 = rank 6, p95 = 7.
    assert (found.high_value_min_spent, found.vip_min_spent) == (200_000_000, 300_000_000)
    installed = service.install_builtins(session, refresh_now=True)
    got = {s.builtin: members(session, store, s.id) for s in installed}
    assert got == {
        "new": {"cat", "gus"},
        "repeat": {"ann", "bob", "cat", "dan", "eve", "fay"},
        "one_time": {"gus"},
        "high_value": {"cat", "eve"},
        "at_risk": set(),
        "lapsed": set(),
        "cart_abandoners": {"dan"},
        "vip": {"ann", "eve"},
    }
    assert {s.builtin: s.query for s in installed}["lapsed"] == (
        "orders_count >= 1 AND last_order_at < -236d"
    )


def test_merged_away_and_anonymous_profiles_are_never_members(
    session: Session, store: Store
) -> None:
    customers_service.merge(session, winner_id=store.ids["ann"], loser_id=store.ids["bob"])
    assert who(session, store, "orders_count >= 0") == {
        "ann",
        "cat",
        "dan",
        "eve",
        "fay",
        "gus",
        "hal",
    }
    rows = session.execute(select(customers_service.customers_table().c.id)).all()
    assert len(rows) == 8


def test_tick_brings_every_dynamic_segment_up_to_date(session: Session, store: Store) -> None:
    from patron.jobs import handlers
    from patron.segments.schemas import TICK_JOB
    from patron.wiring import wire

    wire()
    assert (handlers.SCHEDULES[TICK_JOB].kind, handlers.SCHEDULES[TICK_JOB].every_seconds) == (
        TICK_JOB,
        60,
    )
    lapsing = service.create(
        session, data=SegmentCreate(name="Lapsing", query="last_order_at < -60d")
    )
    first = service.tick(session, now=store.now)
    assert [(r.segment_id, r.mode, r.entered) for r in first] == [(lapsing.id, "full", 5)]
    at = store.now + timedelta(days=50, minutes=1)
    second = service.tick(session, now=at)
    assert [(r.mode, r.entered, r.exited) for r in second] == [("full", 1, 0)]  # > 24 h: full
    third = service.tick(session, now=at + timedelta(minutes=1))
    assert [(r.mode, r.entered, r.exited) for r in third] == [("incremental", 0, 0)]


def test_rfm_conditions_read_the_analytics_scores(session: Session, store: Store) -> None:
    from patron.analytics import service as analytics_service

    analytics_service.refresh_rfm(session, as_of=store.now)
    scores = analytics_service.rfm_scores(session, limit=100).items
    assert len(scores) == 7  # every buyer; hal has no order
    by_group: dict[str, set[str]] = {}
    for sc in scores:
        by_group.setdefault(sc.rfm_group.value, set()).update(store.names([sc.customer_id]))
    for group, names in by_group.items():
        label = group.replace("_", " ").title()  # "At Risk" names the key at_risk
        assert who(session, store, f'rfm_group = "{label}"') == names
    high_r = {n for sc in scores if sc.r_score >= 4 for n in store.names([sc.customer_id])}
    assert who(session, store, "r_score >= 4") == high_r
    assert who(session, store, 'NOT rfm_group IN ("champions", "loyal")') == (
        {"ann", "bob", "cat", "dan", "eve", "fay", "gus", "hal"}
        - by_group.get("champions", set())
        - by_group.get("loyal", set())
    )


def test_registered_extra_fields_compile_against_their_table(
    session: Session, store: Store
) -> None:
    from patron.analytics import service as analytics_service
    from patron.segments.compiler import EXTRA_FIELDS

    def source() -> tuple[object, object, object]:
        t = analytics_service.rfm_table()
        return t, t.c.customer_id, t.c.monetary

    service.register_field("test_monetary", service.ExtraField(kind="money", source=source))  # type: ignore[arg-type]
    try:
        analytics_service.refresh_rfm(session, as_of=store.now)
        assert who(session, store, "test_monetary >= 2000000 IDR") == {"cat", "eve"}
        assert service.fields()["test_monetary"] == "money"
    finally:
        EXTRA_FIELDS.pop("test_monetary")


def test_a_dynamic_segment_follows_the_static_list_it_reads(session: Session, store: Store) -> None:
    seg = service.create(
        session,
        data=SegmentCreate(name="VIP buyers", query='in_segment("VIP") AND orders_count >= 1'),
    )
    service.refresh(session, segment_id=seg.id, now=store.now)
    assert members(session, store, seg.id) == {"eve"}
    service.add_members(
        session,
        segment_id=store.vip_id,
        change=MembersChange(emails=["ann@example.com", "hal@example.com"]),
    )
    out = service.refresh(
        session, segment_id=seg.id, mode="incremental", now=store.now + timedelta(minutes=1)
    )
    assert (out.mode, out.entered, out.exited) == ("incremental", 1, 0)
    assert members(session, store, seg.id) == {"ann", "eve"}


def test_a_changed_query_is_refreshed_in_full_even_by_the_tick(
    session: Session, store: Store
) -> None:
    seg = service.create(session, data=SegmentCreate(name="L", query="last_order_at < -60d"))
    service.refresh(session, segment_id=seg.id, now=store.now)
    service.update(session, segment_id=seg.id, data=SegmentUpdate(query="orders_count = 1"))
    out = service.refresh(session, segment_id=seg.id, mode="incremental", now=store.now)
    assert (out.mode, out.entered, out.exited, out.members) == ("full", 1, 5, 1)
    assert members(session, store, seg.id) == {"gus"}


def test_analytics_breaks_revenue_down_by_segment(session: Session, store: Store) -> None:
    from patron.analytics import service as analytics_service
    from patron.analytics.schemas import BreakdownDimension
    from patron.wiring import wire

    wire()
    report = analytics_service.breakdown(
        session,
        dimension=BreakdownDimension.SEGMENT,
        start=(store.now - timedelta(days=400)).date(),
        end=(store.now + timedelta(days=1)).date(),
    )
    vip = [(r.key, r.orders, r.customers, r.revenue) for r in report.rows if r.key == "VIP"]
    assert vip == [("VIP", 4, 1, 300_000_000)]  # eve: 4 orders, 3,000,000.00 IDR


def test_the_daily_job_installs_the_lifecycle_segments_out_of_the_box(
    session: Session, store: Store
) -> None:
    from patron.jobs import handlers
    from patron.wiring import wire

    wire()
    assert handlers.SCHEDULES["segments.builtins"].every_seconds == 86400

    handlers.HANDLERS["segments.builtins"](session, {})

    got = {s.builtin: s.member_count for s in service.list(session).items if s.builtin}
    assert got == {
        "new": 2, "repeat": 6, "one_time": 1, "high_value": 2, "at_risk": 0, "lapsed": 0,
        "cart_abandoners": 1, "vip": 2,
    }  # fmt: skip
