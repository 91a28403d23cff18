"""The products REST API, on both backends."""

from fastapi.testclient import TestClient


def test_create_read_update_product(client: TestClient, owner: dict[str, str]) -> None:
    body = {"title": "Batik Shirt", "sku": "BTK-1", "price": 25000000, "currency": "idr",
            "category_path": "Apparel > Shirts", "brand": "Solo", "source": "shopify",
            "external_id": "8001", "properties": {"material": "cotton"}}  # fmt: skip
    r = client.post("/api/products", json=body, headers=owner)
    assert r.status_code == 201, r.text
    p = r.json()
    assert (p["currency"], p["status"], p["price"]) == ("IDR", "active", 25000000)
    assert [e["external_id"] for e in p["external_ids"]] == ["8001"]
    r = client.patch(f"/api/products/{p['id']}",
                     json={"stock": 7, "properties": {"material": None, "fit": "slim"}},
                     headers=owner)  # fmt: skip
    assert r.status_code == 200, r.text
    assert (r.json()["stock"], r.json()["properties"]) == (7, {"fit": "slim"})
    got = client.get(f"/api/products/{p['id']}", headers=owner).json()
    assert (got["title"], got["stock"]) == ("Batik Shirt", 7)


def test_duplicate_sku_is_409(client: TestClient, owner: dict[str, str]) -> None:
    assert client.post("/api/products", json={"title": "A", "sku": "S1"},
                       headers=owner).status_code == 201  # fmt: skip
    r = client.post("/api/products", json={"title": "B", "sku": "S1"}, headers=owner)
    assert (r.status_code, r.json()["field"]) == (409, "sku")


def test_list_filters_and_pagination(client: TestClient, owner: dict[str, str]) -> None:
    items = [
        {"title": "Running Shoe", "sku": "RS", "category_path": "Shoes > Running", "brand": "Z"},
        {"title": "Trail Shoe", "sku": "TS", "category_path": "Shoes > Trail", "brand": "Z"},
        {"title": "Sandal", "sku": "SD", "category_path": "Shoes", "status": "draft"},
        {"title": "Shoelace", "sku": "SL", "category_path": "Shoestring", "brand": "Y"},
    ]
    ids = [client.post("/api/products", json=b, headers=owner).json()["id"] for b in items]

    def found(query: str) -> list[int]:
        r = client.get(f"/api/products?{query}", headers=owner)
        assert r.status_code == 200, r.text
        return [p["id"] for p in r.json()["items"]]

    assert found("category=Shoes") == [ids[2], ids[1], ids[0]]  # not "Shoestring"
    assert found("category=Shoes%20%3E%20Running") == [ids[0]]
    assert found("brand=Z") == [ids[1], ids[0]]
    assert found("status=draft") == [ids[2]]
    assert found("q=shoe") == [ids[3]]  # title prefix, case-insensitive
    assert found("q=TRAIL") == [ids[1]]
    assert found("q=SD") == [ids[2]]  # sku
    # pagination: newest first, two per page, no repeats
    page1 = client.get("/api/products?limit=2", headers=owner).json()
    page2 = client.get(f"/api/products?limit=2&cursor={page1['next_cursor']}",
                       headers=owner).json()  # fmt: skip
    assert [p["id"] for p in page1["items"] + page2["items"]] == ids[::-1]
    assert page2["next_cursor"] is None


def test_auth_and_validation(
    client: TestClient, owner: dict[str, str], analyst: dict[str, str]
) -> None:
    assert client.get("/api/products").status_code == 401
    assert client.get("/api/products", headers=analyst).status_code == 200
    r = client.post("/api/products", json={"title": "x"}, headers=analyst)
    assert (r.status_code, r.json()["error"]) == (403, "forbidden")
    r = client.post("/api/products", json={"title": "x", "price": -1}, headers=owner)
    assert (r.status_code, r.json()["field"]) == (422, "price")
    r = client.post("/api/products", json={"title": "x", "currency": "ABC"}, headers=owner)
    assert (r.status_code, r.json()["field"]) == (422, "currency")
    r = client.post("/api/products", json={"title": "x", "status": "gone"}, headers=owner)
    assert (r.status_code, r.json()["field"]) == (422, "status")
    r = client.get("/api/products?cursor=%%%", headers=owner)
    assert (r.status_code, r.json()["field"]) == (422, "cursor")
    assert client.get("/api/products/999999", headers=owner).status_code == 404
