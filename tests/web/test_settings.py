"""Settings pages: store, users and roles, keys, KPI targets and spend, through the routes."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import orjson
from sqlalchemy.orm import Session

from patron.analytics import service as analytics_service
from patron.analytics.schemas import SpendUpsert
from patron.auth import service as auth_service
from patron.auth.schemas import Role
from patron.events import service as events_service
from patron.store import service as store_service
from tests.web.conftest import HTML, PASSWORD, login_csrf, signed_in

SECRET = re.compile(r'data-testid="new-key-secret">([^<]+)<')


def _post(client, path: str, csrf: str, **data: str):
    return client.post(path, data={"csrf_token": csrf, **data}, headers=HTML)


def _sign_in_with_form(client, email: str, password: str) -> int:
    token = login_csrf(client)
    r = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    return r.status_code


# --- store --------------------------------------------------------------------------------


def test_store_settings_are_saved_and_applied(browser, session: Session):
    # given an owner on a store in USD
    client = browser()
    login = signed_in(client, session, Role.OWNER)
    # when they switch the store to rupiah, Jakarta time and Indonesian
    r = _post(client, "/settings/store", login.csrf, base_currency="idr",
              timezone="Asia/Jakarta", default_locale="id")  # fmt: skip
    # then the settings are stored and the page confirms it
    assert r.status_code == 303
    assert r.headers["location"] == "/settings/store?done=store"
    settings = store_service.get_settings(session)
    assert (settings.base_currency, settings.timezone, settings.default_locale) == (
        "IDR", "Asia/Jakarta", "id"
    )  # fmt: skip
    page = client.get(r.headers["location"], headers=HTML)
    assert 'data-testid="flash">Store settings saved.' in page.text
    assert '<option value="IDR" selected>' in page.text
    assert '<option value="Asia/Jakarta" selected>' in page.text
    # and money is entered and shown in the new currency
    r = _post(client, "/settings/spend", login.csrf, channel="google", month="2026-03",
              amount="1250000", note="")  # fmt: skip
    assert r.status_code == 303
    [row] = analytics_service.list_spend(session)
    assert (row.amount, row.currency, row.base_amount) == (125000000, "IDR", 125000000)
    assert "IDR1,250,000" in client.get("/settings/spend", headers=HTML).text
    # and a user added now starts in the store's default language (Indonesian)
    r = _post(client, "/settings/users", login.csrf, email="dewi@shop.test", name="Dewi",
              role="analyst", password="a long enough password")  # fmt: skip
    assert r.status_code == 303
    other = browser()
    assert _sign_in_with_form(other, "dewi@shop.test", "a long enough password") == 303
    page = other.get("/settings/spend", headers=HTML)
    assert '<html lang="id">' in page.text
    assert "<h1>Belanja pemasaran</h1>" in page.text


def test_store_settings_refuse_bad_values_naming_the_fields(browser, session: Session):
    client = browser()
    login = signed_in(client, session, Role.OWNER)
    r = _post(client, "/settings/store", login.csrf, base_currency="XYZ",
              timezone="Mars/Olympus", default_locale="fr")  # fmt: skip
    assert r.status_code == 422
    for field in ("base_currency", "timezone", "default_locale"):
        assert f'data-testid="error-{field}"' in r.text
        assert re.search(rf'id="{field}" name="{field}" aria-invalid="true"', r.text)
    assert "Choose a time zone from the list, such as Asia/Jakarta." in r.text
    settings = store_service.get_settings(session)
    assert (settings.base_currency, settings.timezone, settings.default_locale) == (
        "USD", "UTC", "en"
    )  # fmt: skip


# --- users and roles ----------------------------------------------------------------------


def test_an_owner_creates_a_user_who_can_sign_in(browser, session: Session):
    client = browser()
    login = signed_in(client, session, Role.OWNER)
    r = _post(client, "/settings/users", login.csrf, email="Rina@Shop.test", name="Rina",
              role="marketer", password="a long enough password")  # fmt: skip
    assert r.status_code == 303
    assert r.headers["location"] == "/settings/users?done=user"
    page = client.get(r.headers["location"], headers=HTML)
    assert page.text.count('data-testid="user-row"') == 2
    assert 'data-email="rina@shop.test"' in page.text
    # the new person signs in with the initial password and has the role given
    rina = browser()
    assert _sign_in_with_form(rina, "rina@shop.test", "a long enough password") == 303
    account = rina.get("/account", headers=HTML)
    assert "rina@shop.test" in account.text
    assert "Rina · Marketer" in account.text


def test_creating_a_user_names_the_bad_field(browser, session: Session):
    client = browser()
    login = signed_in(client, session, Role.OWNER)
    short = _post(client, "/settings/users", login.csrf, email="x@shop.test", name="X",
                  role="support", password="short")  # fmt: skip
    assert short.status_code == 422
    assert 'data-testid="error-password">The password needs at least 10 characters.' in short.text
    assert 'value="x@shop.test"' in short.text  # the form keeps what was typed
    taken = _post(client, "/settings/users", login.csrf, email="owner@shop.test", name="X",
                  role="support", password="long enough password")  # fmt: skip
    assert taken.status_code == 422
    assert 'data-testid="error-email">A user with this email exists already.' in taken.text
    assert len(auth_service.list_users(session)) == 1


def test_an_owner_changes_a_role_and_the_person_gets_it_at_once(browser, session: Session):
    client = browser()
    login = signed_in(client, session, Role.OWNER)
    other = browser()
    analyst = signed_in(other, session, Role.ANALYST)
    assert other.get("/settings/store", headers=HTML).status_code == 403
    r = _post(client, f"/settings/users/{analyst.user_id}/role", login.csrf, role="owner")
    assert r.status_code == 303
    assert r.headers["location"] == "/settings/users?done=role"
    assert auth_service.get_user(session, user_id=analyst.user_id).role is Role.OWNER
    assert "Role changed." in client.get(r.headers["location"], headers=HTML).text
    assert other.get("/settings/store", headers=HTML).status_code == 200


def test_the_last_active_owner_is_neither_demoted_nor_deactivated(browser, session: Session):
    client = browser()
    login = signed_in(client, session, Role.OWNER)
    demote = _post(client, f"/settings/users/{login.user_id}/role", login.csrf, role="marketer")
    assert demote.status_code == 409
    assert 'data-testid="form-error">The store must keep at least one active owner.' in demote.text
    leave = _post(client, f"/settings/users/{login.user_id}/active", login.csrf, active="0")
    assert leave.status_code == 409
    assert "The store must keep at least one active owner." in leave.text
    me = auth_service.get_user(session, user_id=login.user_id)
    assert (me.role, me.is_active) == (Role.OWNER, True)


def test_an_owner_who_hands_over_ownership_leaves_the_owner_pages(browser, session: Session):
    client = browser()
    login = signed_in(client, session, Role.OWNER)
    signed_in(browser(), session, Role.OWNER, email="second-owner@shop.test")
    r = _post(client, f"/settings/users/{login.user_id}/role", login.csrf, role="analyst")
    assert r.status_code == 303
    assert r.headers["location"] == "/"  # the users page is no longer theirs
    assert auth_service.get_user(session, user_id=login.user_id).role is Role.ANALYST
    assert client.get("/settings/users", headers=HTML).status_code == 403


def test_deactivating_a_user_ends_their_sessions_and_reactivating_lets_them_back(
    browser, session: Session
):
    client = browser()
    login = signed_in(client, session, Role.OWNER)
    other = browser()
    support = signed_in(other, session, Role.SUPPORT)
    r = _post(client, f"/settings/users/{support.user_id}/active", login.csrf, active="0")
    assert r.headers["location"] == "/settings/users?done=deactivated"
    assert other.get("/account", headers=HTML).status_code == 303  # signed out
    assert _sign_in_with_form(browser(), "support@shop.test", PASSWORD) == 401
    r = _post(client, f"/settings/users/{support.user_id}/active", login.csrf, active="1")
    assert r.headers["location"] == "/settings/users?done=reactivated"
    assert _sign_in_with_form(browser(), "support@shop.test", PASSWORD) == 303


# --- keys ---------------------------------------------------------------------------------


def test_an_api_key_is_shown_once_works_and_stops_working_when_revoked(browser, session: Session):
    client = browser()
    login = signed_in(client, session, Role.OWNER)
    # when the owner creates a key for the marketer role
    r = _post(client, "/settings/keys", login.csrf, name="Newsletter sync", role="marketer")
    assert r.status_code == 200
    found = SECRET.search(r.text)
    assert found is not None
    secret = found.group(1)
    assert secret.startswith("pk_")
    # then it works as a Bearer token on the API
    api = browser()
    bearer = {"Authorization": f"Bearer {secret}"}
    assert api.get("/api/customers", headers=bearer).status_code == 200
    # and it is never shown again: the list has its prefix, not the secret
    [key] = auth_service.list_api_keys(session)
    listing = client.get("/settings/keys", headers=HTML).text
    assert secret not in listing
    assert f"<code>{key.prefix}</code>" in listing
    assert listing.count('data-testid="key-row"') == 1
    assert "Newsletter sync" in listing
    assert "Marketer" in listing
    # when it is revoked after the confirmation page
    confirm = client.get(f"/settings/keys/{key.id}/revoke", headers=HTML)
    assert confirm.status_code == 200
    assert 'data-testid="confirm-revoke"' in confirm.text
    assert secret not in confirm.text
    done = _post(client, f"/settings/keys/{key.id}/revoke", login.csrf)
    assert done.status_code == 303
    assert done.headers["location"] == "/settings/keys?done=revoked"
    # then the same token is refused
    assert api.get("/api/customers", headers=bearer).status_code == 401
    listing = client.get(done.headers["location"], headers=HTML).text
    assert 'data-testid="revoke-key"' not in listing
    assert auth_service.list_api_keys(session)[0].revoked_at is not None


def test_the_keys_page_shows_the_incoming_events_and_queues_dead_ones_again(
    browser, session: Session
):
    # given two accepted tracking requests, one of which can never be applied (it died)
    source_id = store_service.ensure_source(session, key="site").id
    at = datetime(2026, 3, 1, tzinfo=UTC)
    good = orjson.dumps({"batch": [{"type": "page", "anonymousId": "a1", "messageId": "m1"}]})
    events_service.accept(session, source_id=source_id, body=good, kind=None, received_at=at,
                          messages=1)  # fmt: skip
    bad = orjson.dumps({"batch": "nope"})
    events_service.accept(session, source_id=source_id, body=bad, kind=None, received_at=at,
                          messages=1)  # fmt: skip
    events_service.process_inbox(session)
    for _ in range(4):
        events_service.process_inbox(session)
    session.commit()
    client = browser()
    login = signed_in(client, session, Role.OWNER)
    # when the owner opens the keys page
    page = client.get("/settings/keys", headers=HTML).text
    # then it says nothing waits and one request could not be applied
    assert "Incoming events" in page
    assert 'data-testid="inbox-queued">0<' in page
    assert 'data-testid="inbox-dead">1<' in page
    # and "try again" queues it again
    done = _post(client, "/settings/inbox/retry", login.csrf)
    assert (done.status_code, done.headers["location"]) == (
        303,
        "/settings/keys?done=inbox-retried",
    )
    page = client.get(done.headers["location"], headers=HTML).text
    assert 'data-testid="inbox-queued">1<' in page
    assert 'data-testid="inbox-dead">0<' in page
    assert 'data-testid="inbox-retry"' not in page
    # and an analyst may not
    other = browser()
    analyst = signed_in(other, session, Role.ANALYST)
    assert _post(other, "/settings/inbox/retry", analyst.csrf).status_code == 403


def test_a_write_key_is_created_for_a_source(browser, session: Session):
    client = browser()
    login = signed_in(client, session, Role.OWNER)
    bad = _post(client, "/settings/write-keys", login.csrf, write_name="Shop", source="My Shop!")
    assert bad.status_code == 422
    assert 'data-testid="error-source"' in bad.text
    r = _post(client, "/settings/write-keys", login.csrf, write_name="Shop", source="shopify")
    assert r.status_code == 200
    found = SECRET.search(r.text)
    assert found is not None
    assert found.group(1).startswith("wk_")
    source = store_service.ensure_source(session, key="shopify")
    principal = auth_service.verify_key(session, token=found.group(1), kind="write")
    assert (principal.kind, principal.source_id) == ("write_key", source.id)
    [key] = auth_service.list_api_keys(session)
    assert (key.name, key.kind, key.role, key.source_id) == ("Shop", "write", None, source.id)
    listing = client.get("/settings/keys", headers=HTML).text
    assert "<td>Write key</td>" in listing
    assert "<td>shopify</td>" in listing


def test_an_unknown_key_is_a_404_page(browser, session: Session):
    client = browser()
    login = signed_in(client, session, Role.OWNER)
    assert client.get("/settings/keys/999999/revoke", headers=HTML).status_code == 404
    assert _post(client, "/settings/keys/999999/revoke", login.csrf).status_code == 404


# --- targets and spend --------------------------------------------------------------------


def test_a_marketer_sets_and_removes_kpi_targets(browser, session: Session):
    client = browser()
    login = signed_in(client, session, Role.MARKETER)
    assert _post(client, "/settings/targets", login.csrf, metric="aov",
                 value="45.5").status_code == 303  # fmt: skip
    r = _post(client, "/settings/targets", login.csrf, metric="repeat_purchase_rate", value="25")
    assert r.headers["location"] == "/settings/targets?done=target"
    targets = {t.metric: t.value for t in analytics_service.list_targets(session)}
    assert targets == {"aov": 4550, "repeat_purchase_rate": 0.25}
    page = client.get("/settings/targets", headers=HTML).text
    assert page.count('data-testid="target-row"') == 2
    assert 'data-testid="target-value">$45.50<' in page
    assert 'data-testid="target-value">25.0%<' in page
    bad = _post(client, "/settings/targets", login.csrf, metric="churn_rate", value="150")
    assert bad.status_code == 422
    assert 'data-testid="error-value">A rate is a percentage between 0 and 100.' in bad.text
    no_target = _post(client, "/settings/targets", login.csrf, metric="marketing_spend", value="1")
    assert no_target.status_code == 422
    assert 'data-testid="error-metric"' in no_target.text
    r = _post(client, "/settings/targets/aov/delete", login.csrf)
    assert r.headers["location"] == "/settings/targets?done=target-deleted"
    assert [t.metric for t in analytics_service.list_targets(session)] == ["repeat_purchase_rate"]


def test_spend_is_entered_in_the_store_currency_and_listed_exactly(browser, session: Session):
    client = browser()
    login = signed_in(client, session, Role.MARKETER)
    for channel, month, amount in [("google", "2026-02", "1500.50"), ("facebook", "2026-03",
                                   "99.99"), ("google", "2026-03", "0")]:  # fmt: skip
        r = _post(client, "/settings/spend", login.csrf, channel=channel, month=month,
                  amount=amount, note="")  # fmt: skip
        assert r.status_code == 303
        assert r.headers["location"] == "/settings/spend?done=spend"
    # entering a channel's month again replaces it
    _post(client, "/settings/spend", login.csrf, channel="facebook", month="2026-03",
          amount="120", note="Spring sale")  # fmt: skip
    rows = [(str(s.month), s.channel, s.amount, s.currency, s.note)
            for s in analytics_service.list_spend(session)]  # fmt: skip
    assert rows == [
        ("2026-02-01", "google", 150050, "USD", None),
        ("2026-03-01", "facebook", 12000, "USD", "Spring sale"),
        ("2026-03-01", "google", 0, "USD", None),
    ]
    page = client.get("/settings/spend", headers=HTML).text
    shown = re.findall(
        r'data-channel="([^"]+)" data-month="([^"]+)">\s*<td>([^<]+)</td>\s*<td>[^<]+</td>\s*'
        r'<td class="num" data-testid="spend-amount">([^<]+)</td>', page
    )  # fmt: skip
    assert shown == [
        ("google", "2026-03", "Mar 2026", "$0.00"),
        ("facebook", "2026-03", "Mar 2026", "$120.00"),
        ("google", "2026-02", "Feb 2026", "$1,500.50"),
    ]
    bad = _post(client, "/settings/spend", login.csrf, channel="Google Ads", month="2026-13",
                amount="-5", note="")  # fmt: skip
    assert bad.status_code == 422
    for field in ("channel", "month", "amount"):
        assert f'data-testid="error-{field}"' in bad.text
    google_feb = analytics_service.list_spend(session)[0]
    r = _post(client, f"/settings/spend/{google_feb.id}/delete", login.csrf)
    assert r.headers["location"] == "/settings/spend?done=spend-deleted"
    assert len(analytics_service.list_spend(session)) == 2


# --- who sees what ------------------------------------------------------------------------


def test_support_sees_no_settings_at_all(browser, session: Session):
    client = browser()
    login = signed_in(client, session, Role.SUPPORT)
    for path in ["/settings", "/settings/store", "/settings/users", "/settings/keys",
                 "/settings/targets", "/settings/spend"]:  # fmt: skip
        page = client.get(path, headers=HTML)
        assert page.status_code == 403, path
        assert "You do not have access to this page" in page.text
    refused = _post(client, "/settings/spend", login.csrf, channel="google", month="2026-03",
                    amount="1", note="")  # fmt: skip
    assert refused.status_code == 403
    assert analytics_service.list_spend(session) == []
    assert 'href="/settings"' not in client.get("/account", headers=HTML).text


def test_an_analyst_reads_targets_and_spend_but_changes_nothing(browser, session: Session):
    client = browser()
    login = signed_in(client, session, Role.ANALYST)
    analytics_service.set_spend(
        session, data=SpendUpsert(channel="google", month="2026-03", amount=5000)
    )
    session.commit()
    for path in ["/settings/store", "/settings/users", "/settings/keys"]:
        assert client.get(path, headers=HTML).status_code == 403, path
    spend = client.get("/settings/spend", headers=HTML)
    assert spend.status_code == 200
    assert 'data-testid="spend-amount">$50.00<' in spend.text
    assert 'data-testid="spend-form"' not in spend.text
    assert 'data-testid="target-form"' not in client.get("/settings/targets", headers=HTML).text
    for path, data in [
        ("/settings/spend", {"channel": "google", "month": "2026-04", "amount": "1"}),
        ("/settings/targets", {"metric": "aov", "value": "10"}),
        ("/settings/keys", {"name": "mine", "role": "owner"}),
        ("/settings/store", {"base_currency": "EUR", "timezone": "UTC", "default_locale": "en"}),
        (f"/settings/users/{login.user_id}/role", {"role": "owner"}),
    ]:
        assert _post(client, path, login.csrf, **data).status_code == 403, path
    assert len(analytics_service.list_spend(session)) == 1
    assert analytics_service.list_targets(session) == []
    assert auth_service.list_api_keys(session) == []
    assert auth_service.get_user(session, user_id=login.user_id).role is Role.ANALYST


def test_a_marketer_reaches_targets_and_spend_but_not_the_store_sections(browser, session: Session):
    client = browser()
    signed_in(client, session, Role.MARKETER)
    overview = client.get("/settings", headers=HTML)
    assert overview.status_code == 200
    links = re.findall(r'data-testid="settings-nav-(\w+)"', overview.text)
    assert links == ["targets", "spend"]
    for path in ["/settings/store", "/settings/users", "/settings/keys"]:
        assert client.get(path, headers=HTML).status_code == 403, path


def test_a_signed_out_visitor_is_sent_to_sign_in(browser, session: Session):
    r = browser().get("/settings/keys", headers=HTML)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/settings/keys"


def test_a_form_without_the_csrf_token_is_refused(browser, session: Session):
    client = browser()
    signed_in(client, session, Role.OWNER)
    r = client.post("/settings/keys", data={"name": "x", "role": "owner"}, headers=HTML)
    assert r.status_code == 403
    assert "This form has expired" in r.text
    assert auth_service.list_api_keys(session) == []


# --- languages ----------------------------------------------------------------------------


def test_settings_pages_in_indonesian_and_chinese(browser, session: Session):
    client = browser()
    login = signed_in(client, session, Role.OWNER, locale="id")
    keys = client.get("/settings/keys", headers=HTML).text
    assert '<html lang="id">' in keys
    assert "<h1>Kunci API</h1>" in keys
    assert "Buat kunci API" in keys
    refused = _post(client, f"/settings/users/{login.user_id}/active", login.csrf, active="0")
    assert refused.status_code == 409
    assert "Toko harus tetap memiliki setidaknya satu pemilik yang aktif." in refused.text
    bad = _post(client, "/settings/keys", login.csrf, name="", role="owner")
    assert 'data-testid="error-name">Beri nama kunci ini (maksimal 200 karakter).' in bad.text
    analytics_service.set_spend(
        session, data=SpendUpsert(channel="google", month="2026-03", amount=123450)
    )
    session.commit()
    other = browser()
    signed_in(other, session, Role.MARKETER, locale="zh_Hans")
    spend = other.get("/settings/spend", headers=HTML).text
    assert "<h1>营销支出</h1>" in spend
    assert "<td>2026年3月</td>" in spend
    assert 'data-testid="spend-amount">US$1,234.50<' in spend
