"""Identity resolution, merges and their undo, on real storage."""

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from patron.customers import service
from patron.customers.schemas import (
    CustomerCreate,
    IdentityKey,
    IdentityKind,
    ResolveRequest,
    TimelineEntryIn,
    TimelineKind,
)

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def anon(value: str) -> IdentityKey:
    return IdentityKey.of(IdentityKind.ANONYMOUS, value)


def email(value: str) -> IdentityKey:
    return IdentityKey.of(IdentityKind.EMAIL, value)


def ext(value: str, source: str = "shopify") -> IdentityKey:
    return IdentityKey.of(IdentityKind.EXTERNAL, value, source)


def test_new_keys_make_one_profile_per_group(session: Session) -> None:
    ids = service.resolve_many(
        session,
        [
            ResolveRequest(keys=[anon("a1")], seen_at=T0),
            ResolveRequest(keys=[anon("a1"), email("Ann@Example.com")], seen_at=T0),
            ResolveRequest(keys=[anon("b1")], seen_at=T0),
        ],
    )
    assert ids[0] == ids[1]
    assert ids[2] != ids[0]
    ann = service.get(session, customer_id=ids[0])
    assert ann.email == "ann@example.com"
    assert ann.is_anonymous is False
    assert service.get(session, customer_id=ids[2]).is_anonymous is True


def test_known_key_lands_on_existing_profile(session: Session) -> None:
    c = service.create(session, data=CustomerCreate(email="guest@shop.id", first_name="Sari"))
    [cid] = service.resolve_many(session, [ResolveRequest(keys=[email("GUEST@shop.id")])])
    assert cid == c.id


def test_identify_stitches_anonymous_visitor_and_undo_restores(session: Session) -> None:
    known = service.create(session, data=CustomerCreate(email="li@shop.cn"))
    [visitor] = service.resolve_many(session, [ResolveRequest(keys=[anon("anon-7")], seen_at=T0)])
    service.add_timeline_entries(
        session,
        [
            TimelineEntryIn(
                customer_id=visitor,
                occurred_at=T0,
                kind=TimelineKind.EVENT,
                title="Product Viewed",
            )
        ],
    )
    [cid] = service.resolve_many(
        session, [ResolveRequest(keys=[anon("anon-7"), email("li@shop.cn")], traits={})]
    )
    assert cid == known.id
    [m] = service.merges(session, customer_id=known.id)
    assert (m.winner_id, m.loser_id, m.reason) == (known.id, visitor, "shared_identifier")
    assert service.get(session, customer_id=visitor).id == known.id  # follows the merge
    kinds = [e.kind for e in service.timeline(session, customer_id=known.id).items]
    assert kinds == ["merge", "event"]
    assert {i.kind for i in service.identities(session, customer_id=known.id)} == {
        "email",
        "anonymous",
    }

    service.unmerge(session, merge_id=m.id)
    assert service.get(session, customer_id=visitor).id == visitor
    assert [i.value for i in service.identities(session, customer_id=visitor)] == ["anon-7"]
    assert [e.title for e in service.timeline(session, customer_id=visitor).items] == [
        f"Merge with profile #{known.id} undone",
        "Product Viewed",
    ]


def test_two_people_sharing_a_phone_are_not_merged(session: Session) -> None:
    a = service.create(session, data=CustomerCreate(email="a@x.id", phone="+62 811 000"))
    b = service.create(session, data=CustomerCreate(email="b@x.id"))
    [cid] = service.resolve_many(
        session,
        [ResolveRequest(keys=[email("b@x.id"), IdentityKey.of(IdentityKind.PHONE, "+62811000")])],
    )
    assert cid == b.id
    assert service.merges(session, customer_id=a.id) == []


def test_same_customer_from_two_sources_is_one_profile(session: Session) -> None:
    [s1] = service.resolve_many(
        session, [ResolveRequest(keys=[ext("9001", "shopify"), email("d@e.co")])]
    )
    [s2] = service.resolve_many(session, [ResolveRequest(keys=[ext("55", "pos"), email("d@e.co")])])
    assert s1 == s2
    sources = sorted(
        (i.source, i.value)
        for i in service.identities(session, customer_id=s1)
        if i.kind == "external"
    )
    assert sources == [("pos", "55"), ("shopify", "9001")]


def test_manual_merge_keeps_winner_and_fills_gaps(session: Session) -> None:
    w = service.create(session, data=CustomerCreate(email="w@x.co", tags=["vip"]))
    lo = service.create(
        session,
        data=CustomerCreate(email="l@x.co", city="Bandung", tags=["b2b"], properties={"k": 1}),
    )
    m = service.merge(session, winner_id=w.id, loser_id=lo.id)
    merged = service.get(session, customer_id=w.id)
    assert (merged.city, merged.tags, merged.properties) == ("Bandung", ["vip", "b2b"], {"k": 1})
    service.unmerge(session, merge_id=m.id)
    back = service.get(session, customer_id=w.id)
    assert (back.city, back.tags, back.properties) == (None, ["vip"], {})


def test_a_merge_earlier_in_the_batch_is_not_a_conflict_later(session: Session) -> None:
    """Given P2 (anonymous a2 and b2) merged into P1 by the first request of a batch, a later
    request matching P2 (by b2, still known as P2 when the batch was looked up) and P3 folds
    P3 into P1 instead of failing with "the two profiles are already one"."""
    [p1] = service.resolve_many(session, [ResolveRequest(keys=[email("e1@shop.id")], seen_at=T0)])
    [p2] = service.resolve_many(session, [ResolveRequest(keys=[anon("a2"), anon("b2")])])
    [p3] = service.resolve_many(session, [ResolveRequest(keys=[anon("x3")], seen_at=T0)])

    ids = service.resolve_many(
        session,
        [
            ResolveRequest(keys=[anon("a2"), email("e1@shop.id")]),
            ResolveRequest(keys=[anon("b2"), anon("x3")]),
        ],
    )

    assert ids == [p1, p1]
    merged = sorted((m.winner_id, m.loser_id) for m in service.merges(session, customer_id=p1))
    assert merged == [(p1, p2), (p1, p3)]
