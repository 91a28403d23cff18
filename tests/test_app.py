"""App-wide behaviour: OpenAPI, JSON errors for routing failures, health."""

from fastapi.testclient import TestClient


def test_openapi_lists_the_api(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "Patron"
    assert {"/api/customers", "/api/customers/{customer_id}", "/api/keys"} <= set(spec["paths"])


def test_unknown_route_and_method_are_json(client: TestClient, owner: dict[str, str]) -> None:
    r = client.get("/api/nothing-here", headers=owner)
    assert (r.status_code, r.json()["error"]) == (404, "not_found")
    r = client.put("/api/customers", headers=owner)
    assert (r.status_code, r.json()["error"]) == (405, "method_not_allowed")


def test_malformed_json_body_is_422_not_500(client: TestClient, owner: dict[str, str]) -> None:
    r = client.post(
        "/api/customers",
        content=b"{not json",
        headers={**owner, "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["error"] == "invalid"


def test_health(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
