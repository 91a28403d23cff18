"""The segments pages: list, builder with live preview, members, history, refresh, delete,
CSV export and static lists, through the real routes on both backends."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy.orm import Session

from patron.auth.schemas import Role
from patron.core.errors import NotFound
from patron.customers import service as customers_service
from patron.customers.schemas import CustomerCreate
from patron.segments import service as segments_service
from patron.segments.schemas import MembersChange, SegmentCreate, SegmentKind
from patron.web.pages import segments as segments_page
from tests.web.conftest import HTML, signed_in

HX = {"HX-Request": "true"}


def _people(session: Session) -> dict[str, int]:
    """Five customers: three in Indonesia (one tagged vip), two in the US."""
    plan = [("ann", "ID", ["vip"]), ("bob", "ID", []), ("cat", "ID", []), ("dan", "US", []),
            ("eve", "US", [])]  # fmt: skip
    ids = {}
    for name, country, tags in plan:
        row = customers_service.create(
            session,
            data=CustomerCreate(
                email=f"{name}@example.com", first_name=name.title(), country=country, tags=tags
            ),
        )
        ids[name] = row.id
    session.commit()
    return ids


def _text(markup: str) -> str:
    """Text as a person reads it: tags removed, entities decoded, spaces collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", markup))).strip()


def _rows(response, testid: str) -> list[str]:
    found = re.findall(rf'<tr data-testid="{testid}">(.*?)</tr>', response.text, flags=re.S)
    return [_text(r) for r in found]


def _dynamic(session: Session, name: str, query: str) -> int:
    seg = segments_service.create(session, data=SegmentCreate(name=name, query=query))
    segments_service.refresh(session, segment_id=seg.id)
    session.commit()
    return seg.id


def _static(session: Session, name: str, ids: list[int]) -> int:
    seg = segments_service.create(session, data=SegmentCreate(name=name, kind=SegmentKind.STATIC))
    if ids:
        segments_service.add_members(
            session, segment_id=seg.id, change=MembersChange(customer_ids=ids)
        )
    session.commit()
    return seg.id


def test_the_list_shows_each_segment_with_its_kind_and_member_count(browser, session):
    # given a dynamic segment of 3, a static list of 1 and no built-ins
    ids = _people(session)
    _dynamic(session, "Indonesia", 'country = "ID"')
    _static(session, "Press", [ids["dan"]])
    client = browser()
    signed_in(client, session, Role.MARKETER)
    # when
    page = client.get("/segments", headers=HTML)
    # then
    assert page.status_code == 200
    rows = _rows(page, "segment-row")
    assert len(rows) == 2
    assert rows[0].startswith("Indonesia Dynamic 3 ")
    assert rows[1] == "Press Static list 1 Changes when you add or remove members"
    assert 'href="/segments/new"' in page.text
    assert 'data-testid="install-builtins"' in page.text


def test_an_empty_store_tells_what_to_do(browser, session):
    client = browser()
    signed_in(client, session, Role.OWNER)
    page = client.get("/segments", headers=HTML)
    assert page.status_code == 200
    assert "No segments yet" in page.text
    assert "Build your first segment" in page.text


def test_preview_of_a_valid_query_counts_and_samples_the_newest_members(browser, session):
    # given
    ids = _people(session)
    client = browser()
    login = signed_in(client, session, Role.ANALYST)  # reading is enough to preview
    # when
    response = client.post(
        "/segments/preview",
        data={"query": 'country = "ID"'},
        headers={**HX, "X-CSRF-Token": login.csrf},
    )
    # then: a fragment, not a page
    assert response.status_code == 200
    assert "<html" not in response.text
    count = re.search(r'data-testid="preview-count">([^<]*)<', response.text)
    assert count is not None
    assert count.group(1) == "3"
    links = re.findall(r'href="/customers/(\d+)">([^<]*)<', response.text)
    assert links == [
        (str(ids["cat"]), "cat@example.com"),
        (str(ids["bob"]), "bob@example.com"),
        (str(ids["ann"]), "ann@example.com"),
    ]


def test_preview_that_cannot_count_in_time_says_so(browser, session, monkeypatch):
    # given a live count with no time at all (what a huge store looks like to a query)
    _people(session)
    monkeypatch.setattr(segments_page, "PREVIEW_BUDGET_MS", 0.0)
    client = browser()
    login = signed_in(client, session, Role.ANALYST)
    # when
    response = client.post(
        "/segments/preview",
        data={"query": 'country = "ID"'},
        headers={**HX, "X-CSRF-Token": login.csrf},
    )
    # then no number is made up: the page says the count comes with saving
    assert response.status_code == 200
    assert 'data-testid="preview-count-unknown"' in response.text
    assert 'data-testid="preview-count"' not in response.text
    assert "preview-member" not in response.text


def test_preview_of_a_broken_query_shows_the_message_line_column_and_a_caret(browser, session):
    client = browser()
    login = signed_in(client, session, Role.MARKETER)
    headers = {**HX, "X-CSRF-Token": login.csrf}
    # when the second line (a browser sends CRLF) compares with '=='
    response = client.post(
        "/segments/preview",
        data={"query": 'orders_count >= 2 AND\r\ncountry == "ID"'},
        headers=headers,
    )
    # then
    assert response.status_code == 200
    text = _text(response.text)
    assert "This query has a problem: use a single '=' to compare" in text
    assert "Line 2, column 9" in text
    caret = re.search(r'data-testid="preview-caret">(.*?)</pre>', response.text, flags=re.S)
    assert caret is not None
    assert html.unescape(caret.group(1)) == 'country == "ID"\n        ^'
    # and a query that stops short points past its end
    response = client.post("/segments/preview", data={"query": "orders_count >="}, headers=headers)
    text = _text(response.text)
    assert (
        "expected a value after '>=' (a number, \"text\", an amount like 100 USD, a time like "
        "-60d, true or false), found the end of the query" in text
    )
    assert "Line 1, column 16" in text
    caret = re.search(r'data-testid="preview-caret">(.*?)</pre>', response.text, flags=re.S)
    assert caret is not None
    assert html.unescape(caret.group(1)) == "orders_count >=\n" + " " * 15 + "^"
    # and an unknown field is refused by the compiler, with its position
    response = client.post("/segments/preview", data={"query": "shoe_size = 4"}, headers=headers)
    assert 'data-testid="preview-error"' in response.text
    assert "Line 1, column 1" in _text(response.text)


def test_create_refresh_edit_and_delete_a_segment(browser, session):
    ids = _people(session)
    client = browser()
    login = signed_in(client, session, Role.MARKETER)
    # when the builder saves a segment
    response = client.post(
        "/segments/new",
        data={"name": "Indonesia", "description": "ID only", "query": 'country = "ID"',
              "csrf_token": login.csrf},
    )  # fmt: skip
    # then it exists with that query, and its page says it is not computed yet
    assert response.status_code == 303
    seg_id = int(response.headers["location"].rsplit("/", 1)[1])
    seg = segments_service.get(session, segment_id=seg_id)
    assert (seg.name, seg.description, seg.query) == ("Indonesia", "ID only", 'country = "ID"')
    page = client.get(f"/segments/{seg_id}", headers=HTML)
    assert "No members yet: the segment has not been computed." in page.text
    # when Refresh now is pressed
    response = client.post(f"/segments/{seg_id}/refresh", data={"csrf_token": login.csrf})
    assert response.status_code == 303
    page = client.get(response.headers["location"], headers=HTML)
    # then the 3 members are listed, each a link, with their 3 entries
    assert "Refreshed: 3 entered, 0 left." in page.text
    assert re.search(r'data-testid="member-count">3<', page.text)
    members = re.findall(
        r'<tr data-testid="member-row">\s*<td><a href="/customers/(\d+)"', page.text
    )
    assert members == [str(ids["ann"]), str(ids["bob"]), str(ids["cat"])]
    assert len(_rows(page, "history-row")) == 3
    assert all(r.endswith("Still a member Refresh") for r in _rows(page, "history-row"))
    # each named by its email, not its id
    assert sorted(r.split(" ")[0] for r in _rows(page, "history-row")) == [
        "ann@example.com", "bob@example.com", "cat@example.com",
    ]  # fmt: skip
    # when the query is edited to the US, and refreshed
    edit = client.get(f"/segments/{seg_id}/edit", headers=HTML)
    assert "country = &#34;ID&#34;</textarea>" in edit.text
    response = client.post(
        f"/segments/{seg_id}/edit",
        data={"name": "United States", "description": "", "query": 'country = "US"',
              "csrf_token": login.csrf},
    )  # fmt: skip
    assert response.status_code == 303
    client.post(f"/segments/{seg_id}/refresh", data={"csrf_token": login.csrf})
    seg = segments_service.get(session, segment_id=seg_id)
    assert (seg.name, seg.query, seg.member_count) == ("United States", 'country = "US"', 2)
    page = client.get(f"/segments/{seg_id}", headers=HTML)
    history = _rows(page, "history-row")
    assert len(history) == 5
    assert sum("Still a member" in r for r in history) == 2
    # when it is deleted, after the confirm step
    confirm = client.get(f"/segments/{seg_id}/delete", headers=HTML)
    assert "Its 2 members leave the segment" in confirm.text
    response = client.post(f"/segments/{seg_id}/delete", data={"csrf_token": login.csrf})
    assert response.status_code == 303
    assert response.headers["location"] == "/segments?deleted=1"
    with pytest.raises(NotFound):
        segments_service.get(session, segment_id=seg_id)
    assert client.get(f"/segments/{seg_id}", headers=HTML).status_code == 404


def test_save_errors_name_the_field_and_keep_what_was_typed(browser, session):
    client = browser()
    login = signed_in(client, session, Role.OWNER)
    _static(session, "Taken", [])
    # a blank name
    response = client.post(
        "/segments/new", data={"name": " ", "query": "orders_count >= 2", "csrf_token": login.csrf}
    )
    assert response.status_code == 422
    assert re.search(r'data-field="name">Give the segment a name.<', response.text)
    assert "orders_count &gt;= 2</textarea>" in response.text
    # a broken query: the error sits under the query, with line and column
    response = client.post(
        "/segments/new",
        data={"name": "Broken", "query": "orders_count >= 2 AND", "csrf_token": login.csrf},
    )
    assert response.status_code == 422
    error = re.search(r'data-field="query">(.*?)</div>', response.text, flags=re.S)
    assert error is not None
    assert "Line 1, column 22" in _text(error.group(1))
    assert 'value="Broken"' in response.text
    # a name already used
    response = client.post(
        "/segments/new", data={"name": "Taken", "query": "orders_count >= 2",
                               "csrf_token": login.csrf},
    )  # fmt: skip
    assert response.status_code == 422
    assert re.search(r"data-field=\"name\">a segment named &#39;Taken&#39; exists<", response.text)
    # nothing was saved
    assert [s.name for s in segments_service.list(session).items] == ["Taken"]


def test_a_static_list_takes_a_csv_upload_and_loses_members_on_request(browser, session):
    ids = _people(session)
    client = browser()
    login = signed_in(client, session, Role.MARKETER)
    response = client.post(
        "/segments/new", data={"name": "Press", "kind": "static", "csrf_token": login.csrf}
    )
    assert response.status_code == 303
    seg_id = int(response.headers["location"].rsplit("/", 1)[1])
    page = client.get(f"/segments/{seg_id}", headers=HTML)
    assert 'enctype="multipart/form-data"' in page.text
    assert 'data-testid="refresh-segment"' not in page.text
    # when a CSV of 3 known emails, 1 id and 2 unknown addresses is uploaded
    csv_text = (
        f"email,customer_id\nann@example.com,\nBOB@example.com,\n,{ids['dan']}\n"
        "nobody@example.com,\ncat@example.com,\nghost@example.com,\n"
    )
    response = client.post(
        f"/segments/{seg_id}/import",
        data={"csrf_token": login.csrf},
        files={"file": ("press.csv", csv_text.encode(), "text/csv")},
        headers=HTML,
    )
    # then
    assert response.status_code == 200
    result = re.search(r'data-testid="import-result">(.*?)</div>', response.text, flags=re.S)
    assert result is not None
    assert _text(result.group(1)).startswith(
        "Added: 4 · already in the list: 0 · not found: 2 Not found"
    )
    assert re.findall(r"<li>([^<]*)</li>", response.text) == [
        "ghost@example.com",
        "nobody@example.com",
    ]
    assert segments_service.get(session, segment_id=seg_id).member_count == 4
    # when the same file comes again, nobody is added twice
    response = client.post(
        f"/segments/{seg_id}/import",
        data={"csrf_token": login.csrf},
        files={"file": ("press.csv", csv_text.encode(), "text/csv")},
    )
    assert "Added: 0 · already in the list: 4 · not found: 2" in response.text
    # when ids are pasted instead of a file
    response = client.post(
        f"/segments/{seg_id}/import", data={"csrf_token": login.csrf, "text": f"{ids['eve']}\n"}
    )
    assert "Added: 1 · already in the list: 0 · not found: 0" in response.text
    # when two members are removed
    response = client.post(
        f"/segments/{seg_id}/members/remove",
        data={"csrf_token": login.csrf, "customer_id": [str(ids["ann"]), str(ids["eve"])]},
    )
    assert response.status_code == 303
    page = client.get(response.headers["location"], headers=HTML)
    assert "Removed from the list: 2." in page.text
    assert re.search(r'data-testid="member-count">3<', page.text)
    assert segments_service.ids_of(session, segment_id=seg_id) == sorted(
        [ids["bob"], ids["cat"], ids["dan"]]
    )
    # a file that is not a list of emails or ids is refused, naming the row
    response = client.post(
        f"/segments/{seg_id}/import",
        data={"csrf_token": login.csrf},
        files={"file": ("bad.csv", b"email\nnot an address\n", "text/csv")},
    )
    assert response.status_code == 422
    assert "row 2: &#39;not an address&#39; is neither an email nor a customer id" in response.text


def test_members_are_paged_by_keyset(browser, session):
    ids = [
        customers_service.create(session, data=CustomerCreate(email=f"p{i}@example.com")).id
        for i in range(53)
    ]
    seg_id = _static(session, "Many", ids)
    client = browser()
    signed_in(client, session, Role.ANALYST)
    first = client.get(f"/segments/{seg_id}", headers=HTML)
    assert len(_rows(first, "member-row")) == 50
    nxt = re.search(r'href="(/segments/\d+\?cursor=[^"]+)" data-testid="members-next"', first.text)
    assert nxt is not None
    second = client.get(html.unescape(nxt.group(1)), headers=HTML)
    assert [r.split(" ")[0] for r in _rows(second, "member-row")] == [
        "p50@example.com",
        "p51@example.com",
        "p52@example.com",
    ]
    assert 'data-testid="members-next"' not in second.text


def test_csv_export_streams_every_member(browser, session):
    ids = _people(session)
    seg_id = _static(session, "Press & TV", [ids["bob"], ids["ann"]])
    entered = {
        m.customer_id: m.entered_at
        for m in segments_service.members(session, segment_id=seg_id).items
    }
    client = browser()
    signed_in(client, session, Role.ANALYST)  # analysts export
    page = client.get(f"/segments/{seg_id}", headers=HTML)
    assert f'href="/segments/{seg_id}/members.csv"' in page.text
    response = client.get(f"/segments/{seg_id}/members.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert (
        response.headers["content-disposition"]
        == f'attachment; filename="segment-{seg_id}-press-tv.csv"'
    )
    a, b = ids["ann"], ids["bob"]
    assert response.text == (
        "customer_id,email,first_name,last_name,orders_count,total_spent,last_order_at,"
        "entered_at\n"
        f"{a},ann@example.com,Ann,,0,0,,{entered[a].isoformat()}\n"  # type: ignore[union-attr]
        f"{b},bob@example.com,Bob,,0,0,,{entered[b].isoformat()}\n"  # type: ignore[union-attr]
    )


def test_support_is_refused_and_an_analyst_cannot_change_segments(browser, session):
    ids = _people(session)
    seg_id = _dynamic(session, "Indonesia", 'country = "ID"')
    support = browser()
    login = signed_in(support, session, Role.SUPPORT)
    for path in ("/segments", f"/segments/{seg_id}", f"/segments/{seg_id}/members.csv"):
        assert support.get(path, headers=HTML).status_code == 403, path
    response = support.post(
        "/segments/preview", data={"query": "orders_count >= 1"},
        headers={**HX, "X-CSRF-Token": login.csrf},
    )  # fmt: skip
    assert response.status_code == 403
    # the analyst reads, but neither the write buttons nor the writes are theirs
    analyst = browser()
    login = signed_in(analyst, session, Role.ANALYST, email="an@shop.test")
    page = analyst.get(f"/segments/{seg_id}", headers=HTML)
    assert page.status_code == 200
    assert 'data-testid="delete-segment"' not in page.text
    assert 'data-testid="refresh-segment"' not in page.text
    assert analyst.get("/segments/new", headers=HTML).status_code == 403
    response = analyst.post(
        f"/segments/{seg_id}/delete", data={"csrf_token": login.csrf}, headers=HTML
    )
    assert response.status_code == 403
    response = analyst.post(
        "/segments/new", data={"name": "X", "query": "orders_count >= 1", "csrf_token": login.csrf},
        headers=HTML,
    )  # fmt: skip
    assert response.status_code == 403
    assert segments_service.get(session, segment_id=seg_id).member_count == 3
    assert [s.name for s in segments_service.list(session).items] == ["Indonesia"]
    assert ids  # the customers exist: the refusals are about the role


def test_a_post_without_the_csrf_token_is_refused(browser, session):
    _people(session)
    seg_id = _dynamic(session, "Indonesia", 'country = "ID"')
    client = browser()
    signed_in(client, session, Role.OWNER)
    response = client.post(f"/segments/{seg_id}/delete", data={"csrf_token": "forged"},
                           headers=HTML)  # fmt: skip
    assert response.status_code == 403
    assert "This form has expired" in response.text
    assert segments_service.get(session, segment_id=seg_id).name == "Indonesia"


def test_the_builder_in_indonesian(browser, session):
    _people(session)
    client = browser()
    login = signed_in(client, session, Role.MARKETER, locale="id")
    page = client.get("/segments/new", headers=HTML)
    assert page.status_code == 200
    assert '<html lang="id">' in page.text
    for words in ("Segmen baru", "Contoh", "Bidang", "Simpan", "Batal",
                  "Pembeli berulang yang tidak memesan selama 60 hari"):  # fmt: skip
        assert words in page.text, words
    assert 'hx-trigger="input changed delay:300ms, load"' in page.text
    response = client.post(
        "/segments/preview", data={"query": 'country = "ID" AND'},
        headers={**HX, "X-CSRF-Token": login.csrf},
    )  # fmt: skip
    assert "Kueri ini bermasalah" in response.text
    assert "Baris 1, kolom 19" in response.text
    response = client.post(
        "/segments/preview", data={"query": 'country = "ID"'},
        headers={**HX, "X-CSRF-Token": login.csrf},
    )  # fmt: skip
    assert "pelanggan cocok" in response.text
    assert "Contoh anggota" in response.text
    # and a save error names the field in Indonesian
    response = client.post(
        "/segments/new", data={"name": "", "query": 'country = "ID"', "csrf_token": login.csrf}
    )
    assert response.status_code == 422
    assert re.search(r'data-field="name">Beri nama segmen ini.<', response.text)


def test_lifecycle_segments_are_added_and_read_in_chinese(browser, session):
    client = browser()
    login = signed_in(client, session, Role.OWNER, locale="zh_Hans")
    response = client.post("/segments/builtins", data={"csrf_token": login.csrf})
    assert response.status_code == 303
    page = client.get(response.headers["location"], headers=HTML)
    assert '<html lang="zh-Hans">' in page.text
    assert "生命周期分群已保存，正在计算成员。" in page.text
    rows = _rows(page, "segment-row")
    assert len(rows) == 8
    assert rows[1] == "回头客 两笔及以上订单 内置 0 尚未计算"
    assert 'data-testid="install-builtins"' not in page.text  # they exist now


def test_a_segment_another_one_uses_is_not_deleted(browser, session):
    ids = _people(session)
    press = _static(session, "Press", [ids["ann"]])
    _dynamic(session, "Press in Indonesia", 'in_segment("Press") AND country = "ID"')
    client = browser()
    login = signed_in(client, session, Role.MARKETER)
    response = client.post(f"/segments/{press}/delete", data={"csrf_token": login.csrf})
    assert response.status_code == 409
    assert "segments Press in Indonesia use this segment; change them first" in response.text
    assert segments_service.get(session, segment_id=press).member_count == 1
