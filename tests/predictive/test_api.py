"""/api/predictions: roles (analyst, marketer, owner read; owner and analyst train; support
denied), scores per customer, model cards, jobs queued, bad input named; the 360 section."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.jobs import service as jobs_service
from patron.predictive import service
from tests.predictive.conftest import AS_OF, Store


def _trained(session: Session) -> None:
    service.train(session, as_of=AS_OF)
    service.score(session, as_of=AS_OF)
    session.commit()


def test_roles(
    client: TestClient,
    session: Session,
    store: Store,
    owner: dict[str, str],
    analyst: dict[str, str],
    marketer: dict[str, str],
    support: dict[str, str],
) -> None:
    _trained(session)
    cid = store.ids["pair"]
    for who in (owner, analyst, marketer):
        assert client.get(f"/api/predictions/customers/{cid}", headers=who).status_code == 200
        assert client.get("/api/predictions/models", headers=who).status_code == 200
    denied = client.get(f"/api/predictions/customers/{cid}", headers=support)
    assert denied.status_code == 403
    assert client.get("/api/predictions/scores", headers=support).status_code == 403
    assert client.get(f"/api/predictions/customers/{cid}").status_code == 401
    body = {"calibration_end": "2026-01-01", "holdout_end": "2026-06-30"}
    for who in (marketer, support):
        assert client.post("/api/predictions/backtest", json=body, headers=who).status_code == 403
        assert client.post("/api/predictions/train", json={}, headers=who).status_code == 403
    for who in (owner, analyst):
        r = client.post("/api/predictions/backtest", json=body, headers=who)
        assert r.status_code == 202
        assert r.json()["kind"] == "predictive.backtest"
        job = jobs_service.get(session, job_id=r.json()["job_id"])
        assert job.payload == body


def test_scores_cards_and_jobs(
    client: TestClient, session: Session, store: Store, analyst: dict[str, str]
) -> None:
    _trained(session)
    cid = store.ids["one"]
    r = client.get(f"/api/predictions/customers/{cid}", headers=analyst)
    doc = r.json()
    assert (doc["customer_id"], doc["uncertain"], doc["uncertainty"]) == (
        cid, True, "one_time_buyer",
    )  # fmt: skip
    assert doc["currency"] == "USD"
    assert doc["as_of"] == AS_OF.isoformat()
    missing = client.get(f"/api/predictions/customers/{store.ids['none']}", headers=analyst)
    assert missing.status_code == 404
    assert missing.json()["field"] == "customer_id"
    page = client.get("/api/predictions/scores?limit=200", headers=analyst).json()
    assert len(page["items"]) == store.counted
    assert page["next_cursor"] is None
    cards = client.get("/api/predictions/models", headers=analyst).json()
    assert [(c["kind"], c["version"], c["active"]) for c in cards] == [("predictive.clv", 1, True)]
    card = client.get("/api/predictions/models/predictive.clv/1", headers=analyst).json()
    assert card["card"]["customers"] == store.counted
    gone = client.get("/api/predictions/models/predictive.clv/9", headers=analyst)
    assert (gone.status_code, gone.json()["field"]) == (404, "version")
    train = client.post("/api/predictions/train", json={"horizon_months": 6}, headers=analyst)
    assert train.status_code == 202
    again = client.post("/api/predictions/train", json={}, headers=analyst)
    assert again.json()["job_id"] is None  # one queued training at a time
    assert client.post("/api/predictions/score", headers=analyst).status_code == 202
    profile = client.get(f"/api/customers/{cid}", headers=analyst).json()
    assert profile["predictions"]["churn_risk"] == doc["churn_risk"]
    assert profile["predictions"]["predicted_clv"] == doc["predicted_clv"]


def test_bad_input_names_the_field(
    client: TestClient, session: Session, store: Store, owner: dict[str, str]
) -> None:
    bad = {"calibration_end": "2026-06-30", "holdout_end": "2026-01-01"}
    r = client.post("/api/predictions/backtest", json=bad, headers=owner)
    assert r.status_code == 422
    assert "holdout_end" in r.json()["message"]
    r = client.post(
        "/api/predictions/backtest",
        json={"calibration_end": "2026-13-01", "holdout_end": "2026-06-30"},
        headers=owner,
    )
    assert (r.status_code, r.json()["field"]) == (422, "calibration_end")
    r = client.post("/api/predictions/train", json={"horizon_months": 0}, headers=owner)
    assert (r.status_code, r.json()["field"]) == (422, "horizon_months")
    r = client.get("/api/predictions/scores?churn_risk=extreme", headers=owner)
    assert (r.status_code, r.json()["field"]) == (422, "churn_risk")
