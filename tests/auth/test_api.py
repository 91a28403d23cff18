"""Every endpoint authenticates (401) and checks the role (403), with JSON bodies."""

from fastapi.testclient import TestClient


def test_no_key_is_401_json(client: TestClient) -> None:
    r = client.get("/api/customers")
    assert r.status_code == 401
    assert r.json()["error"] == "unauthorized"


def test_wrong_key_is_401(client: TestClient) -> None:
    r = client.get("/api/customers", headers={"Authorization": "Bearer pk_000000000000nope-nope"})
    assert r.status_code == 401
    assert r.json() == {"error": "unauthorized", "message": "invalid API key"}


def test_analyst_cannot_write_or_manage_keys(client: TestClient, analyst: dict[str, str]) -> None:
    assert client.get("/api/customers", headers=analyst).status_code == 200
    r = client.post("/api/customers", json={"email": "a@b.co"}, headers=analyst)
    assert r.status_code == 403
    assert r.json()["error"] == "forbidden"
    assert client.get("/api/keys", headers=analyst).status_code == 403


def test_owner_creates_uses_and_revokes_a_key(client: TestClient, owner: dict[str, str]) -> None:
    r = client.post("/api/keys", json={"name": "ci", "role": "support"}, headers=owner)
    assert r.status_code == 201
    secret = r.json()["secret"]
    assert secret.startswith("pk_")
    support = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/customers", headers=support).status_code == 200
    listed = client.get("/api/keys", headers=owner).json()
    assert [k["name"] for k in listed if k["id"] == r.json()["id"]] == ["ci"]
    assert all("secret" not in k for k in listed)
    assert client.delete(f"/api/keys/{r.json()['id']}", headers=owner).status_code == 200
    assert client.get("/api/customers", headers=support).status_code == 401


def test_write_key_is_for_ingestion_only(client: TestClient, owner: dict[str, str]) -> None:
    r = client.post("/api/write-keys", json={"name": "site", "source": "web"}, headers=owner)
    assert r.status_code == 201
    wk = r.json()["secret"]
    assert wk.startswith("wk_")
    r = client.get("/api/customers", headers={"Authorization": f"Bearer {wk}"})
    assert r.status_code == 403
    assert "write keys" in r.json()["message"]


def test_role_is_validated_naming_the_field(client: TestClient, owner: dict[str, str]) -> None:
    r = client.post("/api/keys", json={"name": "x", "role": "king"}, headers=owner)
    assert r.status_code == 422
    assert r.json()["field"] == "role"
