"""Segments over HTTP: roles, CRUD, preview, members, refresh, static lists, CSV."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.segments.conftest import EXAMPLE, Store


def test_roles(
    client: TestClient,
    store: Store,
    owner: dict[str, str],
    marketer: dict[str, str],
    analyst: dict[str, str],
    support: dict[str, str],
) -> None:
    body = {"name": "Buyers", "query": "orders_count >= 1"}
    assert client.post("/api/segments", json=body).status_code == 401
    denied = client.post("/api/segments", json=body, headers=analyst)
    assert (denied.status_code, denied.json()["message"]) == (
        403,
        "role analyst may not do this (needs segments:write)",
    )
    assert client.get("/api/segments", headers=support).status_code == 403
    assert (
        client.post(
            "/api/segments/preview", json={"query": "orders_count >= 1"}, headers=support
        ).status_code
        == 403
    )
    made = client.post("/api/segments?refresh=true", json=body, headers=marketer)
    assert made.status_code == 201, made.text
    sid = made.json()["id"]
    assert made.json()["member_count"] == 7
    owned = client.post("/api/segments", json={"name": "Press", "kind": "static"}, headers=owner)
    assert owned.status_code == 201
    listed = client.get("/api/segments", headers=analyst)
    assert [s["name"] for s in listed.json()["items"]] == ["VIP", "Buyers", "Press"]
    assert client.get(f"/api/segments/{sid}/members", headers=analyst).status_code == 200
    assert client.get(f"/api/segments/{sid}/members.csv", headers=analyst).status_code == 200
    assert client.get(f"/api/segments/{sid}/members.csv", headers=support).status_code == 403
    assert client.post(f"/api/segments/{sid}/refresh", headers=analyst).status_code == 403
    assert client.delete(f"/api/segments/{sid}", headers=analyst).status_code == 403
    assert client.delete(f"/api/segments/{sid}", headers=marketer).status_code == 204
    assert client.get(f"/api/segments/{sid}", headers=analyst).status_code == 404


def test_preview_and_errors(client: TestClient, store: Store, analyst: dict[str, str]) -> None:
    got = client.post(
        "/api/segments/preview", json={"query": EXAMPLE, "sample": 5}, headers=analyst
    )
    assert got.status_code == 200, got.text
    body = got.json()
    assert (body["count"], [m["email"] for m in body["sample"]], body["time_based"]) == (
        1,
        ["ann@example.com"],
        True,
    )
    bad = client.post(
        "/api/segments/preview", json={"query": "orders_count >= 2 AND"}, headers=analyst
    )
    assert bad.status_code == 422
    assert bad.json() == {
        "error": "invalid",
        "message": "expected a condition (a field like orders_count, or did(...)), found the "
        "end of the query (at column 22)",
        "field": "query",
        "position": 22,
        "expected": "a condition (a field like orders_count, or did(...))",
    }
    empty = client.post("/api/segments/preview", json={"query": ""}, headers=analyst)
    assert (empty.status_code, empty.json()["field"]) == (422, "query")


def test_crud_members_refresh_and_csv(
    client: TestClient, store: Store, marketer: dict[str, str]
) -> None:
    made = client.post(
        "/api/segments", json={"name": "Lapsing", "query": "last_order_at < -60d"}, headers=marketer
    )
    assert (made.status_code, made.json()["member_count"], made.json()["time_based"]) == (
        201,
        0,
        True,
    )
    sid = made.json()["id"]
    dup = client.post(
        "/api/segments", json={"name": "Lapsing", "query": "orders_count > 1"}, headers=marketer
    )
    assert (dup.status_code, dup.json()["field"]) == (409, "name")
    ran = client.post(f"/api/segments/{sid}/refresh", headers=marketer)
    assert ran.status_code == 200, ran.text
    assert {k: ran.json()[k] for k in ("mode", "entered", "exited", "members")} == {
        "mode": "full",
        "entered": 5,
        "exited": 0,
        "members": 5,
    }
    page = client.get(f"/api/segments/{sid}/members?limit=2", headers=marketer).json()
    assert [m["email"] for m in page["items"]] == ["ann@example.com", "bob@example.com"]
    nxt = client.get(
        f"/api/segments/{sid}/members?limit=10&cursor={page['next_cursor']}", headers=marketer
    ).json()
    assert [m["email"] for m in nxt["items"]] == [
        "dan@example.com",
        "eve@example.com",
        "fay@example.com",
    ]
    assert nxt["next_cursor"] is None
    csv_text = client.get(f"/api/segments/{sid}/members.csv", headers=marketer).text
    assert len(csv_text.splitlines()) == 6
    patched = client.patch(
        f"/api/segments/{sid}?refresh=true",
        json={"query": "last_order_at < -80d"},
        headers=marketer,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["member_count"] == 2
    hist = client.get(f"/api/segments/{sid}/history", headers=marketer).json()
    assert sorted((h["customer_id"], h["exited_at"] is None) for h in hist) == sorted(
        [(store.ids[n], True) for n in ("ann", "dan")]
        + [(store.ids[n], False) for n in ("bob", "eve", "fay")]
    )
    bad = client.patch(f"/api/segments/{sid}", json={"query": "last_order_at <"}, headers=marketer)
    assert (bad.status_code, bad.json()["position"]) == (422, 16)
    wrong_mode = client.post(f"/api/segments/{sid}/refresh?mode=fast", headers=marketer)
    assert (wrong_mode.status_code, wrong_mode.json()["field"]) == (422, "mode")


def test_static_list_over_http(client: TestClient, store: Store, marketer: dict[str, str]) -> None:
    sid = client.post(
        "/api/segments", json={"name": "Press", "kind": "static"}, headers=marketer
    ).json()["id"]
    added = client.post(
        f"/api/segments/{sid}/members",
        json={"emails": ["ann@example.com", "zed@example.com"]},
        headers=marketer,
    )
    assert added.json() == {
        "added": 1,
        "removed": 0,
        "unchanged": 0,
        "not_found": ["zed@example.com"],
        "not_found_count": 1,
    }
    imported = client.post(
        f"/api/segments/{sid}/import",
        content=f"customer_id\n{store.ids['bob']}\n{store.ids['ann']}\n",
        headers={**marketer, "Content-Type": "text/csv"},
    )
    assert (imported.status_code, imported.json()["added"], imported.json()["unchanged"]) == (
        200,
        1,
        1,
    )
    removed = client.post(
        f"/api/segments/{sid}/members/remove",
        json={"customer_ids": [store.ids["ann"]]},
        headers=marketer,
    )
    assert removed.json()["removed"] == 1
    assert client.get(f"/api/segments/{sid}", headers=marketer).json()["member_count"] == 1
    dyn = client.post(
        "/api/segments", json={"name": "D", "query": "orders_count > 0"}, headers=marketer
    ).json()["id"]
    refused = client.post(
        f"/api/segments/{dyn}/members", json={"customer_ids": [1]}, headers=marketer
    )
    assert (refused.status_code, refused.json()["field"]) == (422, "segment_id")


def test_lifecycle_settings_and_builtins(
    client: TestClient, store: Store, marketer: dict[str, str], analyst: dict[str, str]
) -> None:
    got = client.get("/api/segments/settings", headers=analyst).json()
    assert (got["purchase_cycle_days"], got["lapsed_days"]) == (59.0, 236)
    put = client.put("/api/segments/settings", json={"purchase_cycle_days": 10}, headers=marketer)
    assert put.status_code == 200
    again = client.get("/api/segments/settings", headers=analyst).json()
    assert (again["purchase_cycle_days"], again["at_risk_days"], again["lapsed_days"]) == (
        10.0,
        20,
        40,
    )
    bad = client.put("/api/segments/settings", json={"at_risk_cycles": -1}, headers=marketer)
    assert (bad.status_code, bad.json()["field"]) == (422, "at_risk_cycles")
    made = client.post("/api/segments/builtins?refresh=true", headers=marketer)
    assert made.status_code == 200, made.text
    counts = {s["builtin"]: s["member_count"] for s in made.json()}
    # cycle 10 d: at risk = last order 20-40 days ago (none), lapsed = over 40 days ago.
    assert counts["lapsed"] == 5
    assert counts["at_risk"] == 0
    assert counts["new"] == 1
