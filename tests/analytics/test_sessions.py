"""Stored sessions (analytics_sessions, ADR 21) and the KPI read over them.

Given conftest's store (D 2026-04-05 11:50 + 11:55 converted by the 12:00 order, D 04-20
10:00, E 05-05 09:00 + 09:20 not converted: its order is at 12:00), when the sessions are
built, then changed by late events, late orders, a cancellation, a merge and its undo, and
read before and after each refresh, then the rows and every KPI are the values worked out
below, the same as numbering the events live (both backends).

"Aged" data: the stamps the refresh reads (events' stored_at, orders' updated_at) are set
back to AS_OF, as for data written long before; what a test writes afterwards is stamped
now, after the watermark, and read live until a refresh takes it in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from patron.analytics import service
from patron.analytics import sessions as stored
from patron.analytics.kpis import period, previous
from patron.catalog.schemas import ProductRef
from patron.core.time import utcnow
from patron.customers import service as customers_service
from patron.events import service as events_service
from patron.orders import service as orders_service
from patron.orders.schemas import CustomerRefIn, OrderIn, OrderLineIn, OrderStatus, OrderUpdate
from patron.store import service as store_service
from tests.analytics.conftest import AS_OF, Q2, Store


def ts(m: int, d: int, h: int, mi: int = 0, y: int = 2026) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=UTC)


def age(session: Session) -> None:
    """Everything written so far is old: stamped AS_OF."""
    session.execute(
        update(events_service.events_table()).values(received_at=AS_OF, stored_at=AS_OF)
    )
    session.execute(update(orders_service.orders_table()).values(updated_at=AS_OF))
    session.flush()


def rows(session: Session, store: Store) -> set[tuple[str, datetime, datetime, int, bool]]:
    s = stored.sessions_table()
    names = {v: k for k, v in store.ids.items()}
    return {
        (names[r.customer_id], r.started_at, r.ended_at, r.events, r.converted_by is not None)
        for r in session.execute(select(s))
    }


def windows(session: Session) -> list[tuple[datetime, datetime]]:
    p = period(session, *Q2)
    q = previous(session, p)
    return [(p.start_at, p.end_at), (q.start_at, q.end_at)]


def counts(session: Session) -> list[tuple[int, int]]:
    """(sessions, converted) of Q2 and of the period before, read from the stored sessions;
    the same as numbering the events live."""
    w = windows(session)
    got = stored.stored_counts(session, w)
    assert got is not None
    assert got == stored.live_counts(session, w)
    return got


def conversion(session: Session) -> tuple[object, object]:
    k = {x.metric: x for x in service.kpis(session, start=Q2[0], end=Q2[1]).kpis}
    return k["conversion_rate"].value, k["conversion_rate"].previous


def ingest(session: Session, user: str, *times: datetime, received: datetime | None = None) -> None:
    source = store_service.ensure_source(session, key="web").id
    messages = [
        {"type": "page", "messageId": f"{user}-{t.isoformat()}", "userId": user, "name": "Home",
         "timestamp": t.isoformat()}
        for t in times
    ]  # fmt: skip
    events_service.ingest(
        session, messages=messages, source_id=source, received_at=received or utcnow()
    )


def order(session: Session, store: Store, who: str, key: str, at: datetime) -> int:
    source = store_service.ensure_source(session, key="web").id
    line = OrderLineIn(product=ProductRef(sku="sku-1", title="Thing"), quantity=1, unit_price=500)
    got = orders_service.upsert_orders(
        session,
        orders=[
            OrderIn(
                external_id=key, placed_at=at, currency="USD", lines=[line], total=500,
                customer=CustomerRefIn(customer_id=store.ids[who]), channel="web",
            )
        ],
        source_id=source,
    )  # fmt: skip
    oid = session.scalar(
        select(orders_service.orders_table().c.id).where(
            orders_service.orders_table().c.placed_at == at
        )
    )
    assert got is not None
    assert oid is not None
    return int(oid)


BUILT = {
    ("D", ts(4, 5, 11, 50), ts(4, 5, 11, 55), 2, True),
    ("D", ts(4, 20, 10), ts(4, 20, 10), 1, False),
    ("E", ts(5, 5, 9), ts(5, 5, 9, 20), 2, False),
}


def test_the_first_refresh_stores_every_session_and_changes_no_kpi(
    session: Session, store: Store
) -> None:
    before = service.kpis(session, start=Q2[0], end=Q2[1])
    assert stored.stored_counts(session, windows(session)) is None  # never built: live
    age(session)
    done = service.refresh_sessions(session, now=utcnow())
    assert (done.full, done.customers, done.sessions) == (True, None, 3)
    assert rows(session, store) == BUILT
    assert counts(session) == [(3, 1), (0, 0)]
    after = service.kpis(session, start=Q2[0], end=Q2[1])
    assert after.model_dump() == before.model_dump()
    assert conversion(session) == (0.333333, None)
    # nothing touched since: a second refresh rebuilds no one and keeps the rows
    again = service.refresh_sessions(session, now=utcnow())
    assert (again.full, again.customers, again.sessions) == (False, 0, 0)
    assert rows(session, store) == BUILT


def test_late_events_and_orders_are_read_live_then_stored(session: Session, store: Store) -> None:
    age(session)
    service.refresh_sessions(session, now=utcnow())
    # a late event joins D's 04-20 session (25 minutes later); an order at 09:40 converts
    # E's session (20 minutes after its last event); a new customer C's first session
    ingest(session, "d", ts(4, 20, 10, 25))
    e_order = order(session, store, "E", "late-e", ts(5, 5, 9, 40))
    ingest(session, "c", ts(6, 2, 8), ts(6, 2, 8, 45))
    # read before any refresh (the job lags): exact, D, E and C numbered live
    assert counts(session) == [(5, 2), (0, 0)]
    assert conversion(session) == (0.4, None)
    done = service.refresh_sessions(session, now=utcnow())
    assert (done.full, done.customers, done.sessions) == (False, 3, 5)
    assert rows(session, store) == {
        ("D", ts(4, 5, 11, 50), ts(4, 5, 11, 55), 2, True),
        ("D", ts(4, 20, 10), ts(4, 20, 10, 25), 2, False),
        ("E", ts(5, 5, 9), ts(5, 5, 9, 20), 2, True),
        ("C", ts(6, 2, 8), ts(6, 2, 8), 1, False),
        ("C", ts(6, 2, 8, 45), ts(6, 2, 8, 45), 1, False),
    }
    age(session)  # now the read takes every customer's rows
    assert counts(session) == [(5, 2), (0, 0)]
    # the order that converted E's session is cancelled: the session no longer converted
    orders_service.update_order(
        session, order_id=e_order, data=OrderUpdate(status=OrderStatus.CANCELLED)
    )
    assert counts(session) == [(5, 1), (0, 0)]
    assert conversion(session) == (0.2, None)
    done = service.refresh_sessions(session, now=utcnow())
    assert (done.customers, done.sessions) == (1, 1)
    assert ("E", ts(5, 5, 9), ts(5, 5, 9, 20), 2, False) in rows(session, store)
    age(session)
    assert counts(session) == [(5, 1), (0, 0)]


def test_a_session_across_the_start_of_the_period_is_cut_there(
    session: Session, store: Store
) -> None:
    # C: 2026-03-31 23:50 and 04-01 00:10 UTC are one stored session, converted by the
    # 23:55 order; read per period they are two: [23:50] converted by it, [00:10] not (the
    # order is before its first event).
    ingest(session, "c", ts(3, 31, 23, 50), ts(4, 1, 0, 10))
    order(session, store, "C", "c-night", ts(3, 31, 23, 55))
    live = stored.live_counts(session, windows(session))
    assert live == [(4, 1), (1, 1)]
    before = service.kpis(session, start=Q2[0], end=Q2[1])
    age(session)
    service.refresh_sessions(session, now=utcnow())
    assert ("C", ts(3, 31, 23, 50), ts(4, 1, 0, 10), 2, True) in rows(session, store)
    assert counts(session) == [(4, 1), (1, 1)]
    assert conversion(session) == (0.25, 1.0)
    assert service.kpis(session, start=Q2[0], end=Q2[1]).model_dump() == before.model_dump()


def test_a_session_longer_than_a_day_is_cut_at_each_bound(session: Session, store: Store) -> None:
    # C is active every 25 minutes from 03-31 22:00 to 04-02 02:00 (one session of 68
    # events); a one-day period [04-01, 04-02) and the one before see their parts.
    start = ts(3, 31, 22)
    ingest(session, "c", *[start + timedelta(minutes=25 * i) for i in range(68)])
    age(session)
    done = service.refresh_sessions(session, now=utcnow())
    assert done.sessions == 4
    assert ("C", start, start + timedelta(minutes=25 * 67), 68, False) in rows(session, store)
    p = period(session, ts(4, 1, 0).date(), ts(4, 2, 0).date())
    q = previous(session, p)
    w = [(p.start_at, p.end_at), (q.start_at, q.end_at)]
    assert stored.stored_counts(session, w) == stored.live_counts(session, w) == [(1, 0), (1, 0)]


def test_a_merge_and_its_undo_are_read_live_until_the_refresh(
    session: Session, store: Store
) -> None:
    from patron.wiring import wire

    wire()
    # E's 09:00 + 09:20 session and D's 04-20 10:00 one stay apart; C at 05-05 09:40 would
    # join E's session once C is merged into E, and C's order at 10:00 then converts it.
    ingest(session, "c", ts(5, 5, 9, 40))
    order(session, store, "C", "c-merge", ts(5, 5, 10))
    age(session)
    service.refresh_sessions(session, now=utcnow())
    assert counts(session) == [(4, 2), (0, 0)]  # D's two, E's, C's (converted)
    m = customers_service.merge(session, winner_id=store.ids["E"], loser_id=store.ids["C"])
    assert counts(session) == [(3, 2), (0, 0)]  # E 09:00-09:40, converted by 10:00
    done = service.refresh_sessions(session, now=utcnow())
    assert done.customers == 2
    got = rows(session, store)
    assert ("E", ts(5, 5, 9), ts(5, 5, 9, 40), 3, True) in got
    assert not any(r[0] == "C" for r in got)
    customers_service.unmerge(session, merge_id=m.id)
    assert counts(session) == [(4, 2), (0, 0)]
    service.refresh_sessions(session, now=utcnow())
    assert rows(session, store) == BUILT | {("C", ts(5, 5, 9, 40), ts(5, 5, 9, 40), 1, True)}
    assert counts(session) == [(4, 2), (0, 0)]


def test_the_job_is_registered_with_a_schedule() -> None:
    from patron.jobs import handlers
    from patron.wiring import wire

    wire()
    assert handlers.HANDLERS[service.SESSIONS_REFRESH_JOB] is not None
    spec = handlers.SCHEDULES[service.SESSIONS_REFRESH_JOB]
    assert (spec.kind, spec.every_seconds) == (service.SESSIONS_REFRESH_JOB, 300)
    full = handlers.SCHEDULES[service.SESSIONS_REBUILD_SCHEDULE]
    assert (full.kind, full.every_seconds, full.payload) == (
        service.SESSIONS_REFRESH_JOB, 86400, {"full": True},
    )  # fmt: skip


def test_an_order_moved_to_another_customer_unconverts_the_session(
    session: Session, store: Store
) -> None:
    # D's 2026-04-05 12:00 order (480,000 IDR) converts D's 11:50-11:55 session; sent again
    # for E, it no longer does (E has no session then)
    age(session)
    service.refresh_sessions(session, now=utcnow())
    assert counts(session) == [(3, 1), (0, 0)]
    source = store_service.ensure_source(session, key="web").id
    line = OrderLineIn(
        product=ProductRef(sku="sku-1", title="Thing"), quantity=1, unit_price=48_000_000
    )
    orders_service.upsert_orders(
        session,
        orders=[
            OrderIn(
                external_id="o7", placed_at=ts(4, 5, 12), currency="IDR", lines=[line],
                total=48_000_000, customer=CustomerRefIn(customer_id=store.ids["E"]),
                channel="app",
            )
        ],
        source_id=source,
    )  # fmt: skip
    assert counts(session) == [(3, 0), (0, 0)]
    done = service.refresh_sessions(session, now=utcnow())
    assert done.customers == 2  # E (the order's customer now) and D (its session's order)
    assert ("D", ts(4, 5, 11, 50), ts(4, 5, 11, 55), 2, False) in rows(session, store)
    age(session)
    assert counts(session) == [(3, 0), (0, 0)]
