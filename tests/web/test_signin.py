"""Sign-in, sessions, CSRF, sign-out and the language choice, through the real routes."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from patron.auth import service as auth_service
from patron.auth.models import LoginFailure, WebSession
from patron.auth.schemas import Role
from patron.core.time import utcnow
from tests.web.conftest import HTML, PASSWORD, login_csrf, signed_in


def test_a_page_without_a_session_redirects_to_sign_in_keeping_the_address(browser, session):
    client = browser()
    response = client.get("/account?tab=1", headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/account%3Ftab%3D1"


def test_htmx_requests_without_a_session_get_hx_redirect(browser, session):
    response = browser().get("/account", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["hx-redirect"] == "/login?next=/account"


def test_sign_in_sets_an_httponly_samesite_cookie_and_stores_only_a_hash(browser, session):
    client = browser()
    login = signed_in(client, session, Role.MARKETER)
    cookie = [c for c in client.cookies.jar if c.name == "patron_session"][0]
    assert cookie.has_nonstandard_attr("HttpOnly")
    rows = session.scalars(select(WebSession).where(WebSession.user_id == login.user_id)).all()
    assert len(rows) == 1
    assert rows[0].token_hash != cookie.value
    assert len(rows[0].token_hash) == 64
    page = client.get("/account", headers=HTML)
    assert "marketer@shop.test" in page.text


def test_set_cookie_header_flags(browser, session):
    client = browser()
    signed_in(client, session, Role.ANALYST)  # creates the user
    client.cookies.clear()
    token = login_csrf(client)
    response = client.post(
        "/login",
        data={"email": "analyst@shop.test", "password": PASSWORD, "csrf_token": token},
    )
    header = response.headers["set-cookie"]
    assert "patron_session=" in header
    assert "HttpOnly" in header
    assert "SameSite=lax" in header
    assert "Path=/" in header


def test_wrong_password_is_refused_with_a_translated_message_and_no_session(browser, session):
    client = browser()
    signed_in(client, session, Role.SUPPORT)
    other = browser()
    other.cookies.set("patron_locale", "id")
    token = login_csrf(other)
    response = other.post(
        "/login", data={"email": "support@shop.test", "password": "nope", "csrf_token": token}
    )
    assert response.status_code == 401
    assert "Email atau kata sandi salah." in response.text
    assert "patron_session" not in response.headers.get("set-cookie", "")


def test_login_without_the_form_token_is_refused(browser, session):
    client = browser()
    signed_in(client, session, Role.OWNER)
    client.cookies.clear()
    response = client.post(
        "/login", data={"email": "owner@shop.test", "password": PASSWORD, "csrf_token": "x"}
    )
    assert response.status_code == 403
    assert "patron_session" not in response.headers.get("set-cookie", "")


def test_five_wrong_passwords_lock_the_email_for_a_while(browser, session):
    email = f"locked-{uuid.uuid4().hex[:8]}@shop.test"
    signed_in(browser(), session, Role.OWNER, email=email)
    client = browser()
    statuses = []
    for password in ["a", "b", "c", "d", "e", PASSWORD]:
        token = login_csrf(client)
        r = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
        statuses.append(r.status_code)
    assert statuses == [401, 401, 401, 401, 401, 429]
    # Counted in the database (every worker process sees them), under the email's hash only.
    stored = session.scalars(select(LoginFailure.email_hash)).all()
    assert stored == [hashlib.sha256(email.encode()).hexdigest()] * 5


def _attempt(client, email: str, password: str) -> int:
    token = login_csrf(client)
    r = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    return r.status_code


def test_failures_recorded_by_another_process_lock_the_email_and_expire(browser, session):
    email = "throttled@shop.test"
    signed_in(browser(), session, Role.OWNER, email=email)
    for _ in range(5):  # as another worker process would, through the same table
        auth_service.record_login_failure(session, email=" Throttled@Shop.test ")
    session.commit()
    client = browser()
    assert _attempt(client, email, PASSWORD) == 429
    # 15 minutes later the window has passed: the right password signs in, failures forgotten
    session.execute(update(LoginFailure).values(failed_at=utcnow() - timedelta(minutes=15)))
    session.commit()
    assert _attempt(client, email, PASSWORD) == 303
    assert session.scalar(select(func.count()).select_from(LoginFailure)) == 0


def test_a_successful_sign_in_forgets_the_earlier_wrong_passwords(browser, session):
    email = "forgetful@shop.test"
    signed_in(browser(), session, Role.OWNER, email=email)
    client = browser()
    assert [_attempt(client, email, p) for p in ["a", "b", "c", "d"]] == [401] * 4
    assert _attempt(client, email, PASSWORD) == 303
    other = browser()
    assert [_attempt(other, email, p) for p in ["a", "b", "c", "d", "e"]] == [401] * 5
    assert _attempt(other, email, PASSWORD) == 429
    assert auth_service.login_throttled(session, email="other@shop.test") is False


def test_next_never_leaves_the_site(browser, session):
    signed_in(browser(), session, Role.OWNER, email="redir@shop.test")
    for target, expected in [("//evil.test/x", "/"), ("https://evil.test", "/"),
                             ("/segments?x=1", "/segments?x=1")]:  # fmt: skip
        client = browser()
        token = login_csrf(client)
        r = client.post(
            "/login",
            data={"email": "redir@shop.test", "password": PASSWORD, "csrf_token": token,
                  "next": target},
        )  # fmt: skip
        assert r.headers["location"] == expected


def test_a_post_without_the_session_csrf_token_is_refused(browser, session):
    client = browser()
    login = signed_in(client, session, Role.OWNER)
    refused = client.post("/logout", data={"csrf_token": "wrong"}, headers=HTML)
    assert refused.status_code == 403
    assert "This form has expired" in refused.text
    assert client.get("/account", headers=HTML).status_code == 200  # still signed in
    done = client.post("/logout", data={"csrf_token": login.csrf})
    assert done.status_code == 303
    assert done.headers["location"] == "/login"


def test_sign_out_ends_the_session_on_the_server(browser, session: Session):
    client = browser()
    login = signed_in(client, session, Role.OWNER)
    stolen = client.cookies.get("patron_session")
    client.post("/logout", headers={"X-CSRF-Token": login.csrf})
    count = session.scalar(
        select(func.count()).select_from(WebSession).where(WebSession.user_id == login.user_id)
    )
    assert count == 0
    replay = browser()
    replay.cookies.set("patron_session", stolen)
    assert replay.get("/account", headers=HTML).status_code == 303


def test_choosing_a_language_is_remembered_on_the_account(browser, session):
    client = browser()
    login = signed_in(client, session, Role.ANALYST)
    r = client.post("/locale", data={"locale": "zh_Hans", "csrf_token": login.csrf,
                                     "next": "/account"})  # fmt: skip
    assert r.status_code == 303
    assert r.headers["location"] == "/account"
    client.cookies.delete("patron_locale")  # the account remembers, not only the cookie
    page = client.get("/account", headers=HTML)
    assert '<html lang="zh-Hans">' in page.text
    assert "您的账户" in page.text
    assert "分析师" in page.text
    assert re.search(r"<option value=\"zh_Hans\"[^>]*selected", page.text)


def test_a_signed_out_visitor_can_pick_the_sign_in_language(browser, session):
    client = browser()
    r = client.post("/locale", data={"locale": "id", "next": "/login"})
    assert r.status_code == 303
    page = client.get("/login", headers=HTML)
    assert '<html lang="id">' in page.text
    assert "Masuk ke Patron" in page.text


def test_browser_language_is_the_default_before_any_choice(browser, session):
    page = browser().get("/login", headers={**HTML, "Accept-Language": "zh-CN,zh;q=0.9"})
    assert "登录 Patron" in page.text


def test_html_errors_for_pages_json_errors_for_the_api(browser, session):
    client = browser()
    page = client.get("/no-such-page", headers=HTML)
    assert page.status_code == 404
    assert "There is nothing at this address." in page.text
    api = client.get("/api/no-such-thing", headers=HTML)
    assert api.status_code == 404
    assert api.json()["error"] == "not_found"


def test_pages_send_a_strict_content_security_policy(browser, session):
    page = browser().get("/login", headers=HTML)
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "<script>" not in page.text
    assert " style=" not in page.text


def test_the_store_default_language_applies_when_the_browser_asks_for_none(browser, session):
    from patron.store import service as store_service
    from patron.store.schemas import StoreSettings

    store_service.update_settings(session, settings=StoreSettings(default_locale="zh_Hans"))
    session.commit()
    page = browser().get("/login", headers={**HTML, "Accept-Language": "fr-FR"})
    assert "登录 Patron" in page.text
