"""The orders and carts REST API, on both backends."""

from fastapi.testclient import TestClient


def new_order(ext: str, email: str = "ana@shop.com", **kw: object) -> dict[str, object]:
    body: dict[str, object] = {
        "source": "api-shop",
        "external_id": ext,
        "number": ext,
        "currency": "USD",
        "placed_at": "2026-02-01T10:00:00Z",
        "customer": {"email": email, "first_name": "Ana"},
        "lines": [
            {"sku": "TEE", "title": "Tee", "quantity": 2, "unit_price": 1500},
            {"sku": "CAP", "title": "Cap", "quantity": 1, "unit_price": 1000, "discount": 100},
        ],
        "shipping_total": 500,
    }
    body.update(kw)
    return body


def test_create_order_then_read_refund_cancel(client: TestClient, owner: dict[str, str]) -> None:
    r = client.post("/api/orders", json=new_order("5001"), headers=owner)
    assert r.status_code == 201, r.text
    o = r.json()
    assert (o["subtotal"], o["total"], o["status"], len(o["lines"])) == (3900, 4400, "placed", 2)
    assert [e["external_id"] for e in o["external_ids"]] == ["5001"]
    # posting the same order again is the same order
    again = client.post("/api/orders", json=new_order("5001"), headers=owner).json()
    assert again["id"] == o["id"]
    r = client.post(f"/api/orders/{o['id']}/refunds",
                    json={"external_id": "rf-1", "amount": 1400, "reason": "damaged"},
                    headers=owner)  # fmt: skip
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["refunded_total"]) == ("partially_refunded", 1400)
    r = client.post(f"/api/orders/{o['id']}/refunds",
                    json={"external_id": "rf-1", "amount": 1400}, headers=owner)  # fmt: skip
    assert r.json()["refunded_total"] == 1400  # the same refund twice counts once
    cust = client.get(f"/api/customers/{o['customer_id']}", headers=owner).json()
    assert (cust["orders_count"], cust["total_spent"]) == (1, 3000)
    r = client.post(f"/api/orders/{o['id']}/cancel", headers=owner)
    assert (r.status_code, r.json()["status"]) == (200, "cancelled")
    cust = client.get(f"/api/customers/{o['customer_id']}", headers=owner).json()
    assert (cust["orders_count"], cust["total_spent"]) == (0, 0)
    kinds = sorted(e["kind"] for e in cust["timeline"]["items"])
    assert kinds == ["cancellation", "order", "refund"]


def test_patch_status_and_properties(client: TestClient, owner: dict[str, str]) -> None:
    o = client.post("/api/orders", json=new_order("6001", properties={"gift": True}),
                    headers=owner).json()  # fmt: skip
    r = client.patch(f"/api/orders/{o['id']}",
                     json={"status": "fulfilled", "properties": {"gift": None, "note": "x"}},
                     headers=owner)  # fmt: skip
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["properties"]) == ("fulfilled", {"note": "x"})
    r = client.patch(f"/api/orders/{o['id']}", json={"status": "lost"}, headers=owner)
    assert (r.status_code, r.json()["field"]) == (422, "status")


def test_list_filters_and_pagination(client: TestClient, owner: dict[str, str]) -> None:
    ids = []
    for n, (email, channel) in enumerate(
        [("a@x.io", "web"), ("b@x.io", "app"), ("a@x.io", "pos"), ("c@x.io", "web")]
    ):
        body = new_order(f"70{n}", email, channel=channel, placed_at=f"2026-02-0{n + 1}T10:00:00Z")
        ids.append(client.post("/api/orders", json=body, headers=owner).json()["id"])

    def found(query: str) -> list[int]:
        r = client.get(f"/api/orders?{query}", headers=owner)
        assert r.status_code == 200, r.text
        return [o["id"] for o in r.json()["items"]]

    first = client.get(f"/api/orders/{ids[0]}", headers=owner).json()
    assert found(f"customer_id={first['customer_id']}") == [ids[2], ids[0]]
    assert found("channel=web") == [ids[3], ids[0]]
    assert found("q=701") == [ids[1]]
    assert found("placed_from=2026-02-02T00:00:00Z&placed_to=2026-02-04T00:00:00Z") == [
        ids[2], ids[1]]  # fmt: skip
    assert found("status=placed") == ids[::-1]
    page1 = client.get("/api/orders?limit=3", headers=owner).json()
    page2 = client.get(f"/api/orders?limit=3&cursor={page1['next_cursor']}", headers=owner).json()
    assert [o["id"] for o in page1["items"] + page2["items"]] == ids[::-1]
    assert page2["next_cursor"] is None


def test_auth_and_validation(
    client: TestClient, owner: dict[str, str], analyst: dict[str, str]
) -> None:
    assert client.get("/api/orders").status_code == 401
    assert client.get("/api/orders", headers=analyst).status_code == 200
    r = client.post("/api/orders", json=new_order("1"), headers=analyst)
    assert (r.status_code, r.json()["error"]) == (403, "forbidden")
    cases = [
        (new_order("1", lines=[]), "lines"),
        (new_order("1", lines=[{"sku": "A", "quantity": 0, "unit_price": 1}]), "lines.0.quantity"),
        (new_order("1", currency="XXZ"), "currency"),
        (new_order("1", channel="fax"), "channel"),
        (new_order("1", customer={"email": "nope"}), "customer.email"),
        (new_order("1", customer={"first_name": "No Keys"}), "customer"),
        (new_order("1", lines=[{"sku": "A", "quantity": 1, "unit_price": 1.5}]),
         "lines.0.unit_price"),
    ]  # fmt: skip
    for body, field in cases:
        r = client.post("/api/orders", json=body, headers=owner)
        assert (r.status_code, r.json().get("field")) == (422, field), r.text
    o = client.post("/api/orders", json=new_order("2"), headers=owner).json()
    r = client.post(f"/api/orders/{o['id']}/refunds", json={"amount": 0}, headers=owner)
    assert (r.status_code, r.json()["field"]) == (422, "amount")
    r = client.post(f"/api/orders/{o['id']}/refunds", json={"amount": 999999}, headers=owner)
    assert (r.status_code, r.json()["field"]) == (422, "amount")
    assert client.get("/api/orders/999999", headers=owner).status_code == 404
    assert client.post("/api/orders/999999/cancel", headers=owner).status_code == 404
    assert client.get("/api/carts/999999", headers=owner).status_code == 404


def test_carts_list_and_read(client: TestClient, owner: dict[str, str], session) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from patron.catalog.schemas import ProductRef
    from patron.orders import service
    from patron.orders.schemas import CartIn, CartLineIn, CustomerRefIn
    from patron.store import service as store_service

    s = store_service.ensure_source(session, key="web").id
    ids = service.upsert_carts(
        session,
        carts=[CartIn(external_id=f"c{n}", customer=CustomerRefIn(), currency="USD",
                      updated_at=datetime(2026, 1, n + 1, tzinfo=UTC),
                      lines=[CartLineIn(product=ProductRef(sku="A"), quantity=n + 1,
                                        unit_price=100)]) for n in range(3)],
        source_id=s,
    )  # fmt: skip
    session.commit()
    r = client.get("/api/carts?updated_before=2026-01-03T00:00:00Z&status=open", headers=owner)
    assert [c["id"] for c in r.json()["items"]] == [ids[1], ids[0]]
    c = client.get(f"/api/carts/{ids[2]}", headers=owner).json()
    assert (c["value"], c["item_count"], c["lines"][0]["quantity"]) == (300, 3, 3)
    assert client.get("/api/carts?status=bogus", headers=owner).status_code == 422
