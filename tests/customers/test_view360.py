"""The one-statement PostgreSQL 360 and the portable path give the same document."""

from datetime import UTC, date, datetime, timedelta

import orjson
from sqlalchemy.orm import Session

from patron.customers import service, view360
from patron.customers.schemas import (
    CustomerCreate,
    ExternalIdIn,
    TimelineEntryIn,
    TimelineKind,
)

T0 = datetime(2026, 2, 1, 8, 30, tzinfo=UTC)


def portable(session: Session, **kw: object) -> object:
    return orjson.loads(orjson.dumps(service.profile_360(session, **kw), option=orjson.OPT_UTC_Z))  # type: ignore[arg-type]


def fast(session: Session, **kw: object) -> object:
    return orjson.loads(service.profile_360_json(session, **kw))  # type: ignore[arg-type]


def test_both_paths_agree_field_for_field(session: Session) -> None:
    # Given a full profile with identities, a merge and a timeline with and without
    # microseconds, unicode and nested data
    a = service.create(
        session,
        data=CustomerCreate(
            email="wei@example.cn",
            phone="+8613800138000",
            first_name="伟",
            last_name="王",
            birthday=date(1990, 5, 17),
            locale="zh",
            country="cn",
            tags=["vip"],
            properties={"尺码": "M", "nested": {"a": [1, 2.5, None, True]}},
            external_ids=[ExternalIdIn(source="shopify", id="S-1")],
        ),
    )
    b = service.create(session, data=CustomerCreate(email="wei.alt@example.cn", city="上海"))
    merged = service.merge(session, winner_id=a.id, loser_id=b.id, reason="manual")
    service.add_timeline_entries(
        session,
        [
            TimelineEntryIn(
                customer_id=a.id,
                occurred_at=T0 + timedelta(hours=i, microseconds=123456 * (i % 2)),
                kind=TimelineKind.ORDER if i % 3 == 0 else TimelineKind.EVENT,
                title=f"entry {i} · 订单",
                channel="app" if i % 2 else "web",
                ref_type="order" if i % 3 == 0 else None,
                ref_id=100 + i if i % 3 == 0 else None,
                data={"i": i, "items": ["x"] * i},
            )
            for i in range(7)
        ],
    )
    session.flush()
    args = {"customer_id": a.id, "currency": "CNY"}
    # When both paths read it, then they agree exactly, on the whole document
    doc = fast(session, **args)
    if session.get_bind().dialect.name == "postgresql":  # the one-statement path answered
        pg = view360.profile_360_pg(
            session.connection().connection.driver_connection,
            customer_id=a.id,
            currency="CNY",
            kinds=None,
            channels=None,
            cursor=None,
            limit=50,
        )
        assert pg is not None
        assert orjson.loads(pg) == doc
    assert doc == portable(session, **args)
    assert doc["merges"][0]["id"] == merged.id  # type: ignore[index]
    assert [e["title"] for e in doc["timeline"]["items"]][:2] == [  # type: ignore[index]
        f"Merged profile #{b.id} into this one",
        "entry 6 · 订单",
    ]
    # and on filtered pages and the cursor that links them
    page1 = fast(session, **args, kinds=["event"], channels=["app"], limit=2)
    assert page1 == portable(session, **args, kinds=["event"], channels=["app"], limit=2)
    assert [e["title"] for e in page1["timeline"]["items"]] == [  # type: ignore[index]
        "entry 5 · 订单",
        "entry 1 · 订单",
    ]
    cursor = page1["timeline"]["next_cursor"]  # type: ignore[index]
    assert cursor is None  # entry 3 is an order: the filtered list has exactly two
    page = fast(session, **args, limit=3)
    nxt = page["timeline"]["next_cursor"]  # type: ignore[index]
    assert nxt == portable(session, **args, limit=3)["timeline"]["next_cursor"]  # type: ignore[index]
    rest = fast(session, **args, limit=3, cursor=nxt)
    assert rest == portable(session, **args, limit=3, cursor=nxt)
    assert [e["title"].split()[1] for e in rest["timeline"]["items"]] == ["4", "3", "2"]  # type: ignore[index]
    # and a merged-away profile shows its winner
    assert fast(session, customer_id=b.id, currency="CNY")["id"] == a.id  # type: ignore[index]
