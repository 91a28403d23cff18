"""Predictions: train, backtest and score customer lifetime value, churn risk and next order.

Models are versioned artifacts (`patron.artifacts`, kind `predictive.clv`, JSON payload:
parameters and LightGBM boosters as text; never pickle). Scores are one row per customer
in `predictive_scores`, written set-based (INSERT ... ON CONFLICT in chunks), with a
timeline entry for every customer whose churn tier changed. Services flush; the caller
(request, job, command) commits. Method and model card: docs/predictions.md, ADR 11.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import numpy as np
import orjson
from sqlalchemy import Table, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from patron.artifacts import service as artifacts_service
from patron.artifacts.schemas import ArtifactInfo
from patron.core.errors import NotFound, ValidationError
from patron.core.money import exponent
from patron.core.pagination import clamp_limit, decode_cursor, encode_cursor
from patron.core.time import utcnow
from patron.customers import service as customers_service
from patron.customers.schemas import TimelineEntryIn, TimelineKind
from patron.db import table_of
from patron.jobs import service as jobs_service
from patron.predictive import backtest as backtests
from patron.predictive import btyd, data, engine
from patron.predictive.history import EPOCH, WEEK, day_number, summarize
from patron.predictive.models import CustomerScore
from patron.predictive.schemas import (
    BACKTEST_KIND,
    CHURN_THRESHOLDS,
    MODEL_KIND,
    ChurnRisk,
    CustomerScoreRead,
    ModelCard,
    ScorePage,
    ScoreRun,
)
from patron.store import service as store_service

BACKTEST_JOB = "predictive.backtest"
TRAIN_JOB = "predictive.train"
SCORE_JOB = "predictive.score"
REFRESH_JOB = "predictive.refresh"  # nightly: retrain when the model is a week old, score
REFRESH_SCHEDULE = "predictive.nightly"
REFRESH_SECONDS = 24 * 3600
RETRAIN_AFTER = timedelta(days=7)
CHURN_HORIZON_DAYS = 90
MIN_BACKTEST_DAYS = backtests.MIN_BACKTEST_DAYS
_CHUNK = 5000

# Score columns offered to segment conditions (registered in patron.wiring): name -> (kind,
# description). Money is base-currency minor units, compared as the segments language does.
SEGMENT_FIELDS: dict[str, tuple[Literal["number", "money", "text"], str]] = {
    "predicted_clv": ("money", "discounted CLV over the horizon (base currency)"),
    "predicted_spend": ("money", "expected spend over the horizon (base currency)"),
    "churn_risk": ("text", "low, medium or high (P(no purchase in 90 days))"),
    "churn_probability": ("number", "P(no purchase in the next 90 days), 0..1"),
    "expected_orders_90d": ("number", "expected orders in the next 90 days"),
    "expected_orders_365d": ("number", "expected orders in the next 365 days"),
    "p_alive": ("number", "probability the customer is still active, 0..1"),
}


def scores_table() -> Table:
    """The per-customer scores table (Core), for other domains' set-based SQL (segments).

    Columns: customer_id (PK), model_version, model, churn_model, scored_at, as_of,
    currency, expected_orders_30d/_90d/_365d, orders_365d_low/_high (80% interval),
    horizon_months, predicted_spend, predicted_clv, clv_low, clv_high (base-currency
    minor units), churn_probability (P(no purchase in 90 days)), churn_risk (low, medium,
    high), p_alive, next_order_on, uncertain, uncertainty. Only customers with a counted
    order have a row.
    """
    return table_of(CustomerScore)


def _today() -> date:
    return utcnow().date()


def _currency(session: Session) -> str:
    return store_service.get_settings(session).base_currency


def _history(session: Session) -> tuple[Any, engine.Activity]:
    days = data.purchase_days(session)
    return days, data.activity(session, days)


# --- backtest -----------------------------------------------------------------------


def backtest(
    session: Session, *, calibration_end: date, holdout_end: date, save: bool = True
) -> dict[str, Any]:
    """Fit every candidate on the history up to `calibration_end` (inclusive), predict
    (calibration_end, holdout_end], report the metrics of each; store the model card."""
    if holdout_end <= calibration_end:
        raise ValidationError("holdout_end must be after calibration_end", field="holdout_end")
    days, act = _history(session)
    cal, ho = day_number(calibration_end), day_number(holdout_end)
    if days.n_customers == 0 or int(days.day.min()) > cal:
        raise ValidationError(
            "no counted orders on or before calibration_end", field="calibration_end"
        )
    if int((days.day <= cal).sum()) < 2:
        raise ValidationError("too few orders before calibration_end", field="calibration_end")
    currency = _currency(session)
    card, _ = backtests.run(
        days, act, calibration_end=cal, holdout_end=ho,
        minor_per_major=10 ** exponent(currency), before_holdout=True,
    )  # fmt: skip
    card = {"type": "backtest", "currency": currency, **card}
    return save_backtest(session, card=card) if save else card


def save_backtest(session: Session, *, card: dict[str, Any]) -> dict[str, Any]:
    """Store a backtest's model card as an artifact (kind predictive.backtest)."""
    info = artifacts_service.save(
        session, kind=BACKTEST_KIND, payload=orjson.dumps(card), format="json", card=card
    )
    return card | {"artifact_version": info.version}


# --- training -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrainingPlan:
    """A fitted model ready to store: computed from a read-only session (on SQLite the
    writer lock is taken only for the short write, not for the whole fit)."""

    payload: bytes
    card: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ScorePlan:
    rows: list[dict[str, Any]]
    model_version: int
    as_of: date
    scored_at: datetime
    started: float


def train(
    session: Session,
    *,
    as_of: date | None = None,
    horizon_months: int = 12,
    annual_discount_rate: float = 0.10,
) -> ModelCard:
    """Pick the models by a backtest on the store's own recent past, then fit them on the
    whole history up to `as_of` and store the result as the active model version."""
    plan = plan_training(
        session, as_of=as_of, horizon_months=horizon_months,
        annual_discount_rate=annual_discount_rate,
    )  # fmt: skip
    return save_training(session, plan=plan)


def save_training(session: Session, *, plan: TrainingPlan) -> ModelCard:
    info = artifacts_service.save(
        session, kind=MODEL_KIND, payload=plan.payload, format="json", card=plan.card
    )
    return _card(info)


def plan_training(
    session: Session,
    *,
    as_of: date | None = None,
    horizon_months: int = 12,
    annual_discount_rate: float = 0.10,
) -> TrainingPlan:
    """The computation of `train` (reads only)."""
    as_of = as_of or _today()
    days, act = _history(session)
    cutoff = day_number(as_of)
    if days.n_customers == 0 or int(days.day.min()) > cutoff:
        raise ValidationError("no counted orders to train on", field="as_of")
    currency = _currency(session)
    start = int(days.day.min())
    selection, report = backtests.select(
        days, act, cutoff=cutoff, minor_per_major=10 ** exponent(currency)
    )
    started = time.perf_counter()
    fitted = engine.fit(days, act, cutoff, horizon_days=CHURN_HORIZON_DAYS)
    s = summarize(days, cutoff)
    card = {
        "type": "model",
        "as_of": as_of.isoformat(),
        "history_start": (EPOCH + timedelta(days=start)).isoformat(),
        "customers": int(s.present.sum()),
        "repeat_customers": int((s.x > 0).sum()),
        "purchase_days": int(s.n.sum()),
        "currency": currency,
        "horizon_months": horizon_months,
        "annual_discount_rate": annual_discount_rate,
        "churn_horizon_days": CHURN_HORIZON_DAYS,
        "churn_tiers": {"medium_from": CHURN_THRESHOLDS[0], "high_from": CHURN_THRESHOLDS[1]},
        "chosen": selection,
        "parameters": {
            "bgnbd": fitted.bgnbd.params() | {"loglik": fitted.bgnbd_loglik},
            "pareto": fitted.pareto.params() if fitted.pareto else None,
            "gamma_gamma": fitted.gamma_gamma.params(),
        },
        "supervised": {
            "window_days": fitted.window_days,
            "training_rows": fitted.training_rows,
            "training_cutoffs": [
                (EPOCH + timedelta(days=c)).isoformat() for c in fitted.training_cutoffs
            ],
            "features": engine.FEATURES,
            "count_features": list(engine.COUNT_FEATURES),
            "churn_features": list(engine.CHURN_FEATURES),
            "churn_spec": fitted.churn_spec,
        },
        "backtest": report,
        "fit_seconds": round(time.perf_counter() - started, 3),
    }
    payload = {
        "fitted": fitted.to_json(),
        "chosen": selection,
        "horizon_months": horizon_months,
        "annual_discount_rate": annual_discount_rate,
    }
    return TrainingPlan(payload=orjson.dumps(payload), card=card)


def _card(info: ArtifactInfo) -> ModelCard:
    return ModelCard(
        kind=info.kind,
        version=info.version,
        active=info.active,
        created_at=info.created_at,
        size_bytes=info.size_bytes,
        card=info.card,
    )


def list_models(session: Session) -> list[ModelCard]:
    """Every trained model and backtest card, newest first."""
    return [
        _card(i)
        for kind in (MODEL_KIND, BACKTEST_KIND)
        for i in artifacts_service.list_versions(session, kind=kind)
    ]


def get_model(session: Session, *, kind: str, version: int) -> ModelCard:
    if kind not in (MODEL_KIND, BACKTEST_KIND):
        raise NotFound(f"no model kind {kind!r}", field="kind")
    for info in artifacts_service.list_versions(session, kind=kind):
        if info.version == version:
            return _card(info)
    raise NotFound(f"no {kind} version {version}", field="version")


# --- scoring ------------------------------------------------------------------------


def _tier(p: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    lo, hi = CHURN_THRESHOLDS
    return np.where(p >= hi, "high", np.where(p >= lo, "medium", "low"))


def _pick(pred: engine.Predictor, name: str, t: float) -> tuple[Any, Any]:
    got = pred.model(name, t) if name in pred.available() else None
    return got if got is not None else pred.bg(t)


def score(session: Session, *, as_of: date | None = None) -> ScoreRun:
    """Score every customer with a counted order with the active model (set-based)."""
    return apply_scores(session, plan=plan_scores(session, as_of=as_of))


def plan_scores(
    session: Session, *, as_of: date | None = None, model: TrainingPlan | None = None
) -> ScorePlan:
    """The computation of `score` (reads only): one row per customer, ready to upsert.
    With `model`, scores with a just-trained model that is not stored yet (its version is
    given to `apply_scores`)."""
    started = time.perf_counter()
    version = 0
    if model is None:
        artifact = artifacts_service.load_active(session, kind=MODEL_KIND)
        if artifact is None:
            raise NotFound("no trained model: run `patron models train` first", field="model")
        raw, version = artifact.payload, artifact.version
    else:
        raw = model.payload
    payload = orjson.loads(raw)
    fitted = engine.Fitted.from_json(payload["fitted"])
    chosen = payload["chosen"]
    months = int(payload["horizon_months"])
    as_of = as_of or _today()
    cutoff = day_number(as_of)
    days, act = _history(session)
    pred = engine.predictor(fitted, days, act, cutoff)
    s = pred.s
    counts, churn_m = chosen.get("counts", "bgnbd"), chosen.get("churn", "bgnbd")
    spend_m = chosen.get("spend", counts)
    c30 = _pick(pred, counts, 30)[0]
    c90 = _pick(pred, counts, 90)[0]
    c365 = _pick(pred, counts, 365)[0]
    p_none = _pick(pred, churn_m, CHURN_HORIZON_DAYS)[1]
    bg365, _ = pred.bg(365)
    lo, hi = btyd.bgnbd_count_interval(fitted.bgnbd, 365 / WEEK, s.x, s.t_x, s.T)
    ratio = c365 / np.maximum(bg365, 1e-12)
    lo, hi = np.minimum(lo * ratio, c365), np.maximum(hi * ratio, c365)
    value = pred.value()
    spend, clv = engine.clv(
        lambda t: _pick(pred, spend_m, t)[0],
        value,
        months=months,
        annual_discount=float(payload["annual_discount_rate"]),
    )
    # P(alive): Pareto/NBD's when fitted (BG/NBD's is exactly 1 for every one-time buyer).
    alive = btyd.bgnbd_p_alive(fitted.bgnbd, s.x, s.t_x, s.T)
    if fitted.pareto is not None:
        with np.errstate(all="ignore"):
            pa = btyd.pnbd_p_alive(fitted.pareto, s.x, s.t_x, s.T)
        alive = np.where(np.isfinite(pa), pa, alive)
    wait = btyd.bgnbd_next_purchase_wait(fitted.bgnbd, s.x, s.t_x, s.T)
    tiers = _tier(p_none)
    now = utcnow()
    currency = _currency(session)
    idx = np.flatnonzero(s.present)
    # Columns as NumPy, then plain Python values in one pass (executemany rows).
    ids = days.customer_ids[idx]
    wait_days = np.ceil(wait[idx] * WEEK)
    soon = np.isfinite(wait_days) & (wait_days < 3650)
    next_on = [
        as_of + timedelta(days=max(1, int(d))) if ok else None
        for d, ok in zip(np.where(soon, wait_days, 0).tolist(), soon.tolist(), strict=True)
    ]
    why = np.where(
        s.T[idx] < engine.NEW_CUSTOMER_WEEKS,
        "new_customer",
        np.where(s.x[idx] == 0, "one_time_buyer", ""),
    )
    width = np.where(c365[idx] > 0, c365[idx], 1.0)
    columns: dict[str, list[Any]] = {
        "customer_id": ids.tolist(),
        "expected_orders_30d": np.round(c30[idx], 6).tolist(),
        "expected_orders_90d": np.round(c90[idx], 6).tolist(),
        "expected_orders_365d": np.round(c365[idx], 6).tolist(),
        "orders_365d_low": np.round(lo[idx], 6).tolist(),
        "orders_365d_high": np.round(hi[idx], 6).tolist(),
        "predicted_spend": np.rint(spend[idx]).astype(np.int64).tolist(),
        "predicted_clv": np.rint(clv[idx]).astype(np.int64).tolist(),
        "clv_low": np.rint(clv[idx] * lo[idx] / width).astype(np.int64).tolist(),
        "clv_high": np.rint(clv[idx] * hi[idx] / width).astype(np.int64).tolist(),
        "churn_probability": np.round(p_none[idx], 6).tolist(),
        "churn_risk": tiers[idx].tolist(),
        "p_alive": np.round(alive[idx], 6).tolist(),
        "next_order_on": next_on,
        "uncertain": (why != "").tolist(),
        "uncertainty": [w or None for w in why.tolist()],
    }
    fixed = {
        "model_version": version, "model": counts, "churn_model": churn_m,
        "scored_at": now, "as_of": as_of, "currency": currency, "horizon_months": months,
    }  # fmt: skip
    keys = list(columns)
    rows = [
        fixed | dict(zip(keys, values, strict=True))
        for values in zip(*columns.values(), strict=True)
    ]
    return ScorePlan(rows, version, as_of, now, started)


def apply_scores(
    session: Session, *, plan: ScorePlan, model_version: int | None = None
) -> ScoreRun:
    """Upsert the planned rows, drop customers no longer scored, and put every churn tier
    change on the customer's timeline (one insert)."""
    if model_version is not None:
        plan = ScorePlan(
            [r | {"model_version": model_version} for r in plan.rows],
            model_version, plan.as_of, plan.scored_at, plan.started,
        )  # fmt: skip
    table = scores_table()
    old = {
        int(c): str(r) for c, r in session.execute(select(table.c.customer_id, table.c.churn_risk))
    }
    changes = [
        TimelineEntryIn(
            customer_id=r["customer_id"],
            occurred_at=plan.scored_at,
            kind=TimelineKind.PREDICTION,
            title=f"Churn risk {old[r['customer_id']]} -> {r['churn_risk']}",
            data={
                "from": old[r["customer_id"]],
                "to": r["churn_risk"],
                "churn_probability": round(r["churn_probability"], 4),
                "model_version": plan.model_version,
            },
        )
        for r in plan.rows
        if old.get(r["customer_id"], r["churn_risk"]) != r["churn_risk"]
    ]
    _upsert(session, table, plan.rows)
    gone = session.execute(delete(table).where(table.c.scored_at != plan.scored_at))
    removed = getattr(gone, "rowcount", 0)
    customers_service.add_timeline_entries(session, changes)
    session.flush()
    return ScoreRun(
        model_version=plan.model_version,
        scored=len(plan.rows),
        removed=int(removed or 0),
        tier_changes=len(changes),
        as_of=plan.as_of,
        seconds=round(time.perf_counter() - plan.started, 3),
    )


def _upsert(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    pg = session.get_bind().dialect.name == "postgresql"
    ins = (pg_insert if pg else sqlite_insert)(table)
    cols = [c for c in rows[0] if c != "customer_id"]
    stmt = ins.on_conflict_do_update(
        index_elements=["customer_id"], set_={c: ins.excluded[c] for c in cols}
    )
    conn = session.connection()
    for start in range(0, len(rows), _CHUNK):
        conn.execute(stmt, rows[start : start + _CHUNK])


def needs_training(session: Session) -> bool:
    """No model yet, or the active one is older than a week (the nightly refresh)."""
    info = artifacts_service.active_info(session, kind=MODEL_KIND)
    return info is None or utcnow() - info.created_at > RETRAIN_AFTER


def refresh(session: Session) -> ScoreRun:
    """The scheduled job: retrain when `needs_training`, then score."""
    if needs_training(session):
        train(session)
    return score(session)


# --- reads --------------------------------------------------------------------------


def get_score(session: Session, *, customer_id: int) -> CustomerScoreRead:
    t = scores_table()
    row = session.execute(select(t).where(t.c.customer_id == customer_id)).mappings().first()
    if row is None:
        raise NotFound(f"no scores for customer {customer_id}", field="customer_id")
    return CustomerScoreRead.model_validate(dict(row))


def list_scores(
    session: Session,
    *,
    churn_risk: ChurnRisk | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> ScorePage:
    """Scores by customer id (keyset-paginated), optionally of one churn tier."""
    limit = clamp_limit(limit)
    t = scores_table()
    stmt = select(t).order_by(t.c.customer_id).limit(limit + 1)
    if churn_risk is not None:
        stmt = stmt.where(t.c.churn_risk == ChurnRisk(churn_risk).value)
    if cursor:
        (after,) = decode_cursor(cursor, arity=1)
        if not isinstance(after, int):
            raise ValidationError("cursor is not valid", field="cursor")
        stmt = stmt.where(t.c.customer_id > after)
    rows = [CustomerScoreRead.model_validate(dict(r)) for r in session.execute(stmt).mappings()]
    nxt = encode_cursor([rows[limit - 1].customer_id]) if len(rows) > limit else None
    return ScorePage(items=rows[:limit], next_cursor=nxt)


# --- jobs ---------------------------------------------------------------------------


def enqueue_backtest(session: Session, *, calibration_end: date, holdout_end: date) -> int | None:
    if holdout_end <= calibration_end:
        raise ValidationError("holdout_end must be after calibration_end", field="holdout_end")
    return jobs_service.enqueue(
        session,
        kind=BACKTEST_JOB,
        payload={
            "calibration_end": calibration_end.isoformat(),
            "holdout_end": holdout_end.isoformat(),
        },
        max_attempts=2,
    )


def enqueue_train(
    session: Session,
    *,
    as_of: date | None = None,
    horizon_months: int = 12,
    annual_discount_rate: float = 0.10,
    then_score: bool = True,
) -> int | None:
    return jobs_service.enqueue(
        session,
        kind=TRAIN_JOB,
        payload={
            "as_of": as_of.isoformat() if as_of else None,
            "horizon_months": horizon_months,
            "annual_discount_rate": annual_discount_rate,
            "score": then_score,
        },
        dedupe_key="predictive.train",
        max_attempts=2,
    )


def enqueue_score(session: Session) -> int | None:
    return jobs_service.enqueue(
        session, kind=SCORE_JOB, payload={}, dedupe_key="predictive.score", max_attempts=3
    )


# --- the customer 360 ---------------------------------------------------------------


_FIELDS_360 = (
    "model_version", "model", "churn_model", "as_of", "currency", "expected_orders_30d",
    "expected_orders_90d", "expected_orders_365d", "orders_365d_low", "orders_365d_high",
    "horizon_months", "predicted_spend", "predicted_clv", "clv_low", "clv_high",
    "churn_probability", "churn_risk", "p_alive", "next_order_on", "uncertain", "uncertainty",
)  # fmt: skip


def _read_360(session: Session, customer_id: int) -> dict[str, Any] | None:
    t = scores_table()
    row = session.execute(select(t).where(t.c.customer_id == customer_id)).mappings().first()
    if row is None:
        return None
    out = {k: row[k] for k in _FIELDS_360}
    out["scored_at"] = row["scored_at"].astimezone(UTC)
    return out


def profile_extension() -> customers_service.ProfileExtension:
    """The "predictions" section of the customer 360 (wired in patron.wiring): one more
    subquery inside the PostgreSQL one-statement read, by primary key."""
    pairs = [f"'{k}', s.{k}" for k in _FIELDS_360]
    pairs.append(f"'scored_at', {customers_service.json_timestamp_sql('s.scored_at')}")
    sql = (
        "SELECT json_build_object(" + ", ".join(pairs) + ") FROM predictive_scores s"
        " WHERE s.customer_id = c.id"
    )
    return customers_service.ProfileExtension(key="predictions", pg_json=sql, read=_read_360)
