"""The customers REST API and the customer 360, over HTTP, on both backends."""

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.customers import service
from patron.customers.schemas import TimelineEntryIn, TimelineKind


def test_create_read_update_customer(client: TestClient, owner: dict[str, str]) -> None:
    body = {
        "email": " Budi@Example.ID ",
        "phone": "+62 812-3456-7890",
        "first_name": "Budi",
        "last_name": "Santoso",
        "locale": "id",
        "country": "id",
        "tags": ["vip", "vip", "b2b"],
        "properties": {"size": "M", "newsletter": True},
        "external_ids": [{"source": "shopify", "id": "1001"}],
    }
    r = client.post("/api/customers", json=body, headers=owner)
    assert r.status_code == 201, r.text
    c = r.json()
    assert (c["email"], c["phone"], c["country"], c["tags"]) == (
        "budi@example.id",
        "+6281234567890",
        "ID",
        ["vip", "b2b"],
    )
    r = client.patch(
        f"/api/customers/{c['id']}",
        json={"city": "Jakarta", "properties": {"size": None, "shoe": 42}},
        headers=owner,
    )
    assert r.status_code == 200
    assert r.json()["properties"] == {"newsletter": True, "shoe": 42}
    assert r.json()["city"] == "Jakarta"
    full = client.get(f"/api/customers/{c['id']}", headers=owner).json()
    assert sorted((i["kind"], i["source"], i["value"]) for i in full["identities"]) == [
        ("email", "", "budi@example.id"),
        ("external", "shopify", "1001"),
        ("phone", "", "+6281234567890"),
    ]
    assert (full["orders_count"], full["total_spent"], full["aov_minor"]) == (0, 0, 0)


def test_duplicate_email_is_409_naming_the_field(client: TestClient, owner: dict[str, str]) -> None:
    assert client.post("/api/customers", json={"email": "a@b.co"}, headers=owner).status_code == 201
    r = client.post("/api/customers", json={"email": "A@b.co"}, headers=owner)
    assert r.status_code == 409
    assert r.json()["field"] == "email"


def test_bad_input_is_422_naming_the_field(client: TestClient, owner: dict[str, str]) -> None:
    r = client.post("/api/customers", json={"email": "not-an-email"}, headers=owner)
    assert (r.status_code, r.json()["field"]) == (422, "email")
    r = client.post("/api/customers", json={"birthday": "31-02-2000"}, headers=owner)
    assert (r.status_code, r.json()["field"]) == (422, "birthday")
    r = client.get("/api/customers?limit=0", headers=owner)
    assert (r.status_code, r.json()["field"]) == (422, "limit")
    r = client.get("/api/customers?cursor=%%%", headers=owner)
    assert (r.status_code, r.json()["field"]) == (422, "cursor")
    r = client.get("/api/customers/999999", headers=owner)
    assert (r.status_code, r.json()["error"]) == (404, "not_found")


def test_search_by_email_phone_name_and_external_id(
    client: TestClient, owner: dict[str, str]
) -> None:
    people = [
        {"email": "wei.zhang@shop.cn", "first_name": "Wei", "last_name": "Zhang"},
        {"email": "siti@shop.id", "first_name": "Siti", "last_name": "Rahma", "phone": "0812 111"},
        {"email": "john@shop.com", "first_name": "John", "last_name": "Zhao",
         "external_ids": [{"source": "pos", "id": "CARD-77"}]},
    ]  # fmt: skip
    ids = [client.post("/api/customers", json=p, headers=owner).json()["id"] for p in people]

    def found(q: str) -> list[int]:
        r = client.get("/api/customers", params={"q": q}, headers=owner)
        assert r.status_code == 200
        return sorted(c["id"] for c in r.json()["items"])

    assert found("wei.zhang@shop.cn") == [ids[0]]
    assert found("siti@") == [ids[1]]
    assert found("zha") == [ids[0], ids[2]]
    assert found("Siti Rah") == [ids[1]]
    assert found("0812111") == [ids[1]]
    assert found("CARD-77") == [ids[2]]
    assert found("nobody") == []


def test_list_paginates_newest_first_without_gaps(
    client: TestClient, owner: dict[str, str]
) -> None:
    ids = [
        client.post("/api/customers", json={"email": f"c{i}@x.co"}, headers=owner).json()["id"]
        for i in range(7)
    ]
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/customers", params=params, headers=owner).json()
        seen += [c["id"] for c in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)
    assert pages == 3


def test_360_timeline_is_newest_first_filtered_and_paginated(
    client: TestClient, owner: dict[str, str], session: Session
) -> None:
    cid = client.post("/api/customers", json={"email": "t@x.co"}, headers=owner).json()["id"]
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    service.add_timeline_entries(
        session,
        [
            TimelineEntryIn(
                customer_id=cid,
                occurred_at=t0 + timedelta(hours=i),
                kind=TimelineKind.EVENT if i % 2 else TimelineKind.ORDER,
                title=f"entry {i}",
                channel="app" if i < 3 else "web",
            )
            for i in range(5)
        ],
    )
    session.commit()
    full = client.get(f"/api/customers/{cid}?limit=2", headers=owner).json()
    assert [e["title"] for e in full["timeline"]["items"]] == ["entry 4", "entry 3"]
    nxt = client.get(
        f"/api/customers/{cid}/timeline",
        params={"limit": 2, "cursor": full["timeline"]["next_cursor"]},
        headers=owner,
    ).json()
    assert [e["title"] for e in nxt["items"]] == ["entry 2", "entry 1"]
    only = client.get(
        f"/api/customers/{cid}/timeline", params={"kind": "order", "channel": "app"}, headers=owner
    ).json()
    assert [e["title"] for e in only["items"]] == ["entry 2", "entry 0"]


def test_merge_and_undo_over_http(client: TestClient, owner: dict[str, str]) -> None:
    a = client.post("/api/customers", json={"email": "a@m.co"}, headers=owner).json()["id"]
    b = client.post("/api/customers", json={"email": "b@m.co", "city": "Ubud"}, headers=owner)
    b_id = b.json()["id"]
    r = client.post(f"/api/customers/{a}/merge", json={"other_id": b_id}, headers=owner)
    assert r.status_code == 201
    merge_id = r.json()["id"]
    assert client.get(f"/api/customers/{b_id}", headers=owner).json()["id"] == a
    r = client.post(f"/api/customers/{a}/merge", json={"other_id": b_id}, headers=owner)
    assert (r.status_code, r.json()["error"]) == (409, "conflict")
    assert client.post(f"/api/merges/{merge_id}/undo", headers=owner).status_code == 200
    back = client.get(f"/api/customers/{b_id}", headers=owner).json()
    assert (back["id"], back["city"]) == (b_id, "Ubud")
    r = client.post(f"/api/merges/{merge_id}/undo", headers=owner)
    assert r.status_code == 409


def test_support_may_edit_but_not_manage_keys(client: TestClient, support: dict[str, str]) -> None:
    assert (
        client.post("/api/customers", json={"email": "s@x.co"}, headers=support).status_code == 201
    )
    assert (
        client.post("/api/keys", json={"name": "k", "role": "owner"}, headers=support).status_code
        == 403
    )
