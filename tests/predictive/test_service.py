"""Training, scoring (the scores table, on demand and as a job), tier-change timeline
entries, the customer 360 section and segment fields, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, time, timedelta

import lightgbm as lgb
import numpy as np
import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.artifacts import service as artifacts_service
from patron.core.errors import NotFound, ValidationError
from patron.customers import service as customers_service
from patron.jobs import handlers, worker
from patron.jobs import service as jobs_service
from patron.orders import service as orders_service
from patron.predictive import data, engine, service
from patron.predictive.history import day_number
from patron.predictive.schemas import MODEL_KIND, ChurnRisk
from patron.segments import service as segments_service
from patron.wiring import wire
from tests.predictive.conftest import AS_OF, Store


def _rows(session: Session) -> dict[int, dict[str, object]]:
    t = service.scores_table()
    return {r["customer_id"]: dict(r) for r in session.execute(select(t)).mappings()}


def test_scoring_needs_a_trained_model(session: Session, store: Store) -> None:
    with pytest.raises(NotFound) as info:
        service.score(session, as_of=AS_OF)
    assert info.value.field == "model"


def test_train_then_score_writes_one_row_per_customer_with_orders(
    session: Session, store: Store
) -> None:
    card = service.train(session, as_of=AS_OF)
    assert (card.kind, card.version, card.active) == (MODEL_KIND, 1, True)
    assert card.card["customers"] == store.counted
    assert card.card["history_start"] == "2024-07-01"
    assert set(card.card["chosen"]) == {"counts", "spend", "churn", "why"}
    # the backtest holds out the last third of the history: too few rows there to train the
    # supervised model (200), which the final fit on the whole history has
    assert set(card.card["backtest"]["models"]) == {"bgnbd", "pareto", "blend"}
    assert card.card["supervised"]["training_rows"] >= 200
    stored = artifacts_service.load_active(session, kind=MODEL_KIND)
    assert stored is not None
    assert stored.format == "json"
    assert set(orjson.loads(stored.payload)) == {
        "fitted", "chosen", "horizon_months", "annual_discount_rate",
    }  # fmt: skip

    run = service.score(session, as_of=AS_OF)
    assert (run.model_version, run.scored, run.removed, run.tier_changes) == (
        1, store.counted, 0, 0,
    )  # fmt: skip
    rows = _rows(session)
    assert len(rows) == store.counted
    assert store.ids["void"] not in rows  # only a cancelled order
    assert store.ids["none"] not in rows
    one, new = rows[store.ids["one"]], rows[store.ids["new"]]
    assert (one["uncertain"], one["uncertainty"]) == (True, "one_time_buyer")
    assert (new["uncertain"], new["uncertainty"]) == (True, "new_customer")
    assert rows[store.ids["pair"]]["uncertainty"] is None  # two purchase days, not three
    for r in rows.values():
        assert r["as_of"] == AS_OF
        assert r["currency"] == "USD"
        assert r["horizon_months"] == 12
        p = r["churn_probability"]
        assert r["churn_risk"] == ("high" if p >= 0.8 else "medium" if p >= 0.5 else "low")
        assert 0 <= r["predicted_clv"] <= r["predicted_spend"]  # discounted
        assert r["clv_low"] <= r["predicted_clv"] <= r["clv_high"]
        assert r["orders_365d_low"] <= r["expected_orders_365d"] <= r["orders_365d_high"]
        assert r["expected_orders_30d"] <= r["expected_orders_90d"] <= r["expected_orders_365d"]
        assert 0 <= r["p_alive"] <= 1
        if r["next_order_on"] is not None:
            assert r["next_order_on"] > AS_OF
    got = service.get_score(session, customer_id=store.ids["pair"])
    assert got.customer_id == store.ids["pair"]
    with pytest.raises(NotFound):
        service.get_score(session, customer_id=store.ids["none"])
    seen, cursor = [], None
    while True:
        page = service.list_scores(session, churn_risk=ChurnRisk.HIGH, cursor=cursor, limit=50)
        seen += [s.customer_id for s in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted(c for c, r in rows.items() if r["churn_risk"] == "high")


def test_a_tier_change_lands_on_the_timeline(session: Session, store: Store) -> None:
    service.train(session, as_of=AS_OF)
    service.score(session, as_of=AS_OF)
    before = {cid: r["churn_risk"] for cid, r in _rows(session).items()}
    later = AS_OF + timedelta(days=120)  # nobody bought since: risk goes up
    run = service.score(session, as_of=later)
    after = {cid: r["churn_risk"] for cid, r in _rows(session).items()}
    changed = {cid for cid in after if after[cid] != before[cid]}
    assert len(changed) > 0
    assert run.tier_changes == len(changed)
    t = customers_service.timeline(session, customer_id=next(iter(changed)), kinds=["prediction"])
    (entry,) = t.items
    cid = next(iter(changed))
    assert entry.title == f"Churn risk {before[cid]} -> {after[cid]}"
    assert entry.data["from"] == before[cid]
    assert entry.data["to"] == after[cid]
    assert entry.data["model_version"] == 1


def test_scores_are_refreshed_by_the_scheduled_job(session: Session, store: Store) -> None:
    wire()
    spec = handlers.SCHEDULES[service.REFRESH_SCHEDULE]
    assert (spec.kind, spec.every_seconds) == (service.REFRESH_JOB, 86400)
    job_id = jobs_service.enqueue(session, kind=service.REFRESH_JOB, payload={})
    session.commit()
    claimed = jobs_service.claim(session, worker_id="w1", kinds=[service.REFRESH_JOB])
    session.commit()
    assert [j.id for j in claimed] == [job_id]
    stats = worker.WorkerStats()
    worker.run_one(claimed[0], "w1", stats)
    assert (stats.done, stats.failed) == (1, 0)
    t = service.scores_table()
    assert session.scalar(select(func.count()).select_from(t)) == store.counted
    assert session.scalar(select(func.max(t.c.model_version))) == 1  # trained first
    assert session.scalar(select(func.max(t.c.as_of))) == datetime.now(UTC).date()


def test_the_scheduled_job_on_a_store_without_orders_is_done_not_retried(
    session: Session,
) -> None:
    wire()
    job_id = jobs_service.enqueue(session, kind=service.REFRESH_JOB, payload={})
    session.commit()
    claimed = jobs_service.claim(session, worker_id="w1", kinds=[service.REFRESH_JOB])
    session.commit()
    stats = worker.WorkerStats()
    worker.run_one(claimed[0], "w1", stats)
    assert (stats.done, stats.failed, stats.dead) == (1, 0, 0)
    assert jobs_service.get(session, job_id=job_id).status.value == "done"
    t = service.scores_table()
    assert session.scalar(select(func.count()).select_from(t)) == 0


def test_backtest_validates_its_dates(session: Session, store: Store) -> None:
    with pytest.raises(ValidationError) as info:
        service.backtest(session, calibration_end=AS_OF, holdout_end=AS_OF)
    assert info.value.field == "holdout_end"
    with pytest.raises(ValidationError) as info:
        service.backtest(session, calibration_end=date(2020, 1, 1), holdout_end=AS_OF)
    assert info.value.field == "calibration_end"
    cal = AS_OF - timedelta(days=180)
    card = service.backtest(session, calibration_end=cal, holdout_end=AS_OF)
    assert card["horizon_days"] == 180
    assert card["artifact_version"] == 1
    # P(no purchase in the horizon) ranks churn better than the trap, 1 - P(alive)
    assert card["models"]["bgnbd"]["churn_roc_auc"] > card["trap"]["churn_roc_auc"]
    o = orders_service.orders_table().c
    buyers = session.scalar(
        select(func.count(func.distinct(o.customer_id))).where(
            o.status != "cancelled",
            o.placed_at < datetime.combine(cal + timedelta(days=1), time(), UTC),
        )
    )
    assert card["customers"] == buyers  # those with a purchase by the calibration end
    assert sum(b["customers"] for b in card["models"]["bgnbd"]["calibration"]) == buyers
    # the choice `train` would have made at the calibration end, from the calibration
    # period only (its last third, 183 of 549 days, held out), scored on this holdout
    before = card["chosen_before_holdout"]
    assert (before["inner_calibration_end"], before["inner_holdout_end"]) == (
        "2025-07-02", "2026-01-01",
    )  # fmt: skip
    assert set(before["inner_models"]) == {"bgnbd", "pareto", "blend"}
    churn, counts = before["chosen"]["churn"], before["chosen"]["counts"]
    assert before["churn_brier"] == card["models"][churn]["churn_brier"]
    assert before["churn_roc_auc"] == card["models"][churn]["churn_roc_auc"]
    assert before["count_rmse"] == card["models"][counts]["count_rmse"]
    inner_briers = {k: v["churn_brier"] for k, v in before["inner_models"].items()}
    assert inner_briers[churn] == min(inner_briers.values())


def test_the_churn_booster_boosts_from_bgnbd_and_old_models_still_score(
    session: Session, store: Store
) -> None:
    days = data.purchase_days(session)
    act = data.activity(session, days)
    cutoff = day_number(AS_OF)
    fitted = engine.fit(days, act, cutoff, horizon_days=90)
    assert (fitted.churn_spec, fitted.training_rows) == ("bgnbd-base-v2", 581)
    stored = fitted.to_json()
    assert stored["churn_spec"] == "bgnbd-base-v2"
    again = engine.Fitted.from_json(stored)
    pred = engine.predictor(again, days, act, cutoff)
    s = pred.s
    x = engine.features(days, act, s, again.bgnbd, cutoff, again.window_days)
    names = list(engine.FEATURES)
    churn_b = again.boosters()[1]
    assert churn_b.num_feature() == len(engine.CHURN_FEATURES) == 20
    raw = churn_b.predict(x[:, [names.index(f) for f in engine.CHURN_FEATURES]], raw_score=True)
    bg_none = np.clip(x[:, names.index("bgnbd_p_none")], 1e-6, 1 - 1e-6)
    expected = 1 / (1 + np.exp(-(raw + np.log(bg_none / (1 - bg_none)))))
    assert pred.sup_none is not None
    np.testing.assert_allclose(pred.sup_none, expected, rtol=1e-12)
    # A model stored before the change (no churn_spec: its churn booster read the first 21
    # features, without a base) loads and scores as it was trained.
    count_cols = [names.index(f) for f in engine.COUNT_FEATURES]
    xt, yt, _ = engine.training_set(days, act, cutoff, fitted.window_days)
    legacy = {k: v for k, v in stored.items() if k != "churn_spec"}
    old_booster = engine._boost(xt[:, count_cols], (yt == 0).astype(np.int64), "binary")
    legacy["churn_booster"] = base64.b64encode(old_booster.encode()).decode()
    old = engine.Fitted.from_json(legacy)
    assert old.churn_spec == "v1"
    old_pred = engine.predictor(old, days, act, cutoff)
    assert old_pred.sup_none is not None
    want = lgb.Booster(model_str=old_booster).predict(x[:, count_cols])
    np.testing.assert_allclose(old_pred.sup_none, want, rtol=1e-12)
    assert int((np.abs(old_pred.sup_none - pred.sup_none) > 1e-9).sum()) > 0


def test_the_customer_360_carries_the_predictions(session: Session, store: Store) -> None:
    wire()
    service.train(session, as_of=AS_OF)
    service.score(session, as_of=AS_OF)
    cid = store.ids["pair"]
    fast = orjson.loads(
        customers_service.profile_360_json(session, customer_id=cid, currency="USD")
    )
    portable = orjson.loads(
        orjson.dumps(
            customers_service.profile_360(session, customer_id=cid, currency="USD"),
            option=orjson.OPT_UTC_Z,
        )
    )
    assert fast == portable  # the PostgreSQL one-statement path and the portable one agree
    pred = fast["predictions"]
    row = _rows(session)[cid]
    assert pred["churn_risk"] == row["churn_risk"]
    assert pred["predicted_clv"] == row["predicted_clv"]
    assert pred["expected_orders_90d"] == row["expected_orders_90d"]
    assert pred["as_of"] == AS_OF.isoformat()
    nobody = customers_service.profile_360_json(
        session, customer_id=store.ids["none"], currency="USD"
    )
    assert orjson.loads(nobody)["predictions"] is None


def test_scores_are_segment_conditions(session: Session, store: Store) -> None:
    wire()
    service.train(session, as_of=AS_OF)
    service.score(session, as_of=AS_OF)
    rows = _rows(session).values()
    high = segments_service.preview(session, query='churn_risk = "high"', sample=0)
    assert high.count == sum(r["churn_risk"] == "high" for r in rows)
    rich = segments_service.preview(session, query="predicted_clv > 50", sample=0)
    assert rich.count == sum(r["predicted_clv"] > 5000 for r in rows)  # 50 USD in cents
    assert 0 < rich.count < len(rows)


def test_backtest_and_train_jobs_write_their_artifacts(session: Session, store: Store) -> None:
    """The job path computes in a read-only session and writes in the job's own."""
    wire()
    cal = AS_OF - timedelta(days=120)
    bt = service.enqueue_backtest(session, calibration_end=cal, holdout_end=AS_OF)
    tr = service.enqueue_train(session, as_of=AS_OF)
    session.commit()
    stats = worker.WorkerStats()
    for kind in (service.BACKTEST_JOB, service.TRAIN_JOB):
        (job,) = jobs_service.claim(session, worker_id="w1", kinds=[kind])
        session.commit()
        worker.run_one(job, "w1", stats)
    assert (stats.done, stats.failed) == (2, 0)
    assert [jobs_service.get(session, job_id=j).status.value for j in (bt, tr)] == [
        "done", "done",
    ]  # fmt: skip
    cards = {(c.kind, c.version): c.card for c in service.list_models(session)}
    assert cards[("predictive.backtest", 1)]["calibration_end"] == cal.isoformat()
    assert cards[("predictive.clv", 1)]["as_of"] == AS_OF.isoformat()
    t = service.scores_table()
    assert session.scalar(select(func.count()).select_from(t)) == store.counted
    assert session.scalar(select(func.min(t.c.model_version))) == 1
