"""customers.service.browse: the web list's search, sorts and two-way keyset pages."""

from __future__ import annotations

from sqlalchemy.orm import Session

from patron.customers import browse, service
from patron.customers.schemas import (
    CustomerCreate,
    CustomerSort,
    CustomerStats,
    CustomerUpdate,
    IdentityKey,
    IdentityKind,
    ResolveRequest,
)


def many(session: Session, n: int, last_name: str) -> list[int]:
    return service.resolve_many(
        session,
        [
            ResolveRequest(
                keys=[IdentityKey.of(IdentityKind.EMAIL, f"{last_name.lower()}{i}@bulk.test")],
                traits={"first_name": "Li", "last_name": f"{last_name}{i}"},
            )
            for i in range(n)
        ],
    )


def test_a_broad_search_and_a_narrow_one_find_exactly_their_customers(session):
    # Given more Wangs than the narrow lookup takes, and a few Tans
    wangs = many(session, browse.BROAD_SEARCH + 100, "Wang")
    tans = many(session, 3, "Tan")
    session.flush()
    # When searching a common surname, in any case (the broad path: a row filter)
    broad = service.browse(session, q="wANG", limit=50)
    # Then the newest 50 Wangs come first, and the pages go on
    assert [c.id for c in broad.items] == sorted(wangs, reverse=True)[:50]
    assert broad.next_cursor is not None
    # And a rare one (the narrow path: ids looked up by index first) finds only its own
    narrow = service.browse(session, q="tan", limit=50)
    assert [c.id for c in narrow.items] == sorted(tans, reverse=True)
    assert narrow.next_cursor is None
    # And the email prefix and "first last" find the same person on either path
    assert [c.id for c in service.browse(session, q="wang7@bulk").items] == [wangs[7]]
    assert [c.id for c in service.browse(session, q="li tan2").items] == [tans[2]]
    sixes = [wangs[i] for i in range(len(wangs)) if str(i).startswith("6")]
    found = service.browse(session, q="Wang6", sort=CustomerSort.CREATED, limit=200)
    assert sorted(c.id for c in found.items) == sorted(sixes)


def test_search_characters_that_mean_something_to_like_are_literal(session):
    # Given a customer whose last name holds LIKE's wildcards
    odd = service.create(session, data=CustomerCreate(first_name="Eve", last_name="100%_x"))
    service.create(session, data=CustomerCreate(first_name="Eve", last_name="100abc"))
    session.flush()
    # Then the wildcards match only themselves
    assert [c.id for c in service.browse(session, q="100%").items] == [odd.id]
    assert [c.id for c in service.browse(session, q="100%_").items] == [odd.id]


def test_a_filter_far_along_the_sort_order_pages_exactly(session, monkeypatch):
    # Given 30 customers spending 1.00, 2.00, ... 30.00, the 10 biggest spenders in Indonesia
    ids = many(session, 30, "Sim")
    session.flush()
    service.apply_stats(
        session,
        [
            CustomerStats(customer_id=cid, orders_count=1, total_spent=(i + 1) * 100,
                          first_order_at=None, last_order_at=None, channels=[])
            for i, cid in enumerate(ids)
        ],
    )  # fmt: skip
    for i, cid in enumerate(ids):
        country = "ID" if i >= 20 else "US"
        service.update(session, customer_id=cid, data=CustomerUpdate(country=country))
    session.flush()
    # And a look-ahead window smaller than the distance to them
    monkeypatch.setattr(browse, "WALK_CAP", 5)

    def pages(descending: bool) -> list[list[int]]:
        out, cursor = [], None
        while True:
            page = service.browse(session, country="ID", sort=CustomerSort.SPENT,
                                  descending=descending, cursor=cursor, limit=4)  # fmt: skip
            out.append([c.id for c in page.items])
            cursor = page.next_cursor
            if cursor is None:
                return out

    # When paging by ascending spend (none in the window: the filtered set is sorted)
    # and by descending spend (the window holds each page)
    # Then both list exactly the Indonesian customers in order, 4 per page
    assert pages(False) == [ids[20:24], ids[24:28], ids[28:30]]
    assert pages(True) == [ids[29:25:-1], ids[25:21:-1], ids[21:19:-1]]
    # And going back from the last page gives the page before it
    last = service.browse(session, country="ID", sort=CustomerSort.SPENT, descending=False,
                          cursor=None, limit=4)  # fmt: skip
    second = service.browse(session, country="ID", sort=CustomerSort.SPENT, descending=False,
                            cursor=last.next_cursor, limit=4)  # fmt: skip
    back = service.browse(session, country="ID", sort=CustomerSort.SPENT, descending=False,
                          cursor=second.prev_cursor, limit=4)  # fmt: skip
    assert [c.id for c in back.items] == ids[20:24]
