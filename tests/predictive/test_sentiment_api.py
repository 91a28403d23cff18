"""POST /api/sentiment and GET /api/sentiment/models: every staff role, bad input named."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.auth import service as auth_service
from patron.predictive import sentiment
from patron.store import service as store_service

TEXTS = [
    "Great product, works perfectly!",
    "pelayanan buruk, sangat kecewa",
    "太差了，再也不买了",
    "",
]


@pytest.mark.parametrize("role", ["owner", "marketer", "support", "analyst"])
def test_every_staff_role_may_score_text(
    client: TestClient, role: str, request: pytest.FixtureRequest
) -> None:
    headers = request.getfixturevalue(role)
    response = client.post("/api/sentiment", json={"texts": TEXTS}, headers=headers)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [(r["language"], r["label"]) for r in results] == [
        ("en", "positive"),
        ("id", "negative"),
        ("zh", "negative"),
        ("und", "neutral"),
    ]
    assert results[3]["score"] == 0.0
    assert all(-1.0 <= r["score"] <= 1.0 for r in results)


def test_a_given_language_is_used_for_every_text(client: TestClient, owner: dict[str, str]) -> None:
    response = client.post(
        "/api/sentiment", json={"texts": ["mantap", "ok"], "language": "id"}, headers=owner
    )
    assert response.status_code == 200
    assert [r["language"] for r in response.json()["results"]] == ["id", "id"]


def test_without_a_key_or_with_a_write_key_it_is_refused(
    client: TestClient, session: Session
) -> None:
    assert client.post("/api/sentiment", json={"texts": ["hi"]}).status_code == 401
    source_id = store_service.ensure_source(session, key="site").id
    wk = auth_service.create_write_key(session, name="site", source_id=source_id)
    session.commit()
    refused = client.post(
        "/api/sentiment", json={"texts": ["hi"]}, headers={"Authorization": f"Bearer {wk.secret}"}
    )
    assert refused.status_code == 403
    assert client.get("/api/sentiment/models").status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "texts"),
        ({"texts": []}, "texts"),
        ({"texts": "just one"}, "texts"),
        ({"texts": ["ok", 3]}, "texts.1"),
        ({"texts": ["ok"], "language": "fr"}, "language"),
        ({"texts": ["ok"] * 1001}, "texts"),
        ({"texts": ["ok"] * 1001, "fast": True}, "texts"),
        ({"texts": ["ok"] * 101}, "texts"),  # the encoder reads at most 100 a request
        ({"texts": ["ok"], "fast": "sometimes"}, "fast"),
        ({"texts": ["ok", "x" * 20_001]}, "texts.1"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    client: TestClient, analyst: dict[str, str], body: dict[str, object], field: str
) -> None:
    response = client.post("/api/sentiment", json=body, headers=analyst)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


def test_fast_scores_with_the_n_gram_models_and_takes_up_to_1000_texts(
    client: TestClient, marketer: dict[str, str]
) -> None:
    texts = TEXTS[:3] * 334
    fast = client.post(
        "/api/sentiment", json={"texts": texts[:1000], "fast": True}, headers=marketer
    )
    assert fast.status_code == 200, fast.text
    expected = sentiment.classify(None, texts=TEXTS[:3], fast=True)
    assert fast.json()["results"][:3] == [r.model_dump(mode="json") for r in expected]
    assert len(fast.json()["results"]) == 1000
    full = client.post("/api/sentiment", json={"texts": TEXTS[:3]}, headers=marketer)
    assert full.json()["results"] == [
        r.model_dump(mode="json") for r in sentiment.classify(None, texts=TEXTS[:3])
    ]
    assert full.json()["results"] != fast.json()["results"][:3]


def test_models_lists_the_shipped_model_of_each_language(
    client: TestClient, support: dict[str, str]
) -> None:
    response = client.get("/api/sentiment/models", headers=support)
    assert response.status_code == 200
    body = response.json()
    assert [(m["language"], m["source"], m["version"]) for m in body] == [
        ("en", "shipped", None),
        ("id", "shipped", None),
        ("zh", "shipped", None),
    ]
    assert [m["card"]["data_licence"] for m in body] == ["CC BY 4.0", "CC BY-SA 4.0", "MIT"]
