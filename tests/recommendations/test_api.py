"""The recommendations API: every kind, roles, errors as JSON naming the field."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.auth.schemas import Role
from patron.recommendations import service
from tests.conftest import make_key
from tests.recommendations.conftest import Store


@pytest.fixture
def ready(session: Session, store: Store) -> Store:
    service.train(session)
    session.commit()
    return store


def skus(store: Store, body: dict[str, object]) -> list[str]:
    return store.skus(i["product_id"] for i in body["items"])  # type: ignore[attr-defined]


def test_every_kind_over_http(client: TestClient, analyst: dict[str, str], ready: Store) -> None:
    s = ready
    mug, cat = s.products["mug"], s.customers["cat"]
    r = client.get(f"/api/recommendations/together?product_ids={mug}", headers=analyst)
    assert r.status_code == 200, r.text
    body = r.json()
    assert skus(s, body) == ["coffee", "filter"]
    assert body["items"][0]["reason"] == "bought with Blue Mug (3 orders)"
    assert body["items"][0]["reason_code"] == "bought_with"
    assert (body["kind"], body["model_version"]) == ("together", 1)
    assert body["excluded"] == {"inactive": 1, "out_of_stock": 1}
    r = client.get(f"/api/recommendations/for-you/{cat}?limit=2", headers=analyst)
    assert skus(s, r.json()) == ["filter", "coffee"]
    r = client.get(f"/api/recommendations/upsell?product_id={mug}", headers=analyst)
    assert skus(s, r.json()) == ["mug-pro", "mug-lux"]
    r = client.get("/api/recommendations/trending?category=Food", headers=analyst)
    assert skus(s, r.json()) == ["coffee", "coffee-dark", "filter"]
    r = client.get(f"/api/recommendations/similar/{mug}?limit=1", headers=analyst)
    assert skus(s, r.json()) == ["mug-pro"]
    r = client.get("/api/recommendations/models", headers=analyst)
    assert [(m["version"], m["active"]) for m in r.json()] == [(1, True)]


@pytest.mark.parametrize(
    ("role", "lists", "for_you", "train"),
    [
        (Role.OWNER, 200, 200, 202),
        (Role.MARKETER, 200, 200, 403),
        (Role.ANALYST, 200, 200, 202),
        (Role.SUPPORT, 403, 200, 403),
    ],
)
def test_roles(
    client: TestClient, session: Session, ready: Store, role: Role, lists: int, for_you: int,
    train: int,
) -> None:  # fmt: skip
    headers = make_key(session, role)
    mug, ann = ready.products["mug"], ready.customers["ann"]
    for path in (f"/api/recommendations/together?product_ids={mug}",
                 f"/api/recommendations/upsell?product_id={mug}",
                 "/api/recommendations/trending", f"/api/recommendations/similar/{mug}",
                 "/api/recommendations/models"):  # fmt: skip
        assert client.get(path, headers=headers).status_code == lists, path
    assert client.get(f"/api/recommendations/for-you/{ann}", headers=headers).status_code == (
        for_you
    )
    assert client.post("/api/recommendations/train", headers=headers).status_code == train
    rule = {"category_path": "Food", "policy": "durable"}
    expected = 200 if train == 202 else 403
    assert client.put("/api/recommendations/category-rules", json=rule,
                      headers=headers).status_code == expected  # fmt: skip
    assert client.get("/api/recommendations/trending").status_code == 401


def test_training_on_demand_is_queued_once(
    client: TestClient, owner: dict[str, str], ready: Store
) -> None:
    first = client.post("/api/recommendations/train", headers=owner)
    assert first.status_code == 202
    assert isinstance(first.json()["job_id"], int)
    again = client.post("/api/recommendations/train", headers=owner)
    assert again.json() == {"job_id": None}


def test_bad_input_is_json_naming_the_field(
    client: TestClient, owner: dict[str, str], ready: Store
) -> None:
    cases = [
        ("/api/recommendations/together", 422, "product_ids"),
        ("/api/recommendations/together?product_ids=1,x", 422, "product_ids"),
        ("/api/recommendations/together?product_ids=99999", 404, "product_id"),
        ("/api/recommendations/for-you/99999", 404, "customer_id"),
        ("/api/recommendations/trending?country=U1", 422, "country"),
        ("/api/recommendations/upsell", 422, "product_id"),
        ("/api/recommendations/trending?limit=0", 422, "limit"),
        ("/api/recommendations/similar/abc", 422, "product_id"),
    ]
    for path, status, field in cases:
        r = client.get(path, headers=owner)
        assert (r.status_code, r.json().get("field")) == (status, field), (path, r.text)
    r = client.post("/api/recommendations/models/7/activate", headers=owner)
    assert (r.status_code, r.json()["field"]) == (404, "version")
    bad = {"category_path": "Food", "policy": "sometimes"}
    r = client.put("/api/recommendations/category-rules", json=bad, headers=owner)
    assert (r.status_code, r.json()["field"]) == (422, "policy")


def test_no_model_yet(client: TestClient, owner: dict[str, str], store: Store) -> None:
    r = client.get("/api/recommendations/trending", headers=owner)
    assert (r.status_code, r.json()["field"]) == (404, "model")
