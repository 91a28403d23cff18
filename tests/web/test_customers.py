"""The customer list and the customer 360 in the browser, on data seeded through the
domain services (customers, orders, analytics, segments), on both backends."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.analytics import service as analytics_service
from patron.auth.schemas import Role
from patron.customers import service as customers_service
from patron.customers.schemas import (
    CustomerCreate,
    CustomerSort,
    CustomerUpdate,
    ExternalIdIn,
    IdentityKey,
    IdentityKind,
    ResolveRequest,
    TimelineEntryIn,
    TimelineKind,
)
from patron.orders import service as orders_service
from patron.orders.schemas import CustomerBody, LineBody, OrderCreate
from patron.predictive import service as predictive_service
from patron.segments import service as segments_service
from patron.segments.schemas import SegmentCreate, SegmentKind
from tests.web.conftest import HTML, signed_in

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HX = {**HTML, "HX-Request": "true", "HX-Target": "customer-results"}


def order(session: Session, number: str, customer_id: int, total: int, at: datetime) -> None:
    orders_service.create_order(
        session,
        data=OrderCreate(
            source="shop", external_id=number, number=number, currency="USD", placed_at=at,
            customer=CustomerBody(customer_id=customer_id),
            lines=[LineBody(sku=f"SKU-{number}", title="Mug", quantity=1, unit_price=total)],
        ),
    )  # fmt: skip


def seed(session: Session) -> dict[str, int]:
    """Four customers: Ana (2 orders, 150.00), Budi (1 order, 400.00), Chen (no orders,
    phone only, tag vip), Dewi (external id, country ID, 1 order 75.50)."""
    ana = customers_service.create(
        session,
        data=CustomerCreate(email="ana@shop.test", first_name="Ana", last_name="Arifin",
                            country="ID", tags=["vip"]),
    )  # fmt: skip
    budi = customers_service.create(
        session,
        data=CustomerCreate(email="budi@shop.test", first_name="Budi", last_name="Santoso",
                            country="SG"),
    )  # fmt: skip
    chen = customers_service.create(
        session,
        data=CustomerCreate(phone="+62 812 3456 7890", first_name="Chen", last_name="Wei",
                            tags=["vip"]),
    )  # fmt: skip
    dewi = customers_service.create(
        session,
        data=CustomerCreate(email="dewi@shop.test", first_name="Dewi", last_name="Lestari",
                            country="ID",
                            external_ids=[ExternalIdIn(source="shopify", id="SHOP-77")]),
    )  # fmt: skip
    order(session, "1001", ana.id, 10000, T0)
    order(session, "1002", ana.id, 5000, T0 + timedelta(days=3))
    order(session, "1003", budi.id, 40000, T0 + timedelta(days=1))
    order(session, "1004", dewi.id, 7550, T0 + timedelta(days=2))
    session.commit()
    return {"ana": ana.id, "budi": budi.id, "chen": chen.id, "dewi": dewi.id}


def ids_on(html: str) -> list[int]:
    return [
        int(x) for x in re.findall(r'data-testid="customer-row" data-customer-id="(\d+)"', html)
    ]


def cursor_link(html: str, rel: str) -> str | None:
    found = re.search(rf'href="([^"]+)"[^>]*rel="{rel}"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def test_the_list_shows_every_customer_with_its_figures(browser, session):
    # Given four customers with orders seeded through the services
    ids = seed(session)
    client = browser()
    signed_in(client, session, Role.SUPPORT)
    # When a support agent opens the list
    page = client.get("/customers", headers=HTML)
    # Then every customer is there, newest first, with orders and money of the store
    assert page.status_code == 200, page.text
    assert ids_on(page.text) == [ids["dewi"], ids["chen"], ids["budi"], ids["ana"]]
    row = re.search(rf'data-customer-id="{ids["ana"]}">(.*?)</tr>', page.text, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    assert "Ana" in cells[0]
    assert "Arifin" in cells[0]
    assert cells[1:5] == ["ana@shop.test", "ID", "2", "$150.00"]
    assert cells[5] == "Mar 5, 2026"
    assert 'data-testid="customer-search"' in page.text


def search(client: TestClient, q: str) -> list[int]:
    page = client.get("/customers", params={"q": q}, headers=HTML)
    assert page.status_code == 200, page.text
    return ids_on(page.text)


def test_search_finds_by_email_phone_name_external_id_and_id(browser, session):
    # Given the four customers
    ids = seed(session)
    client = browser()
    signed_in(client, session, Role.SUPPORT)
    # When searching by each kind of key, then exactly the right customer is found
    assert search(client, "budi@shop.test") == [ids["budi"]]
    assert search(client, "BUDI@shop") == [ids["budi"]]  # an email prefix, any case
    assert search(client, "+62 812-3456-7890") == [ids["chen"]]
    assert search(client, "6281234567890") == [ids["chen"]]
    assert search(client, "lestari") == [ids["dewi"]]  # last name
    assert search(client, "Dewi") == [ids["dewi"]]  # first name
    assert search(client, "ana arifin") == [ids["ana"]]  # first and last
    assert search(client, "SHOP-77") == [ids["dewi"]]  # an external id
    assert search(client, str(ids["budi"])) == [ids["budi"]]  # the customer id
    assert search(client, "nobody@else.test") == []


def test_the_search_box_answers_htmx_with_the_results_fragment(browser, session):
    # Given the customers and a signed-in marketer
    ids = seed(session)
    client = browser()
    signed_in(client, session, Role.MARKETER)
    # When htmx asks for the results as the person types
    fragment = client.get("/customers", params={"q": "santoso"}, headers=HX)
    # Then only the results come back (no layout), with the one match
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert ids_on(fragment.text) == [ids["budi"]]
    # And the full page carries the htmx wiring on the search box and works as a GET form
    full = client.get("/customers", params={"q": "santoso"}, headers=HTML)
    box = re.search(r'<input type="search"[^>]*>', full.text, re.S)
    assert box is not None
    assert 'hx-trigger="input changed delay:300ms, search"' in box.group(0)
    assert 'hx-push-url="true"' in box.group(0)
    assert 'value="santoso"' in box.group(0)
    assert '<form method="get" action="/customers"' in full.text


def test_filters_by_tag_country_rfm_group_and_segment(browser, session):
    # Given the customers, an RFM refresh and a static list of Ana and Dewi
    ids = seed(session)
    analytics_service.refresh_rfm(session, as_of=T0 + timedelta(days=10))
    seg = segments_service.create(
        session, data=SegmentCreate(name="Newsletter", kind=SegmentKind.STATIC)
    )
    from patron.segments.schemas import MembersChange

    segments_service.add_members(
        session, segment_id=seg.id, change=MembersChange(customer_ids=[ids["ana"], ids["dewi"]])
    )
    session.commit()
    client = browser()
    signed_in(client, session, Role.MARKETER)

    def listed(**params: str) -> list[int]:
        page = client.get("/customers", params=params, headers=HTML)
        assert page.status_code == 200, page.text
        return ids_on(page.text)

    # Then each filter keeps exactly its customers (newest first)
    assert listed(tag="vip") == [ids["chen"], ids["ana"]]
    assert listed(country="id") == [ids["dewi"], ids["ana"]]
    assert listed(country="ID", tag="vip") == [ids["ana"]]
    assert listed(segment=str(seg.id)) == [ids["dewi"], ids["ana"]]
    assert listed(rfm="prospects") == [ids["chen"]]  # no orders: no RFM score
    scored = analytics_service.rfm_scores(session, limit=10).items
    assert sorted(s.customer_id for s in scored) == sorted([ids["ana"], ids["budi"], ids["dewi"]])
    for s in scored:
        expected = [x.customer_id for x in scored if x.rfm_group == s.rfm_group]
        assert sorted(listed(rfm=s.rfm_group.value)) == sorted(expected)
    # And a filter with a search narrows further; no match says so
    assert listed(tag="vip", q="chen") == [ids["chen"]]
    none = client.get("/customers", params={"tag": "vip", "q": "dewi"}, headers=HTML)
    assert 'data-testid="customers-no-match"' in none.text
    assert 'data-testid="customers-empty-store"' not in none.text


def test_columns_sort_both_ways_with_customers_without_a_value_last(browser, session):
    # Given the customers
    ids = seed(session)
    a, b, c, d = ids["ana"], ids["budi"], ids["chen"], ids["dewi"]
    client = browser()
    signed_in(client, session, Role.SUPPORT)

    def by(sort: str, direction: str) -> list[int]:
        page = client.get("/customers", params={"sort": sort, "dir": direction}, headers=HTML)
        assert page.status_code == 200, page.text
        return ids_on(page.text)

    # Then every column sorts as its figures say
    assert by("spent", "desc") == [b, a, d, c]
    assert by("spent", "asc") == [c, d, a, b]
    assert by("orders", "desc") == [a, d, b, c]  # ties (1 order) by id, same direction
    assert by("orders", "asc") == [c, b, d, a]
    assert by("name", "asc") == [a, d, b, c]  # Arifin, Lestari, Santoso, Wei
    assert by("name", "desc") == [c, b, d, a]
    assert by("email", "asc") == [a, b, d, c]  # Chen has no email: last either way
    assert by("email", "desc") == [d, b, a, c]
    assert by("last_order", "desc") == [a, d, b, c]  # Chen never ordered: last
    assert by("last_order", "asc") == [b, d, a, c]
    assert by("created", "asc") == [a, b, c, d]
    # And the headers are links that flip the current column's direction
    page = client.get("/customers", params={"sort": "spent", "dir": "desc"}, headers=HTML)
    assert 'aria-sort="descending"' in page.text
    assert 'href="/customers?sort=spent&amp;dir=asc"' in page.text
    bad = client.get("/customers", params={"sort": "password"}, headers=HTML)
    assert bad.status_code == 422
    assert 'data-testid="customer-error"' in bad.text


def test_pages_follow_the_cursor_forwards_and_back(browser, session):
    # Given 120 customers (emails c000..c119) and the store's first four
    made = customers_service.resolve_many(
        session,
        [
            ResolveRequest(keys=[IdentityKey.of(IdentityKind.EMAIL, f"c{i:03d}@bulk.test")])
            for i in range(120)
        ],
    )
    session.commit()
    client = browser()
    signed_in(client, session, Role.SUPPORT)
    # When walking the list sorted by email, page by page
    url: str | None = "/customers?sort=email&dir=asc"
    pages: list[list[int]] = []
    htmls: list[str] = []
    while url:
        page = client.get(url, headers=HTML)
        assert page.status_code == 200, page.text
        pages.append(ids_on(page.text))
        htmls.append(page.text)
        url = cursor_link(page.text, "next")
    # Then three pages of 50, 50 and 20 hold every customer once, in order
    assert [len(p) for p in pages] == [50, 50, 20]
    assert [i for p in pages for i in p] == made
    assert "cursor=" in (cursor_link(htmls[1], "next") or "")
    assert cursor_link(htmls[0], "prev") is None
    # And "previous" from the last page gives back exactly the second page
    back = client.get(cursor_link(htmls[2], "prev") or "", headers=HTML)
    assert ids_on(back.text) == pages[1]
    again = client.get(cursor_link(back.text, "prev") or "", headers=HTML)
    assert ids_on(again.text) == pages[0]
    assert cursor_link(again.text, "prev") is None
    # And a tampered cursor is a 422 naming the problem, not a 500
    bad = client.get("/customers?cursor=bm9wZQ", headers=HTML)
    assert bad.status_code == 422
    assert "This page link is no longer valid" in bad.text


def test_empty_store_tells_what_to_do_next(browser, session):
    client = browser()
    signed_in(client, session, Role.OWNER)
    page = client.get("/customers", headers=HTML)
    assert page.status_code == 200
    assert 'data-testid="customers-empty-store"' in page.text
    for step in ("Import data", "Connect a store", "Send events"):
        assert step in page.text
    assert 'href="/settings/keys"' in page.text  # the owner may create a write key


def test_a_bad_country_is_refused_naming_the_field(browser, session):
    seed(session)
    client = browser()
    signed_in(client, session, Role.SUPPORT)
    page = client.get("/customers", params={"country": "Indonesia"}, headers=HTML)
    assert page.status_code == 422
    assert "Use a two-letter country code" in page.text
    assert re.search(r'id="customer-country"[^>]*aria-invalid="true"', page.text)


def test_the_list_in_indonesian(browser, session):
    ids = seed(session)
    client = browser()
    signed_in(client, session, Role.SUPPORT, locale="id")
    page = client.get("/customers", headers=HTML)
    assert page.status_code == 200
    assert "<h1>Pelanggan</h1>" in page.text
    assert "Cari pelanggan" in page.text
    row = re.search(rf'data-customer-id="{ids["ana"]}">(.*?)</tr>', page.text, re.S)
    assert row is not None
    assert "US$150,00" in row.group(1)
    assert "5 Mar 2026" in row.group(1)


# --- the 360 ------------------------------------------------------------------------------


def test_the_360_shows_identity_stats_identities_tags_and_segments(browser, session):
    # Given Ana with two orders, a static segment and an RFM refresh
    ids = seed(session)
    customers_service.update(
        session, customer_id=ids["ana"], data=CustomerUpdate(phone="+6281111111", city="Bandung")
    )
    seg = segments_service.create(
        session, data=SegmentCreate(name="Newsletter", kind=SegmentKind.STATIC)
    )
    from patron.segments.schemas import MembersChange

    segments_service.add_members(
        session, segment_id=seg.id, change=MembersChange(customer_ids=[ids["ana"]])
    )
    analytics_service.refresh_rfm(session, as_of=T0 + timedelta(days=10))
    session.commit()
    group = next(
        s.rfm_group
        for s in analytics_service.rfm_scores(session, limit=10).items
        if s.customer_id == ids["ana"]
    )
    client = browser()
    signed_in(client, session, Role.MARKETER)
    # When the marketer opens Ana's 360
    page = client.get(f"/customers/{ids['ana']}", headers=HTML)
    # Then it tells her story with exact figures
    assert page.status_code == 200, page.text
    text = page.text
    assert '<h1 data-testid="customer-name">Ana Arifin</h1>' in text
    assert '<dd data-testid="customer-email">ana@shop.test</dd>' in text
    assert '<dd data-testid="customer-phone">+6281111111</dd>' in text
    assert "Bandung, ID" in text
    assert 'data-testid="stat-orders">2<' in text
    assert 'data-testid="stat-spent">$150.00<' in text
    assert 'data-testid="stat-aov">$75.00<' in text
    assert 'data-testid="stat-first-order">Mar 2, 2026<' in text
    assert 'data-testid="stat-last-order">Mar 5, 2026<' in text
    assert 'data-testid="stat-channels">Web<' in text
    identities = re.search(r'data-testid="identities">(.*?)</table>', text, re.S)
    assert identities is not None
    assert identities.group(1).count("<tr>") == 3  # header, email, phone
    assert "ana@shop.test" in identities.group(1)
    assert "+6281111111" in identities.group(1)
    assert 'href="/customers?tag=vip"' in text
    assert f'<a href="/segments/{seg.id}">Newsletter</a>' in text
    assert f'href="/customers?rfm={group.value}"' in text
    assert 'data-testid="customer-predictions"' not in text  # never scored
    assert 'data-testid="customer-recommendations"' not in text  # no model trained
    # And the timeline lists entering the list, then both orders, newest first
    kinds = re.findall(r'class="timeline-entry timeline-(\w+)"', text)
    assert kinds == ["segment", "order", "order"], kinds


def test_undo_a_merge_from_the_360(browser, session):
    # Given Budi merged into Ana by hand
    ids = seed(session)
    merged = customers_service.merge(
        session, winner_id=ids["ana"], loser_id=ids["budi"], reason="manual"
    )
    session.commit()
    client = browser()
    login = signed_in(client, session, Role.SUPPORT)
    # When Budi's old id is opened, it leads to Ana
    gone = client.get(f"/customers/{ids['budi']}", headers=HTML)
    assert gone.status_code == 303
    assert gone.headers["location"] == f"/customers/{ids['ana']}"
    page = client.get(f"/customers/{ids['ana']}", headers=HTML)
    assert 'data-testid="stat-orders">3<' in page.text
    assert f'action="/customers/{ids["ana"]}/merges/{merged.id}/undo"' in page.text
    # When the support agent presses Undo
    done = client.post(
        f"/customers/{ids['ana']}/merges/{merged.id}/undo", data={"csrf_token": login.csrf}
    )
    # Then the merge is undone: both profiles are separate with their own figures
    assert done.status_code == 303
    assert done.headers["location"] == f"/customers/{ids['ana']}?undone={merged.id}"
    after = client.get(done.headers["location"], headers=HTML)
    assert 'data-testid="undo-done"' in after.text
    assert 'data-testid="stat-orders">2<' in after.text
    assert 'data-testid="undo-merge"' not in after.text
    budi = client.get(f"/customers/{ids['budi']}", headers=HTML)
    assert budi.status_code == 200
    assert 'data-testid="stat-spent">$400.00<' in budi.text
    # And a second undo of the same merge says it cannot be done
    twice = client.post(
        f"/customers/{ids['ana']}/merges/{merged.id}/undo", data={"csrf_token": login.csrf}
    )
    assert twice.headers["location"] == f"/customers/{ids['ana']}?undo_failed={merged.id}"


def test_an_analyst_sees_the_360_but_may_not_undo_a_merge(browser, session):
    ids = seed(session)
    merged = customers_service.merge(session, winner_id=ids["ana"], loser_id=ids["budi"])
    session.commit()
    client = browser()
    login = signed_in(client, session, Role.ANALYST)
    page = client.get(f"/customers/{ids['ana']}", headers=HTML)
    assert page.status_code == 200
    assert 'data-testid="undo-merge"' not in page.text
    refused = client.post(
        f"/customers/{ids['ana']}/merges/{merged.id}/undo",
        data={"csrf_token": login.csrf},
        headers=HTML,
    )
    assert refused.status_code == 403
    assert customers_service.merges(session, customer_id=ids["ana"])[0].undone_at is None


def test_undo_without_the_csrf_token_is_refused(browser, session):
    ids = seed(session)
    merged = customers_service.merge(session, winner_id=ids["ana"], loser_id=ids["budi"])
    session.commit()
    client = browser()
    signed_in(client, session, Role.OWNER)
    refused = client.post(f"/customers/{ids['ana']}/merges/{merged.id}/undo", data={}, headers=HTML)
    assert refused.status_code == 403
    assert "This form has expired" in refused.text
    assert customers_service.merges(session, customer_id=ids["ana"])[0].undone_at is None


def test_unknown_customer_is_a_404_page(browser, session):
    client = browser()
    signed_in(client, session, Role.SUPPORT)
    page = client.get("/customers/987654321", headers=HTML)
    assert page.status_code == 404
    assert "Not found" in page.text


def timeline_seed(session: Session, customer_id: int) -> None:
    customers_service.add_timeline_entries(
        session,
        [
            TimelineEntryIn(
                customer_id=customer_id,
                occurred_at=T0 + timedelta(days=20, hours=i),
                kind=TimelineKind.EVENT,
                title=f"Viewed product {i}",
                channel="app" if i % 2 else "web",
            )
            for i in range(40)
        ],
    )
    session.commit()


def test_the_timeline_filters_by_kind_and_channel_and_loads_more(browser, session):
    # Given Ana: two web orders and 40 events (20 on the app, 20 on the web)
    ids = seed(session)
    timeline_seed(session, ids["ana"])
    client = browser()
    signed_in(client, session, Role.SUPPORT)
    hx = {**HTML, "HX-Request": "true"}
    # When the 360 opens, the newest 30 entries show and "load more" carries a cursor
    page = client.get(f"/customers/{ids['ana']}", headers=HTML)
    assert page.text.count('data-testid="timeline-entry"') == 30
    assert "Viewed product 39" in page.text
    assert "Viewed product 10" in page.text
    assert "Viewed product 9<" not in page.text
    more = re.search(r'hx-get="(/customers/\d+/timeline\?[^"]+)"', page.text)
    assert more is not None
    rest = client.get(more.group(1).replace("&amp;", "&"), headers=hx)
    # Then the next entries come as list items to append, with no further "load more"
    assert rest.status_code == 200
    assert "<ol" not in rest.text
    assert rest.text.count('data-testid="timeline-entry"') == 12  # 10 events + 2 orders
    assert 'data-testid="timeline-more"' not in rest.text
    # When filtered to orders, only the two orders show
    orders = client.get(f"/customers/{ids['ana']}/timeline?kind=order", headers=hx)
    assert orders.text.count('data-testid="timeline-entry"') == 2
    assert "Viewed" not in orders.text
    # When filtered to app events, the 20 app ones (no orders: those were on the web)
    app = client.get(f"/customers/{ids['ana']}/timeline?kind=event&channel=app", headers=hx)
    assert app.text.count('data-testid="timeline-entry"') == 20
    assert 'data-testid="timeline-more"' not in app.text
    # And without JS the filter form is a GET of the whole page
    plain = client.get(f"/customers/{ids['ana']}?kind=order", headers=HTML)
    assert plain.text.count('data-testid="timeline-entry"') == 2
    nothing = client.get(f"/customers/{ids['ana']}/timeline?kind=refund", headers=hx)
    assert 'data-testid="timeline-empty"' in nothing.text


def test_the_360_in_chinese(browser, session):
    ids = seed(session)
    client = browser()
    signed_in(client, session, Role.SUPPORT, locale="zh_Hans")
    page = client.get(f"/customers/{ids['budi']}", headers=HTML)
    assert page.status_code == 200
    assert "身份与联系方式" in page.text
    assert 'data-testid="stat-spent">US$400.00<' in page.text


def test_the_service_browse_walks_nullable_sorts_both_ways(session):
    # Given the four customers (Chen has no email and no order)
    ids = seed(session)
    order_ = [ids["ana"], ids["budi"], ids["dewi"], ids["chen"]]
    for sort in (CustomerSort.EMAIL, CustomerSort.LAST_ORDER):
        want = (
            order_
            if sort is CustomerSort.EMAIL
            else [ids["budi"], ids["dewi"], ids["ana"], ids["chen"]]
        )
        # When walking two at a time forwards, then back
        first = customers_service.browse(session, sort=sort, descending=False, limit=2)
        second = customers_service.browse(
            session, sort=sort, descending=False, cursor=first.next_cursor, limit=2
        )
        # Then the pages meet exactly, the NULL row last, and "previous" returns page one
        assert [c.id for c in first.items + second.items] == want
        assert first.prev_cursor is None
        assert second.next_cursor is None
        back = customers_service.browse(
            session, sort=sort, descending=False, cursor=second.prev_cursor, limit=2
        )
        assert [c.id for c in back.items] == want[:2]
        assert back.prev_cursor is None


def score(customer_id: int, risk: str, clv: int, next_order: date | None) -> dict[str, object]:
    return {
        "customer_id": customer_id, "model_version": 1, "model": "bgnbd", "churn_model": "bgnbd",
        "scored_at": T0 + timedelta(days=30), "as_of": date(2026, 4, 1), "currency": "USD",
        "expected_orders_30d": 0.2, "expected_orders_90d": 0.5, "expected_orders_365d": 1.5,
        "orders_365d_low": 0.0, "orders_365d_high": 3.0, "horizon_months": 12,
        "predicted_spend": clv + 1000, "predicted_clv": clv, "clv_low": clv - 2000,
        "clv_high": clv + 3000, "churn_probability": 0.86 if risk == "high" else 0.2,
        "churn_risk": risk, "p_alive": 0.4, "next_order_on": next_order, "uncertain": False,
        "uncertainty": None,
    }  # fmt: skip


def test_predictions_show_on_the_360_and_filter_the_list(browser, session):
    # Given scores for Ana (high risk) and Budi (low risk), applied through the service
    ids = seed(session)
    rows = [
        score(ids["ana"], "high", 12345, None),
        score(ids["budi"], "low", 98000, date(2026, 5, 9)),
    ]
    predictive_service.apply_scores(
        session,
        plan=predictive_service.ScorePlan(rows, 1, date(2026, 4, 1), T0 + timedelta(days=30), 0.0),
    )
    session.commit()
    client = browser()
    signed_in(client, session, Role.MARKETER)
    # When the marketer opens Ana's and Budi's 360
    ana = client.get(f"/customers/{ids['ana']}", headers=HTML).text
    budi = client.get(f"/customers/{ids['budi']}", headers=HTML).text
    # Then the predictions card shows CLV, the churn badge and the next order
    assert 'data-testid="prediction-clv">$123.45' in ana
    assert '<span class="tag badge-high" data-testid="prediction-churn">High</span>' in ana
    assert "86% chance of no order in 90 days" in ana
    assert 'data-testid="prediction-next-order">unlikely soon<' in ana
    assert '<span class="tag badge-low" data-testid="prediction-churn">Low</span>' in budi
    assert 'data-testid="prediction-next-order">around May 9, 2026<' in budi
    # And the list offers the churn filter, which keeps exactly that tier
    page = client.get("/customers", params={"churn": "high"}, headers=HTML)
    assert 'data-testid="filter-churn"' in page.text
    assert ids_on(page.text) == [ids["ana"]]
    # And a support agent (no predictions permission) sees the 360 without the card
    other = browser()
    signed_in(other, session, Role.SUPPORT)
    plain = other.get(f"/customers/{ids['ana']}", headers=HTML).text
    assert 'data-testid="customer-predictions"' not in plain
    assert 'data-testid="filter-churn"' not in other.get("/customers", headers=HTML).text
    assert other.get("/customers?churn=high", headers=HTML).status_code == 403


def test_an_htmx_search_with_a_bad_filter_swaps_the_error_in(browser, session):
    seed(session)
    client = browser()
    signed_in(client, session, Role.SUPPORT)
    fragment = client.get("/customers", params={"country": "Indonesia"}, headers=HX)
    assert fragment.status_code == 200  # htmx swaps only 2xx answers
    assert 'data-testid="customer-error"' in fragment.text
    assert "Use a two-letter country code" in fragment.text
