"""The web app as a person uses it: real Chromium (Debian's, driven by Playwright), a real
`patron serve` process on a real database of each backend, built by `patron demo`.

Screenshots of the main pages in every language go to test-artifacts/screenshots/ (CI
keeps the folder; look at them). Chromium is never downloaded: the tests launch
/usr/bin/chromium. Where it is missing they are skipped with the reason, except under
PATRON_REQUIRE_BROWSER=1 (set by .ci/run), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import expect
from sqlalchemy.pool import NullPool

from tests.conftest import (
    BACKENDS,
    PATRON,
    drop_database,
    free_port,
    new_database_url,
    run_patron,
)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(os.environ.get("PATRON_SCREENSHOTS", "test-artifacts/screenshots"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
pytestmark = pytest.mark.slow


def _need_browser() -> None:
    if Path(CHROMIUM).exists():
        return
    reason = "Debian's chromium is not installed (apt-get install chromium fonts-noto-cjk)"
    if os.environ.get("PATRON_REQUIRE_BROWSER"):
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass
class Store:
    backend: str
    url: str
    base: str
    email: str
    password: str
    api_key: str
    cwd: Path

    def row(self, sql: str) -> tuple[Any, ...]:
        """One row read straight from the store's database (the independent answer)."""
        engine = sa.create_engine(self.url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                return tuple(conn.execute(sa.text(sql)).one())
        finally:
            engine.dispose()

    def scalar(self, sql: str) -> Any:
        return self.row(sql)[0]


@pytest.fixture(scope="module", params=BACKENDS)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    _need_browser()
    backend = str(request.param)
    cwd = tmp_path_factory.mktemp(f"web-{backend}")
    url = new_database_url(backend, cwd)
    for args in (("init",), ("demo", "--customers", "400", "--seed", "7"),
                 ("worker", "--burst")):  # fmt: skip
        done = run_patron(url, *args, cwd=cwd, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
    creds = dict(
        line.split(": ", 1)
        for line in (cwd / "patron-credentials.txt").read_text().splitlines()
        if ": " in line
    )
    port = free_port()
    env = {**os.environ, "PATRON_DATABASE_URL": url}
    log = (cwd / "serve.log").open("wb")
    server = subprocess.Popen(
        [PATRON, "serve", "--port", str(port), "--no-worker"], cwd=cwd, env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise AssertionError("patron serve did not start")
        yield Store(backend, url, base, creds["admin login"], creds["password"],
                    creds["API key (owner)"], cwd)  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        drop_database(url)


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, store: Store):  # type: ignore[no-untyped-def]
    context = chromium.new_context(viewport={"width": 1360, "height": 900}, locale="en-US")
    pg = context.new_page()
    pg.set_default_timeout(15000)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" and not m.text
          .startswith("Failed to load resource") else None)  # fmt: skip
    # A page's own status is each test's business (a 401 or 403 page can be right); a failed
    # script, stylesheet, fragment or chart request never is.
    pg.on("response", lambda r: errors.append(f"{r.status} {r.url}")
          if r.status >= 400 and r.request.resource_type != "document" else None)  # fmt: skip
    yield pg
    context.close()
    assert errors == [], errors  # no script errors and no CSP violations on any page


def shot(page, store: Store, name: str) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{store.backend}-{name}.png"), full_page=True)


def sign_in(page, store: Store, email: str | None = None, password: str | None = None) -> None:  # type: ignore[no-untyped-def]
    page.goto(store.base + "/login")
    page.get_by_label("Email").fill(email or store.email)
    page.get_by_label("Password").fill(password or store.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")


def test_sign_in_page_and_a_wrong_password(page, store):
    page.goto(store.base + "/")
    assert page.url == store.base + "/login"
    shot(page, store, "en-signin")
    page.get_by_label("Email").fill(store.email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "Email or password is wrong."


def test_switching_language_translates_the_page_and_is_remembered(page, store):
    sign_in(page, store)
    page.goto(store.base + "/account")
    with page.expect_navigation():  # the select submits its form: wait for the new page
        page.get_by_label("Language").select_option("id")
    assert page.locator("h1").inner_text() == "Akun Anda"
    assert page.locator("html").get_attribute("lang") == "id"
    page.reload()
    assert page.locator("h1").inner_text() == "Akun Anda"
    with page.expect_navigation():  # the select submits its form: wait for the new page
        page.get_by_label("Bahasa").select_option("zh_Hans")
    assert page.locator("h1").inner_text() == "您的账户"
    shot(page, store, "zh_Hans-account")
    with page.expect_navigation():  # the select submits its form: wait for the new page
        page.get_by_label("语言").select_option("en")
    assert page.locator("h1").inner_text() == "Your account"


def test_keyboard_reaches_the_skip_link_first(page, store):
    sign_in(page, store)
    page.goto(store.base + "/account")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "Skip to content"


def _number(text: str) -> int:
    return int(re.sub(r"[^\d]", "", text))


def _grouped(n: int) -> str:
    """n as English pages show it: 1,234."""
    return f"{n:,}"


def test_an_owner_reads_the_store_finds_a_customer_builds_a_segment_and_manages_keys(page, store):
    sign_in(page, store)
    # The dashboard: KPIs and the RFM grid, as computed by the worker's jobs.
    assert page.url == store.base + "/"
    page.get_by_test_id("kpi-value-revenue").wait_for()
    champions = store.scalar("SELECT count(*) FROM rfm_scores WHERE rfm_group = 'champions'")
    assert _number(page.get_by_test_id("rfm-count-champions").inner_text()) == champions
    page.wait_for_load_state("networkidle")
    shot(page, store, "en-dashboard")

    # Customers: search by email, open the 360.
    email, name = store.row(
        "SELECT email, first_name FROM customers WHERE merged_into_id IS NULL "
        "AND email IS NOT NULL ORDER BY total_spent DESC, id LIMIT 1"
    )
    page.get_by_role("link", name="Customers", exact=True).click()
    page.get_by_test_id("customer-search").fill(email)
    rows = page.get_by_test_id("customer-table").locator("tbody tr")
    expect(rows).to_have_count(1)  # the search box waits 300 ms after typing, then swaps
    shot(page, store, "en-customers")
    rows.first.get_by_role("link").first.click()
    page.wait_for_load_state("networkidle")
    assert email in page.locator("main").inner_text()
    shot(page, store, "en-customer-360")

    # Segments: the builder counts as you type.
    expected = store.scalar(
        "SELECT count(*) FROM customers WHERE merged_into_id IS NULL AND orders_count >= 2"
    )
    page.goto(store.base + "/segments/new")
    page.get_by_test_id("segment-name").fill("Bought twice (browser test)")
    page.get_by_test_id("segment-query").fill("orders_count >= 2")
    count = page.get_by_test_id("preview-count")
    expect(count).to_have_text(re.compile(rf"^\D*{_grouped(expected)}\D*$"))
    shot(page, store, "en-segment-builder")
    page.get_by_test_id("segment-query").fill("orders_count >= ")
    page.get_by_test_id("form-error").wait_for()
    page.get_by_test_id("segment-query").fill("orders_count >= 2")
    count.wait_for()
    page.get_by_test_id("save-segment").click()
    page.wait_for_load_state("networkidle")
    assert re.search(r"/segments/\d+$", page.url), page.url
    shot(page, store, "en-segment")

    # Settings: an API key is shown once, works, and stops working when revoked.
    page.goto(store.base + "/settings/keys")
    form = page.get_by_test_id("new-api-key-form")
    form.get_by_label("Name").fill("browser-test")
    form.get_by_label("Role").select_option("analyst")
    page.get_by_test_id("create-api-key").click()
    secret = page.get_by_test_id("new-key-secret").inner_text().strip()
    assert secret.startswith("pk_")
    shot(page, store, "en-settings-new-key")
    api = httpx.get(store.base + "/api/customers?limit=1",
                    headers={"Authorization": f"Bearer {secret}"})  # fmt: skip
    assert api.status_code == 200
    page.goto(store.base + "/settings/keys")
    row = page.get_by_test_id("key-row").filter(has_text="browser-test")
    row.get_by_test_id("revoke-key").click()
    page.get_by_test_id("confirm-revoke").click()
    page.wait_for_load_state("networkidle")
    statuses = []
    bearer = {"Authorization": f"Bearer {secret}"}
    for _ in range(40):  # other server processes may hold the verified key for up to 5 s
        statuses.append(
            httpx.get(store.base + "/api/customers?limit=1", headers=bearer).status_code
        )
        if statuses[-1] == 401:
            break
        time.sleep(0.25)
    assert statuses[-1] == 401


PAGES = ["/", "/customers", "/segments", "/settings", "/settings/keys"]


@pytest.mark.parametrize("locale", ["id", "zh_Hans"])
def test_every_main_page_in_each_language(page, store, locale):
    nav = {"id": ("Dasbor", "Pelanggan", "Segmen", "Pengaturan"),
           "zh_Hans": ("仪表板", "客户", "客户分群", "设置")}[locale]  # fmt: skip
    sign_in(page, store)
    page.goto(store.base + "/account")
    with page.expect_navigation():  # the select submits its form: wait for the new page
        page.locator("#locale-select").select_option(locale)
    assert page.locator("header nav").inner_text().split() == list(nav)
    customer = store.scalar(
        "SELECT id FROM customers WHERE merged_into_id IS NULL ORDER BY total_spent DESC LIMIT 1"
    )
    segment = store.scalar("SELECT id FROM segments ORDER BY id LIMIT 1")
    for path in [*PAGES, f"/customers/{customer}", f"/segments/{segment}", "/segments/new"]:
        page.goto(store.base + path)
        page.wait_for_load_state("networkidle")
        assert page.locator("html").get_attribute("lang") == locale.replace("_", "-")
        assert page.locator("h1").first.inner_text().strip() != ""
        name = path.strip("/").replace("/", "-") or "dashboard"
        shot(page, store, f"{locale}-{name}")
    with page.expect_navigation():  # the select submits its form: wait for the new page
        page.locator("#locale-select").select_option("en")


def test_a_support_agent_is_refused_settings_and_does_not_see_them(page, store):
    password = "support-password-1"
    done = run_patron(store.url, "users", "create", "--email", "agent@shop.test", "--role",
                      "support", "--password", password, cwd=store.cwd)  # fmt: skip
    assert done.returncode == 0, done.stderr
    sign_in(page, store, "agent@shop.test", password)
    assert page.url == store.base + "/customers"  # no dashboard for support: their start page
    assert page.locator("header nav").inner_text().split() == ["Customers"]
    response = page.goto(store.base + "/settings")
    assert response is not None
    assert response.status == 403
    assert page.locator("h1").inner_text() == "You do not have access to this page"
    shot(page, store, "en-support-refused")


AXE = Path(__file__).parent / "vendor" / "axe" / "axe.min.js"  # axe-core, see VENDOR.txt
AUDITED = ["/", "/customers", "/segments", "/segments/new", "/settings", "/settings/users",
           "/settings/keys", "/settings/targets", "/settings/spend", "/account"]  # fmt: skip


def _audit(page) -> list[str]:  # type: ignore[no-untyped-def]
    """axe-core's WCAG 2 A and AA rules on the page as it is now: one line per failing
    element (rule, impact, the element's selector)."""
    page.evaluate(AXE.read_text())
    found = page.evaluate(
        """async () => {
            const r = await axe.run(document, {runOnly: {type: "tag",
                values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}});
            return r.violations.flatMap(v => v.nodes.map(
                n => `${v.id} (${v.impact}): ${n.target.join(" ")}`));
        }"""
    )
    return list(found)


@pytest.mark.parametrize("locale", ["en", "zh_Hans"])
def test_main_pages_pass_an_accessibility_audit(chromium, store, locale):
    # axe is evaluated into the page, which the pages' own CSP would refuse: this context
    # bypasses it (the CSP itself is checked by every other test here)
    context = chromium.new_context(viewport={"width": 1360, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    try:
        page.goto(store.base + "/login")
        problems = {"/login": _audit(page)}
        sign_in(page, store)
        if locale != "en":
            page.goto(store.base + "/account")
            with page.expect_navigation():
                page.locator("#locale-select").select_option(locale)
        customer = store.scalar(
            "SELECT id FROM customers WHERE merged_into_id IS NULL ORDER BY total_spent DESC"
            " LIMIT 1"
        )
        segment = store.scalar("SELECT id FROM segments ORDER BY id LIMIT 1")
        for path in [*AUDITED, f"/customers/{customer}", f"/segments/{segment}"]:
            page.goto(store.base + path)
            page.wait_for_load_state("networkidle")
            problems[path] = _audit(page)
        if locale != "en":
            page.goto(store.base + "/account")
            with page.expect_navigation():
                page.locator("#locale-select").select_option("en")
    finally:
        context.close()
    assert {p: v for p, v in problems.items() if v} == {}
