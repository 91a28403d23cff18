"""The segments pages say what is wrong in the user's language: the segment language's
messages (segments/language.py, conditions.py, calls.py, compiler.py) and the segments
service's (saving, renaming, deleting, static lists) are templates the web app
translates, with what the user typed, names and keywords kept as typed."""

from __future__ import annotations

import ast
import html
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from patron.auth.schemas import Role
from patron.core.errors import Conflict, ValidationError
from patron.customers import service as customers_service
from patron.customers.schemas import CustomerCreate
from patron.segments import service as segments_service
from patron.segments.language import Phrase
from patron.segments.schemas import MembersChange, SegmentCreate, SegmentKind
from patron.store import service as store_service
from patron.store.schemas import StoreSettings
from patron.web import i18n
from patron.web.catalogs import DOMAIN_MESSAGES, domain_messages, translated
from tests.web.conftest import HTML, signed_in

HX = {"HX-Request": "true"}
SRC = Path(i18n.__file__).parent.parent


def _text(markup: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", markup))).strip()


def _problem(response) -> tuple[str, str, str]:
    """(message, "line, column" text, caret block) of the preview fragment."""
    assert response.status_code == 200
    alert = re.search(r'data-testid="preview-error">\s*<p>(.*?)</p>', response.text, flags=re.S)
    where = re.search(r'data-testid="preview-position">(.*?)</p>', response.text, flags=re.S)
    caret = re.search(r'data-testid="preview-caret">(.*?)</pre>', response.text, flags=re.S)
    assert alert is not None, response.text
    assert where is not None
    assert caret is not None
    return _text(alert.group(1)), _text(where.group(1)), html.unescape(caret.group(1))


def _preview(client, login, query: str):
    return client.post(
        "/segments/preview", data={"query": query}, headers={**HX, "X-CSRF-Token": login.csrf}
    )


INDONESIAN = [
    # (query, message, position, caret)
    (
        'orders_count >= 2 AND\r\ncountry == "ID"',
        "Kueri ini bermasalah: gunakan satu '=' untuk membandingkan",
        "Baris 2, kolom 9",
        'country == "ID"\n        ^',
    ),
    (
        "orders_count 2",
        "Kueri ini bermasalah: seharusnya perbandingan (=, !=, >, >=, <, <=, IN, CONTAINS, "
        "atau IS NULL), tetapi ditemukan '2'",
        "Baris 1, kolom 14",
        "orders_count 2\n" + " " * 13 + "^",
    ),
    (
        "order_count >= 2",
        "Kueri ini bermasalah: bidang 'order_count' tidak dikenal; mungkin maksud Anda "
        "'orders_count'?",
        "Baris 1, kolom 1",
        "order_count >= 2\n^",
    ),
    (
        "orders_count >= 2)",
        "Kueri ini bermasalah: seharusnya AND, OR, atau akhir kueri, tetapi ditemukan ')'; "
        "')' ini tidak punya pasangan '('",
        "Baris 1, kolom 18",
        "orders_count >= 2)\n" + " " * 17 + "^",
    ),
    (
        'did("A" within = 1d)',
        "Kueri ini bermasalah: seharusnya ',' atau ')' untuk menutup did(, tetapi ditemukan "
        "'within'",
        "Baris 1, kolom 9",
        'did("A" within = 1d)\n        ^',
    ),
    (
        'orders_count >= "two"',
        "Kueri ini bermasalah: orders_count memerlukan angka, tetapi ditemukan teks",
        "Baris 1, kolom 17",
        'orders_count >= "two"\n' + " " * 16 + "^",
    ),
]


@pytest.mark.parametrize(("query", "message", "where", "caret"), INDONESIAN)
def test_the_builder_explains_a_broken_query_in_indonesian(
    browser, session, query, message, where, caret
):
    # given a marketer who reads Indonesian
    client = browser()
    login = signed_in(client, session, Role.MARKETER, locale="id")
    # when the live preview gets a query it cannot read
    got = _problem(_preview(client, login, query))
    # then the message is Indonesian, with the typed token and the right place
    assert got == (message, where, caret)


CHINESE = [
    (
        "orders_count >=",
        "此查询有问题: 此处应为'>=' 后面的值（数字、\"文本\"、金额如 100 USD、时间如 -60d、"
        "true 或 false），但遇到了查询结尾",
        "第 1 行，第 16 列",
        "orders_count >=\n" + " " * 15 + "^",
    ),
    (
        'email = "ann',
        '此查询有问题: 这段文本没有闭合：请在末尾加上 "',
        "第 1 行，第 9 列",
        'email = "ann\n        ^',
    ),
    (
        '(orders_count >= 2\nOR country = "ID"',
        "此查询有问题: 此处应为闭合第 1 列 '(' 的 ')'，但遇到了查询结尾",
        "第 2 行，第 18 列",
        'OR country = "ID"\n' + " " * 17 + "^",
    ),
    (
        "country = 5",
        "此查询有问题: country 需要带引号的文本，但给出的是数字",
        "第 1 行，第 11 列",
        "country = 5\n          ^",
    ),
    (
        'country = "ID" AND\n  last_order_at < "soon"',
        '此查询有问题: last_order_at 需要日期，例如 "2026-01-31"，但给出的是 "soon"',
        "第 2 行，第 19 列",
        '  last_order_at < "soon"\n' + " " * 18 + "^",
    ),
    (
        'rfm_group = "Champs"',
        "此查询有问题: 未知的 RFM 分组 'Champs'；您是不是要写 'champions'？",
        "第 1 行，第 13 列",
        'rfm_group = "Champs"\n' + " " * 12 + "^",
    ),
    (
        "orders_count >= 2 & total_spent > 5",
        "此查询有问题: 意外的字符 '&'",
        "第 1 行，第 19 列",
        "orders_count >= 2 & total_spent > 5\n" + " " * 18 + "^",
    ),
]


@pytest.mark.parametrize(("query", "message", "where", "caret"), CHINESE)
def test_the_builder_explains_a_broken_query_in_chinese(
    browser, session, query, message, where, caret
):
    client = browser()
    login = signed_in(client, session, Role.ANALYST, locale="zh_Hans")
    got = _problem(_preview(client, login, query))
    assert got == (message, where, caret)


def test_a_nested_segment_that_no_longer_compiles_is_explained_in_chinese(browser, session):
    # given a segment in euros, then the euro rate is removed from the store settings
    store_service.update_settings(
        session, settings=StoreSettings(base_currency="USD", fx_rates={"EUR": "1.1"})
    )
    segments_service.create(session, data=SegmentCreate(name="Euro", query="total_spent > 5 EUR"))
    store_service.update_settings(session, settings=StoreSettings(base_currency="USD"))
    session.commit()
    client = browser()
    login = signed_in(client, session, Role.MARKETER, locale="zh_Hans")
    # when a query uses that segment
    got = _problem(_preview(client, login, 'in_segment("Euro")'))
    # then both the outer and the inner message are Chinese; the names stay as typed
    assert got == (
        '此查询有问题: 分群 "Euro" 的查询已无法编译：没有从 EUR 到店铺货币 USD 的汇率；'
        "请在店铺设置中添加，或用 USD 写金额",
        "第 1 行，第 12 列",
        'in_segment("Euro")\n' + " " * 11 + "^",
    )
    # and in English it reads exactly as the API says it
    english = browser()
    login = signed_in(english, session, Role.ANALYST)
    got = _problem(_preview(english, login, 'in_segment("Euro")'))
    assert got[0] == (
        'This query has a problem: segment "Euro" has a query that no longer compiles: there is '
        "no exchange rate from EUR to the store currency USD; set it in the store settings or "
        "write the amount in USD"
    )


def test_saving_a_cycle_names_the_segments_in_indonesian(browser, session):
    # given Buyers, and Big that reads Buyers
    buyers = segments_service.create(
        session, data=SegmentCreate(name="Buyers", query="orders_count >= 1")
    )
    segments_service.create(session, data=SegmentCreate(name="Big", query='in_segment("Buyers")'))
    session.commit()
    client = browser()
    login = signed_in(client, session, Role.MARKETER, locale="id")
    # when Buyers is edited to read Big
    response = client.post(
        f"/segments/{buyers.id}/edit",
        data={"name": "Buyers", "query": 'in_segment("Big")', "csrf_token": login.csrf},
    )
    # then the save is refused with the cycle, in Indonesian, under the query field
    assert response.status_code == 422
    error = re.search(r'data-field="query">(.*?)</div>', response.text, flags=re.S)
    assert error is not None
    assert _text(error.group(1)) == (
        "segmen saling merujuk secara melingkar: Buyers -> Big -> Buyers "
        "Baris 1, kolom 12 "
        'in_segment("Big") ^'
    )
    assert segments_service.get(session, segment_id=buyers.id).query == "orders_count >= 1"


def test_the_domain_messages_are_in_the_segments_catalogs():
    # every template the segment language marks is translated in segments.po itself
    messages = domain_messages()
    assert set(messages) == set(DOMAIN_MESSAGES) == {"segments"}
    assert len(messages["segments"]) == 92
    assert messages["segments"]["the end of the query"].startswith("../segments/language.py:")
    assert messages["segments"]["a segment named {name!r} exists"].startswith(
        "../segments/service.py:"
    )
    for locale in ("id", "zh_Hans"):
        have = translated(locale, area="segments")
        assert [m for m in messages["segments"] if m not in have] == [], locale


def _fields(template: str) -> list[str]:
    return sorted(set(re.findall(r"{(\w*)[^}]*}", template)))


@pytest.mark.parametrize("locale", ["id", "zh_Hans"])
def test_translations_keep_the_template_fields(locale):
    # a translation that names other fields would fall back to English on the page
    path = i18n.LOCALE_DIR / locale / "LC_MESSAGES" / "segments.po"
    with path.open("rb") as f:
        catalog = {m.id: m.string for m in read_po(f, locale=locale) if m.id}
    wrong = [
        (msgid, catalog[msgid])
        for msgid in domain_messages()["segments"]
        if _fields(msgid) != _fields(str(catalog[msgid]))
    ]
    assert wrong == []


def _unmarked(source: str) -> list[int]:
    """Lines where a string is given to Phrase(...), _err(...), SegmentQueryError(...),
    self.error(...), a ValidationError / Conflict / NotFound or (as the template, second)
    _error(...) as the message without N_(...): it would reach the page in English."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        message = node.args[1] if name == "_error" and len(node.args) > 1 else node.args[0]
        literal = isinstance(message, ast.Constant | ast.JoinedStr | ast.BinOp)
        if name in MESSAGE_TAKERS and literal:
            found.append(node.lineno)
    return found


MESSAGE_TAKERS = ("Phrase", "query_error", "SegmentQueryError", "error", "_error",
                  "ValidationError", "Conflict", "NotFound")  # fmt: skip


def test_every_message_of_the_segment_language_is_marked():
    files = [SRC / module for module in DOMAIN_MESSAGES["segments"]]
    assert [f.name for f in files] == [
        "language.py", "conditions.py", "calls.py", "compiler.py", "service.py"
    ]  # fmt: skip
    assert {f.name: _unmarked(f.read_text()) for f in files} == {
        "language.py": [],
        "conditions.py": [],
        "calls.py": [],
        "compiler.py": [],
        "service.py": [],
    }
    # and the check does see an unmarked message
    sample = (
        'raise query_error(N_("marked"), 1)\nraise query_error(f"unmarked {x}", 1)\n'
        'Phrase("bare")\n'
        'raise _error(Conflict, N_("marked"), field="a")\nraise _error(Conflict, "bare")\n'
        'raise ValidationError("bare", field="a")\nraise NotFound(f"{x} bare")\n'
    )
    assert _unmarked(sample) == [2, 3, 5, 6, 7]


# --- the segments service's messages (saving, renaming, deleting, static lists) ----------


def _field_error(response, field: str) -> str:
    found = re.search(rf'data-field="{field}">(.*?)</(?:p|div)>', response.text, flags=re.S)
    assert found is not None, response.text
    return _text(found.group(1))


def _page_error(response) -> str:
    found = re.search(r'data-testid="segment-error">(.*?)</p>', response.text, flags=re.S)
    assert found is not None, response.text
    return _text(found.group(1))


def _static_list(session, name: str, emails: list[str]) -> int:
    seg = segments_service.create(session, data=SegmentCreate(name=name, kind=SegmentKind.STATIC))
    ids = [
        customers_service.create(session, data=CustomerCreate(email=email)).id for email in emails
    ]
    if ids:
        segments_service.add_members(
            session, segment_id=seg.id, change=MembersChange(customer_ids=ids)
        )
    session.commit()
    return seg.id


@pytest.mark.parametrize(
    ("locale", "message"),
    [("id", "segmen bernama 'Taken' sudah ada"), ("zh_Hans", "名为 'Taken' 的分群已存在")],
)
def test_a_name_already_used_is_refused_in_the_users_language(browser, session, locale, message):
    # given a segment named Taken
    segments_service.create(session, data=SegmentCreate(name="Taken", query="orders_count >= 2"))
    session.commit()
    client = browser()
    login = signed_in(client, session, Role.MARKETER, locale=locale)
    # when another one is saved under that name
    response = client.post(
        "/segments/new",
        data={"name": "Taken", "query": "orders_count >= 1", "csrf_token": login.csrf},
    )
    # then the name field says so in the user's language, the name as typed
    assert response.status_code == 422
    assert _field_error(response, "name") == message
    assert [s.name for s in segments_service.list(session).items] == ["Taken"]


@pytest.mark.parametrize(
    ("locale", "message"),
    [
        ("id", "segmen Big, Loyal merujuk 'Buyers' lewat namanya; "
               "ubah segmen tersebut terlebih dahulu"),
        ("zh_Hans", "分群 Big, Loyal 按名称引用了 'Buyers'；请先修改它们"),
    ],
)  # fmt: skip
def test_renaming_a_segment_others_use_is_refused_in_the_users_language(
    browser, session, locale, message
):
    # given Buyers, read by name by Big and by Loyal
    buyers = segments_service.create(
        session, data=SegmentCreate(name="Buyers", query="orders_count >= 1")
    )
    for name in ("Loyal", "Big"):
        segments_service.create(
            session, data=SegmentCreate(name=name, query='in_segment("Buyers")')
        )
    session.commit()
    client = browser()
    login = signed_in(client, session, Role.MARKETER, locale=locale)
    # when Buyers is renamed
    response = client.post(
        f"/segments/{buyers.id}/edit",
        data={"name": "Shoppers", "query": "orders_count >= 1", "csrf_token": login.csrf},
    )
    # then the rename is refused naming both, in the user's language
    assert response.status_code == 422
    assert _field_error(response, "name") == message
    assert segments_service.get(session, segment_id=buyers.id).name == "Buyers"


BAD_FILES = [
    # (locale, file, message)
    ("id", b"email\nann@example.com\nn/a\n", "baris 3: 'n/a' bukan email maupun ID pelanggan"),
    ("zh_Hans", b"email\nann@example.com\nn/a\n", "第 3 行：'n/a' 既不是邮箱也不是客户 ID"),
    ("id", b"name,city\nAnn,Jakarta\n",
     "beri nama salah satu kolom email, customer_id, atau id di baris pertama"),
    ("zh_Hans", b"name,city\nAnn,Jakarta\n", "请在第一行将一列命名为 email、customer_id 或 id"),
    ("id", b",\n , \n", "berkas tidak berisi baris apa pun"),
    ("zh_Hans", b",\n , \n", "文件中没有任何行"),
]  # fmt: skip


@pytest.mark.parametrize(("locale", "upload", "message"), BAD_FILES)
def test_a_bad_static_list_file_is_refused_in_the_users_language(
    browser, session, locale, upload, message
):
    # given a static list with one member, and a customer the file names
    seg_id = _static_list(session, "Press", ["bob@example.com"])
    customers_service.create(session, data=CustomerCreate(email="ann@example.com"))
    session.commit()
    client = browser()
    login = signed_in(client, session, Role.MARKETER, locale=locale)
    # when a file it cannot read is uploaded
    response = client.post(
        f"/segments/{seg_id}/import",
        data={"csrf_token": login.csrf},
        files={"file": ("bad.csv", upload, "text/csv")},
        headers=HTML,
    )
    # then the list page says why, in the user's language, and nobody was added
    assert response.status_code == 422
    assert _page_error(response) == message
    assert segments_service.get(session, segment_id=seg_id).member_count == 1


@pytest.mark.parametrize(
    ("locale", "message"),
    [
        (
            "id",
            "segmen Press in Indonesia memakai segmen ini; ubah segmen tersebut terlebih dahulu",
        ),
        ("zh_Hans", "分群 Press in Indonesia 使用了此分群；请先修改它们"),
    ],
)
def test_deleting_a_segment_another_uses_is_refused_in_the_users_language(
    browser, session, locale, message
):
    press = _static_list(session, "Press", ["ann@example.com"])
    segments_service.create(
        session, data=SegmentCreate(name="Press in Indonesia", query='in_segment("Press")')
    )
    session.commit()
    client = browser()
    login = signed_in(client, session, Role.MARKETER, locale=locale)
    response = client.post(f"/segments/{press}/delete", data={"csrf_token": login.csrf})
    assert response.status_code == 409
    assert _page_error(response) == message
    assert segments_service.get(session, segment_id=press).member_count == 1


def test_a_dynamic_segments_members_and_a_static_lists_refresh_are_explained(browser, session):
    # given a dynamic segment and a static list, and a reader of Indonesian
    people = [customers_service.create(session, data=CustomerCreate(email="ann@example.com")).id]
    dynamic = segments_service.create(
        session, data=SegmentCreate(name="Buyers", query="orders_count >= 0")
    )
    segments_service.refresh(session, segment_id=dynamic.id)
    static = _static_list(session, "Press", [])
    client = browser()
    login = signed_in(client, session, Role.MARKETER, locale="id")
    # when members are removed from the dynamic segment by hand
    response = client.post(
        f"/segments/{dynamic.id}/members/remove",
        data={"csrf_token": login.csrf, "customer_id": [str(people[0])]},
    )
    # then it is refused: its query decides
    assert response.status_code == 422
    assert _page_error(response) == (
        "anggota segmen dinamis mengikuti kuerinya; gunakan daftar statis"
    )
    assert segments_service.ids_of(session, segment_id=dynamic.id) == people
    # when a CSV is uploaded to it, in Chinese
    chinese = browser()
    login_zh = signed_in(chinese, session, Role.MARKETER, email="zh@shop.test", locale="zh_Hans")
    response = chinese.post(
        f"/segments/{dynamic.id}/import",
        data={"csrf_token": login_zh.csrf, "text": "ann@example.com\n"},
    )
    assert response.status_code == 422
    assert _page_error(response) == "动态分群的成员由其查询决定；请使用静态列表"
    # when the static list is asked to refresh (the page offers no button for it)
    response = client.post(f"/segments/{static}/refresh", data={"csrf_token": login.csrf})
    assert response.status_code == 422
    assert _page_error(response) == (
        "daftar statis tidak disegarkan; daftar ini berubah saat Anda menambah atau menghapus "
        "anggota"
    )


def test_the_service_errors_stay_english_and_carry_their_phrase(session):
    # given a segment named Ann's, read by name by Ann's fans
    segments_service.create(session, data=SegmentCreate(name="Ann's", query="orders_count >= 2"))
    fans = segments_service.create(
        session, data=SegmentCreate(name="Ann's fans", query='in_segment("Ann\'s")')
    )
    # when the name is taken again
    with pytest.raises(Conflict) as taken:
        segments_service.create(session, data=SegmentCreate(name="Ann's", query="orders_count > 1"))
    # then the API and the CLI read the same English as ever, and the page gets the phrase
    assert str(taken.value) == taken.value.message == 'a segment named "Ann\'s" exists'
    assert taken.value.to_dict() == {
        "error": "conflict",
        "message": 'a segment named "Ann\'s" exists',
        "field": "name",
    }
    assert taken.value.phrase == Phrase("a segment named {name!r} exists", name="Ann's")
    # a static-list import naming a row keeps the row number and the value as given
    static = segments_service.create(
        session, data=SegmentCreate(name="Press", kind=SegmentKind.STATIC)
    )
    with pytest.raises(ValidationError) as bad:
        segments_service.import_list(session, segment_id=static.id, text="id\n7\nseven\n")
    assert bad.value.to_dict() == {
        "error": "invalid",
        "message": "row 3: 'seven' is neither an email nor a customer id",
        "field": "file",
    }
    assert bad.value.phrase == Phrase(
        "row {row}: {value!r} is neither an email nor a customer id", row=3, value="seven"
    )
    # an error without a phrase still has the attribute, empty
    assert ValidationError("plain", field="x").phrase is None
    assert segments_service.get(session, segment_id=fans.id).name == "Ann's fans"
