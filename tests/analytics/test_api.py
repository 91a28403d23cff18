"""The analytics API: roles, exact figures, CSV export, 4xx naming the field."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from tests.analytics.conftest import Store

Q2 = "from=2026-04-01&to=2026-07-01"


def test_roles(client: TestClient, store: Store, owner: dict[str, str], analyst: dict[str, str],
               marketer: dict[str, str], support: dict[str, str]) -> None:  # fmt: skip
    for who in (owner, analyst, marketer):
        assert client.get(f"/api/analytics/kpis?{Q2}", headers=who).status_code == 200
    assert client.get(f"/api/analytics/kpis?{Q2}", headers=support).status_code == 403
    assert client.get("/api/analytics/rfm", headers=support).status_code == 403
    assert client.get(f"/api/analytics/kpis?{Q2}").status_code == 401
    body = {"channel": "meta", "month": "2026-06", "amount": 1000}
    assert client.put("/api/analytics/spend", json=body, headers=analyst).status_code == 403
    assert client.put("/api/analytics/spend", json=body, headers=marketer).status_code == 200
    assert client.put("/api/analytics/targets/aov", json={"value": 9000},
                      headers=analyst).status_code == 403  # fmt: skip
    assert client.put("/api/analytics/targets/aov", json={"value": 9000},
                      headers=owner).status_code == 200  # fmt: skip
    assert client.post("/api/analytics/rfm/refresh", headers=analyst).status_code == 403


def test_kpis_json_and_csv(client: TestClient, store: Store, analyst: dict[str, str]) -> None:
    r = client.get(f"/api/analytics/kpis?{Q2}", headers=analyst)
    body = r.json()
    k = {x["metric"]: x for x in body["kpis"]}
    revenue = (body["currency"], k["revenue"]["value"], k["revenue"]["previous"])
    assert revenue == ("USD", 44000, 31000)
    assert k["retention_rate"]["value"] == 0.666667
    assert (k["csat"]["value"], bool(k["csat"]["reason"])) == (None, True)
    r = client.get(f"/api/analytics/kpis?{Q2}&format=csv", headers=analyst)
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == len(body["kpis"])
    assert {x["metric"]: x["value"] for x in rows}["aov"] == "7333"


def test_rfm_cohorts_breakdown(client: TestClient, store: Store, owner: dict[str, str]) -> None:
    assert client.get("/api/analytics/rfm", headers=owner).json()["computed_at"] is None
    assert client.post("/api/analytics/rfm/refresh", headers=owner).json()["customers"] == 6
    summary = client.get("/api/analytics/rfm", headers=owner).json()
    assert sum(g["customers"] for g in summary["groups"]) == 7
    csv_text = client.get("/api/analytics/rfm?format=csv", headers=owner).text
    assert csv_text.splitlines()[0].startswith("group,label,customers")
    page = client.get("/api/analytics/rfm/customers?limit=2", headers=owner).json()
    assert (len(page["items"]), page["next_cursor"]) == (2, str(page["items"][1]["customer_id"]))
    cohorts = client.get("/api/analytics/cohorts?from=2026-01&to=2026-02", headers=owner).json()
    sizes = [(c["cohort"], c["customers"]) for c in cohorts["cohorts"]]
    assert sizes == [("2026-01", 1), ("2026-02", 1)]
    r = client.get(f"/api/analytics/breakdown?by=country&{Q2}&format=csv", headers=owner)
    assert r.text.splitlines()[:2] == [
        "country,orders,revenue,revenue_share,customers,new_customers,aov,spend,cac,currency",
        "US,3,24000,0.545455,2,1,8000,,,USD",
    ]


def test_bad_input_names_the_field(client: TestClient, store: Store, owner: dict[str, str]) -> None:
    cases = [
        ("get", "/api/analytics/kpis?from=2026-13-01&to=2026-07-01", None, "from"),
        ("get", "/api/analytics/kpis?from=2026-04-01&to=soon", None, "to"),
        ("get", "/api/analytics/kpis?from=2026-04-01", None, "to"),
        ("get", "/api/analytics/kpis?from=2026-07-01&to=2026-04-01", None, "to"),
        ("get", "/api/analytics/cohorts?from=2026-1", None, "from"),
        ("get", f"/api/analytics/breakdown?by=planet&{Q2}", None, "by"),
        ("put", "/api/analytics/spend", {"channel": "x", "month": "June", "amount": 1}, "month"),
        ("put", "/api/analytics/spend", {"channel": "x", "month": "2026-06", "amount": -1},
         "amount"),
        ("put", "/api/analytics/targets/nope", {"value": 1}, "metric"),
        ("put", "/api/analytics/targets/retention_rate", {"value": 3}, "value"),
    ]  # fmt: skip
    for method, url, body, field in cases:
        r = client.request(method, url, json=body, headers=owner)
        assert (r.status_code, r.json().get("field")) == (422, field), url
    assert client.delete("/api/analytics/spend/999999", headers=owner).status_code == 404
