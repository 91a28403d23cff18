"""The dashboard at `/` and its fragments, on a small store seeded through the services.

The store's month M is the calendar month two months before today (UTC, the store's zone),
so the cohorts (the last 12 months) always hold it; L is the number of days of M.

    customer  orders (USD, 12:00 UTC; day offsets from the first of M)
    ann       M-L+9 100.00 (previous period), M+4 50.00, M+19 30.00
    bob       M+4 200.00 (new in M)
    cat       M-3L+2 40.00 (three periods back), M+9 25.00
    dan       M-L+14 60.00 (previous period only)
    eve       no orders (a prospect)

Period M (custom): 4 orders, 305.00 net, 3 customers (1 new, 2 returning); the previous
period (the L days before M): 2 orders, 160.00, ann and dan both new then.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy.orm import Session

from patron.analytics import service as analytics_service
from patron.analytics.schemas import SpendUpsert
from patron.auth.schemas import Role
from patron.customers import service as customers_service
from patron.customers.schemas import CustomerCreate
from patron.orders import service as orders_service
from patron.orders.schemas import CustomerBody, LineBody, OrderCreate
from patron.segments import service as segments_service
from patron.segments.schemas import MembersChange, SegmentCreate, SegmentKind
from patron.store import service as store_service
from patron.store.schemas import StoreSettings
from patron.web.pages import dashboard
from tests.web.conftest import HTML, signed_in

HX = {"Accept": "text/html", "HX-Request": "true"}


@pytest.fixture(autouse=True)
def _fresh_cache(session):
    dashboard.clear_cache()
    yield
    dashboard.clear_cache()


def month_m() -> tuple[date, date]:
    """(first day of M, first day of M+1): M is two months before today's month."""
    this = datetime.now(UTC).date().replace(day=1)
    m = ((this - timedelta(days=1)).replace(day=1) - timedelta(days=1)).replace(day=1)
    return m, _next_month(m)


def _next_month(d: date) -> date:
    return (d.replace(day=28) + timedelta(days=4)).replace(day=1)


def noon(d: date) -> datetime:
    return datetime.combine(d, time(12), UTC)


def _order(session: Session, email: str, n: int, when: date, amount: int) -> None:
    orders_service.create_order(
        session,
        data=OrderCreate(
            source="web",
            external_id=f"{email}-{n}",
            currency="USD",
            placed_at=noon(when),
            customer=CustomerBody(email=email),
            lines=[LineBody(sku="mug", title="Mug", quantity=1, unit_price=amount)],
        ),
    )


def seed(session: Session) -> tuple[date, date]:
    store_service.update_settings(session, settings=StoreSettings(base_currency="USD"))
    m, nxt = month_m()
    length = (nxt - m).days
    prev = m - timedelta(days=length)
    orders = [
        ("ann@shop.test", prev + timedelta(days=9), 10000),
        ("ann@shop.test", m + timedelta(days=4), 5000),
        ("ann@shop.test", m + timedelta(days=19), 3000),
        ("bob@shop.test", m + timedelta(days=4), 20000),
        ("cat@shop.test", m - timedelta(days=3 * length - 2), 4000),
        ("cat@shop.test", m + timedelta(days=9), 2500),
        ("dan@shop.test", prev + timedelta(days=14), 6000),
    ]
    for i, (email, when, amount) in enumerate(orders):
        _order(session, email, i, when, amount)
    customers_service.create(session, data=CustomerCreate(email="eve@shop.test"))
    session.commit()
    return m, nxt


def custom(m: date, nxt: date) -> str:
    return f"period=custom&from={m.isoformat()}&to={(nxt - timedelta(days=1)).isoformat()}"


def row_of(html: str, metric: str) -> str:
    found = re.search(rf'<tr data-testid="kpi-{metric}">(.*?)</tr>', html, re.S)
    assert found is not None, metric
    return found.group(1)


def cell(html: str, testid: str) -> str:
    """The text of the table cell marked `testid`, tags dropped and spaces collapsed."""
    found = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</t[dh]>', html, re.S)
    assert found is not None, testid
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


# --- access -------------------------------------------------------------------------------


def test_support_lands_on_customers_and_is_refused_the_fragments(browser, session):
    client = browser()
    signed_in(client, session, Role.SUPPORT)
    landing = client.get("/", headers=HTML)
    assert landing.status_code == 303
    assert landing.headers["location"] == "/customers"
    for path in ("/dashboard/kpis", "/dashboard/sparklines", "/dashboard/rfm",
                 "/dashboard/cohorts", "/dashboard/charts/sales.json"):  # fmt: skip
        assert client.get(path, headers=HTML).status_code == 403, path


def test_signed_out_visitors_go_to_sign_in(browser, session):
    response = browser().get("/", headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


# --- the frame ----------------------------------------------------------------------------


def test_a_store_without_orders_says_what_to_do_next(browser, session):
    owner = browser()
    signed_in(owner, session, Role.OWNER)
    page = owner.get("/", headers=HTML)
    assert page.status_code == 200
    assert 'data-testid="dashboard-empty"' in page.text
    assert "patron import orders orders.csv" in page.text
    assert "patron connect shopify" in page.text
    assert "/v1/batch" in page.text
    assert 'href="/settings"' in page.text.split('data-testid="dashboard-empty"')[1]
    assert "hx-get=" not in page.text  # nothing to compute
    analyst = browser()
    signed_in(analyst, session, Role.ANALYST)
    page = analyst.get("/", headers=HTML)
    assert 'data-testid="dashboard-empty"' in page.text
    assert 'data-testid="empty-settings"' not in page.text  # analysts may not open settings


def test_the_frame_loads_every_heavy_part_as_a_fragment(browser, session):
    m, nxt = seed(session)
    client = browser()
    signed_in(client, session, Role.MARKETER)
    page = client.get("/?" + custom(m, nxt), headers=HTML)
    assert page.status_code == 200
    q = custom(m, nxt).replace("&", "&amp;")
    assert f'hx-get="/dashboard/kpis?{q}" hx-trigger="load"' in page.text
    assert 'hx-get="/dashboard/rfm" hx-trigger="load"' in page.text
    assert 'hx-get="/dashboard/cohorts" hx-trigger="load"' in page.text
    assert f'data-chart="/dashboard/charts/sales.json?{q}"' in page.text
    assert f'data-chart="/dashboard/charts/customers.json?{q}"' in page.text
    assert 'data-testid="kpi-table"' not in page.text
    assert 'data-testid="dashboard-empty"' not in page.text
    assert re.search(r'<option value="custom" selected>Custom</option>', page.text)
    assert f'value="{m.isoformat()}"' in page.text
    days = (nxt - m).days
    assert f"compared with the {days} days before." in page.text
    assert "(UTC)" in page.text


def test_a_bad_custom_period_names_the_field(browser, session):
    seed(session)
    client = browser()
    signed_in(client, session, Role.ANALYST)
    page = client.get("/?period=custom&from=2026-03-10&to=2026-03-01", headers=HTML)
    assert page.status_code == 422
    assert 'id="to-error"' in page.text
    assert "Enter an end date on or after the start date" in page.text
    assert 'id="to" name="to" type="date" value="2026-03-01"' in page.text
    assert 'hx-get="/dashboard/kpis' not in page.text
    page = client.get("/?period=custom&from=soon&to=2026-03-01", headers=HTML)
    assert page.status_code == 422
    assert 'id="from-error"' in page.text
    assert client.get("/dashboard/kpis?period=forever", headers=HX).status_code == 422


def test_presets_end_today_in_the_store_time_zone():
    today = date(2026, 5, 14)
    assert dashboard.preset_bounds("last_30", today) == (date(2026, 4, 15), date(2026, 5, 15))
    assert dashboard.preset_bounds("last_90", today) == (date(2026, 2, 14), date(2026, 5, 15))
    assert dashboard.preset_bounds("this_quarter", today) == (date(2026, 4, 1), date(2026, 5, 15))
    assert dashboard.preset_bounds("last_quarter", today) == (date(2026, 1, 1), date(2026, 4, 1))
    assert dashboard.preset_bounds("ytd", today) == (date(2026, 1, 1), date(2026, 5, 15))
    assert dashboard.preset_bounds("last_quarter", date(2026, 2, 1)) == (
        date(2025, 10, 1),
        date(2026, 1, 1),
    )
    choice = dashboard.choose(None, "2026-03-01", "2026-03-31", today)
    assert (choice.preset, choice.start, choice.end) == (
        "custom",
        date(2026, 3, 1),
        date(2026, 4, 1),
    )


def test_the_store_time_zone_decides_what_today_is(session):
    # at any moment one of UTC+14 and UTC-11 is on another date than UTC
    utc_today = datetime.now(UTC).date()
    for name in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
        local = datetime.now(UTC).astimezone(dashboard.ZoneInfo(name)).date()
        if local != utc_today:
            break
    assert local != utc_today
    store_service.update_settings(session, settings=StoreSettings(timezone=name))
    session.commit()
    assert dashboard.today_in_store(session) == local


# --- the KPI table and sparklines --------------------------------------------------------


def test_the_kpi_table_shows_every_metric_formatted_with_trends_and_targets(browser, session):
    m, nxt = seed(session)
    analytics_service.set_target(session, metric="revenue", value=50000)
    analytics_service.set_target(session, metric="orders", value=3)
    session.commit()
    client = browser()
    signed_in(client, session, Role.ANALYST)
    response = client.get("/dashboard/kpis?" + custom(m, nxt), headers=HX)
    assert response.status_code == 200
    html = response.text
    assert "<html" not in html  # a fragment
    assert html.count('<tr data-testid="kpi-') == len(analytics_service.METRIC_KEYS) == 22
    assert cell(html, "kpi-value-revenue") == "$305.00"
    assert cell(html, "kpi-previous-revenue") == "$160.00"
    assert cell(html, "kpi-trend-revenue") == "▲ +90.6% Up, better"
    assert 'class="num trend-good" data-testid="kpi-trend-revenue"' in html
    assert cell(html, "kpi-target-revenue") == "$500.00 not met"
    assert cell(html, "kpi-value-orders") == "4"
    assert cell(html, "kpi-target-orders") == "3 met"
    assert cell(html, "kpi-value-aov") == "$76.25"
    assert cell(html, "kpi-value-new_customers") == "1"
    assert cell(html, "kpi-previous-new_customers") == "2"
    assert cell(html, "kpi-trend-new_customers") == "▼ −50.0% Down, worse"
    assert 'class="num trend-bad" data-testid="kpi-trend-new_customers"' in html
    assert cell(html, "kpi-value-returning_customers") == "2"
    assert cell(html, "kpi-value-retention_rate") == "50.0%"
    # churn going from nothing to 50 % has no trend; lower churn is better
    assert cell(html, "kpi-value-churn_rate") == "50.0%"
    assert cell(html, "kpi-value-csat") == (
        "no survey responses: CSAT is fed by support's satisfaction surveys (not built yet)"
    ).replace("'", "&#39;")
    assert 'class="kpi-reason muted" data-testid="kpi-value-csat"' in html
    assert 'id="spark-revenue"' in html
    q = custom(m, nxt).replace("&", "&amp;")
    assert f'hx-get="/dashboard/sparklines?{q}" hx-trigger="load" hx-swap="none"' in html
    assert "Server-Timing" in response.headers
    assert 'desc="miss"' in response.headers["server-timing"]


def test_lower_is_better_metrics_colour_a_fall_green(browser, session):
    m, nxt = seed(session)
    before = (m - timedelta(days=1)).replace(day=1)
    days_before = (m - before).days
    analytics_service.set_spend(
        session, data=SpendUpsert(channel="ads", month=m.strftime("%Y-%m"), amount=10000)
    )
    analytics_service.set_spend(
        session,
        data=SpendUpsert(channel="ads", month=before.strftime("%Y-%m"), amount=days_before * 1000),
    )
    session.commit()
    client = browser()
    signed_in(client, session, Role.ANALYST)
    html = client.get("/dashboard/kpis?" + custom(m, nxt), headers=HX).text
    # CAC in M: 100.00 for bob; before: the previous period's share of the month before
    # (1,000 a day) for ann and dan
    overlap = min((nxt - m).days, days_before)
    assert cell(html, "kpi-value-cac") == "$100.00"
    assert cell(html, "kpi-previous-cac") == f"${overlap * 500 / 100:.2f}"
    assert cell(html, "kpi-trend-cac").startswith("▼ −")
    assert cell(html, "kpi-trend-cac").endswith("Down, better")
    assert 'class="num trend-good" data-testid="kpi-trend-cac"' in html
    # spend has no better direction: neither green nor red
    assert 'class="num trend-flat" data-testid="kpi-trend-marketing_spend"' in html


def test_a_period_without_orders_shows_reasons_and_falls(browser, session):
    m, nxt = seed(session)
    client = browser()
    signed_in(client, session, Role.ANALYST)
    last = nxt + timedelta(days=(nxt - m).days - 1)  # as long as M: the previous period is M
    q = f"period=custom&from={nxt.isoformat()}&to={last.isoformat()}"
    html = client.get("/dashboard/kpis?" + q, headers=HX).text
    assert cell(html, "kpi-value-aov") == "no orders in the period"
    assert cell(html, "kpi-previous-aov") == "$76.25"
    assert cell(html, "kpi-value-revenue") == "$0.00"
    assert cell(html, "kpi-trend-revenue") == "▼ −100.0% Down, worse"
    assert cell(html, "kpi-value-churn_rate") == "100.0%"
    assert cell(html, "kpi-trend-churn_rate") == "▲ +100.0% Up, worse"
    assert 'class="num trend-bad" data-testid="kpi-trend-churn_rate"' in html


def test_sparklines_cover_six_periods_and_repeat_views_come_from_the_cache(browser, session):
    m, nxt = seed(session)
    client = browser()
    signed_in(client, session, Role.ANALYST)
    first = client.get("/dashboard/sparklines?" + custom(m, nxt), headers=HX)
    assert first.status_code == 200
    html = first.text
    assert html.count('hx-swap-oob="true"') == 22
    revenue = re.search(r'data-spark="([^"]*)"[^>]*data-testid="spark-revenue"', html)
    assert revenue is not None
    assert revenue.group(1) == "0,0,4000,0,16000,30500"
    orders = re.search(r'data-spark="([^"]*)"[^>]*data-testid="spark-orders"', html)
    assert orders is not None
    assert orders.group(1) == "0,0,1,0,2,4"
    assert 'aria-label="Last 6 periods: $0.00, $0.00, $40.00, $0.00, $160.00, $305.00"' in html
    assert 'data-testid="spark-csat"' not in html  # no values, nothing to draw
    assert 'desc="miss"' in first.headers["server-timing"]
    # a new order is not seen while the report is cached (a few minutes), then it is
    _order(session, "zed@shop.test", 99, m + timedelta(days=1), 1000)
    session.commit()
    again = client.get("/dashboard/sparklines?" + custom(m, nxt), headers=HX)
    assert 'desc="hit"' in again.headers["server-timing"]
    assert "0,0,4000,0,16000,30500" in again.text
    dashboard.clear_cache()
    fresh = client.get("/dashboard/kpis?" + custom(m, nxt), headers=HX)
    assert cell(fresh.text, "kpi-value-revenue") == "$315.00"


# --- charts -------------------------------------------------------------------------------


def test_sales_and_customer_charts_per_day(browser, session):
    m, nxt = seed(session)
    client = browser()
    signed_in(client, session, Role.MARKETER)
    sales = client.get("/dashboard/charts/sales.json?" + custom(m, nxt))
    assert sales.status_code == 200
    spec = sales.json()
    days = (nxt - m).days
    assert spec["type"] == "bar"
    assert len(spec["data"]["labels"]) == days
    assert spec["data"]["labels"][4] == f"{m.strftime('%b')} 5"
    revenue, orders = spec["data"]["datasets"]
    assert revenue["label"] == "Revenue (USD)"
    expected = [0.0] * days
    expected[4], expected[9], expected[19] = 250.0, 25.0, 30.0
    assert revenue["data"] == expected
    assert orders["type"] == "line"
    assert sum(orders["data"]) == 4
    assert orders["data"][4] == 2
    people = client.get("/dashboard/charts/customers.json?" + custom(m, nxt)).json()
    new, returning = people["data"]["datasets"]
    assert (new["label"], returning["label"]) == ("New customers", "Returning customers")
    assert [(i, n) for i, n in enumerate(new["data"]) if n] == [(4, 1)]
    assert [(i, n) for i, n in enumerate(returning["data"]) if n] == [(4, 1), (9, 1), (19, 1)]


def test_long_periods_are_charted_per_week_or_month(browser, session):
    seed(session)
    client = browser()
    signed_in(client, session, Role.ANALYST)
    weeks = client.get("/dashboard/charts/sales.json?period=custom&from=2026-01-01&to=2026-03-31")
    labels = weeks.json()["data"]["labels"]
    # Thu 1 Jan, then every Monday: 5 Jan ... 30 Mar
    assert labels[:3] == ["Jan 1", "Jan 5", "Jan 12"]
    assert labels[-1] == "Mar 30"
    assert len(labels) == 14
    months = client.get("/dashboard/charts/sales.json?period=custom&from=2024-01-01&to=2025-12-31")
    assert months.json()["data"]["labels"][:2] == ["Jan 2024", "Feb 2024"]
    assert len(months.json()["data"]["labels"]) == 24


def test_chart_days_are_store_local_days(browser, session):
    store_service.update_settings(
        session, settings=StoreSettings(base_currency="USD", timezone="Asia/Jakarta")
    )
    orders_service.create_order(
        session,
        data=OrderCreate(
            source="web",
            external_id="late",
            currency="USD",
            placed_at=datetime(2026, 3, 4, 18, 30, tzinfo=UTC),  # 01:30 on 5 March in Jakarta
            customer=CustomerBody(email="night@shop.test"),
            lines=[LineBody(sku="mug", title="Mug", quantity=2, unit_price=1250)],
        ),
    )
    session.commit()
    client = browser()
    signed_in(client, session, Role.ANALYST)
    spec = client.get(
        "/dashboard/charts/sales.json?period=custom&from=2026-03-01&to=2026-03-07"
    ).json()
    assert spec["data"]["labels"] == [f"Mar {d}" for d in range(1, 8)]
    assert spec["data"]["datasets"][0]["data"] == [0.0, 0.0, 0.0, 0.0, 25.0, 0.0, 0.0]
    people = client.get(
        "/dashboard/charts/customers.json?period=custom&from=2026-03-01&to=2026-03-07"
    ).json()
    assert people["data"]["datasets"][0]["data"] == [0, 0, 0, 0, 1, 0, 0]


# --- RFM, cohorts, segments ---------------------------------------------------------------


def test_rfm_grid_links_each_group_to_its_customers(browser, session):
    seed(session)
    analytics_service.refresh_rfm(session)
    session.commit()
    client = browser()
    signed_in(client, session, Role.ANALYST)
    html = client.get("/dashboard/rfm", headers=HX).text
    assert html.count('class="rfm-cell') == 10
    for key in ("champions", "at_risk", "previously_loyal", "prospects"):
        assert f'href="/customers?rfm={key}" data-testid="rfm-{key}"' in html
    # quintile scores of 4 buyers (R: dan 1, bob 2, cat 3, ann 4; F: bob and dan 1, cat 3,
    # ann 4; M: dan 1, cat 2, ann 3, bob 4): ann R4 FM4 loyal, bob R2 FM3 at risk,
    # cat R3 FM3 needs attention, dan R1 FM1 dormant; eve has no order (a prospect)
    counts = {k: int(v) for k, v in re.findall(r'data-testid="rfm-count-(\w+)">(\d+)<', html)}
    assert {k: n for k, n in counts.items() if n} == {
        "loyal": 1, "at_risk": 1, "needs_attention": 1, "dormant": 1, "prospects": 1,
    }  # fmt: skip
    assert len(counts) == 11
    revenue = dict(re.findall(r'data-testid="rfm-revenue-(\w+)">([^<]+)<', html))
    assert {k: v for k, v in revenue.items() if v != "$0.00"} == {
        "loyal": "$180.00", "at_risk": "$200.00", "needs_attention": "$65.00",
        "dormant": "$60.00",
    }  # fmt: skip
    assert 'class="rfm-cell rfm-loyal heat-10"' in html
    assert 'class="rfm-cell rfm-champions heat-0"' in html
    assert "Scores as of" in html


def test_rfm_before_the_first_refresh_says_how_to_compute_it(browser, session):
    seed(session)
    client = browser()
    signed_in(client, session, Role.ANALYST)
    html = client.get("/dashboard/rfm", headers=HX).text
    assert "patron rfm --refresh" in html
    assert 'data-testid="rfm-count-prospects">5<' in html  # nobody scored yet


def test_cohort_heatmap(browser, session):
    m, nxt = seed(session)
    client = browser()
    signed_in(client, session, Role.ANALYST)
    html = client.get("/dashboard/cohorts", headers=HX).text
    assert html.count('<tr data-testid="cohort-') == 12
    before = (m - timedelta(days=1)).strftime("%Y-%m")  # ann and dan
    row = re.search(rf'<tr data-testid="cohort-{before}">(.*?)</tr>', html, re.S)
    assert row is not None
    cells = re.findall(r'class="num heat-(\d+)" data-testid="[^"]+">([^<]+)<', row.group(1))
    # later months are shaded against the best later month: cat's cohort, 100 % back in M
    assert cells[:3] == [("10", "100.0%"), ("5", "50.0%"), ("0", "0.0%")]
    assert re.search(r"<td class=\"num\">2</td>", row.group(1))
    mine = re.search(rf'<tr data-testid="cohort-{m.strftime("%Y-%m")}">(.*?)</tr>', html, re.S)
    assert mine is not None
    assert re.findall(r">([\d.]+%)<", mine.group(1))[:2] == ["100.0%", "0.0%"]  # bob


def test_top_segments_are_the_five_largest(browser, session):
    seed(session)
    ids = {}
    emails = ["ann@shop.test", "bob@shop.test", "cat@shop.test", "dan@shop.test", "eve@shop.test"]
    for size, name in enumerate(["Zero", "One", "Two", "Three", "Four", "Five"]):
        seg = segments_service.create(
            session, data=SegmentCreate(name=name, kind=SegmentKind.STATIC)
        )
        ids[name] = seg.id
        if size:
            segments_service.add_members(
                session, segment_id=seg.id, change=MembersChange(emails=emails[: min(size, 5)])
            )
    session.commit()
    client = browser()
    signed_in(client, session, Role.MARKETER)
    html = client.get("/", headers=HTML).text
    table = html.split('data-testid="top-segments"')[1].split("</table>")[0]
    shown = re.findall(r'<a href="/segments/(\d+)">(\w+)</a></td><td class="num">(\d+)<', table)
    assert shown == [
        (str(ids["Five"]), "Five", "5"),
        (str(ids["Four"]), "Four", "4"),
        (str(ids["Three"]), "Three", "3"),
        (str(ids["Two"]), "Two", "2"),
        (str(ids["One"]), "One", "1"),
    ]


# --- languages ----------------------------------------------------------------------------


def test_the_dashboard_in_indonesian_and_chinese(browser, session):
    m, nxt = seed(session)
    client = browser()
    signed_in(client, session, Role.ANALYST, locale="id")
    page = client.get("/?" + custom(m, nxt), headers=HTML)
    assert '<html lang="id">' in page.text
    assert "<h1>Dasbor</h1>" in page.text
    html = client.get("/dashboard/kpis?" + custom(m, nxt), headers=HX).text
    assert cell(html, "kpi-value-revenue") == "US$305,00"
    assert "Pendapatan (bersih)" in html
    assert cell(html, "kpi-value-retention_rate") == "50,0%"
    sales = client.get("/dashboard/charts/sales.json?" + custom(m, nxt)).json()
    assert sales["data"]["datasets"][1]["label"] == "Pesanan"
    other = browser()
    signed_in(other, session, Role.OWNER, locale="zh_Hans")
    html = other.get("/dashboard/kpis?" + custom(m, nxt), headers=HX).text
    assert "净收入" in html
    assert cell(html, "kpi-value-revenue") == "US$305.00"
