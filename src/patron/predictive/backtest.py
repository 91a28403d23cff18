"""Calibration / holdout backtests of every candidate model (pure; no I/O)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from patron.predictive import btyd, engine, metrics
from patron.predictive.history import Days, day_to_iso, outcomes


def choose(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Counts: the lowest count RMSE; spend (and CLV): the lowest spend MAE; churn: the
    lowest Brier score (a proper score: it rewards calibrated probabilities, not just
    ranking). Ties go to the simpler model (candidate order)."""

    def best(key: str) -> str:
        ok = [(results[n][key], i, n) for i, n in enumerate(results) if results[n][key] is not None]
        return min(ok)[2] if ok else "bgnbd"

    counts, spend, churn = best("count_rmse"), best("spend_mae"), best("churn_brier")
    return {
        "counts": counts,
        "spend": spend,
        "churn": churn,
        "why": (
            f"lowest holdout count RMSE: {counts} ({results[counts]['count_rmse']}); "
            f"lowest spend MAE: {spend} ({results[spend]['spend_mae']}); "
            f"lowest churn Brier score: {churn} ({results[churn]['churn_brier']})"
        ),
    }


def run(
    days: Days,
    activity: engine.Activity,
    *,
    calibration_end: int,
    holdout_end: int,
    minor_per_major: int,
) -> tuple[dict[str, Any], engine.Fitted]:
    """Fit on days <= calibration_end, predict (calibration_end, holdout_end], compare.

    The population is every customer with a purchase by calibration_end; churn is "no
    purchase in the holdout", predicted by P(no purchase in the holdout)."""
    started = time.perf_counter()
    horizon = holdout_end - calibration_end
    fitted = engine.fit(days, activity, calibration_end, horizon_days=horizon)
    fit_seconds = time.perf_counter() - started
    pred = engine.predictor(fitted, days, activity, calibration_end)
    present = pred.s.present
    actual_count, actual_spend = outcomes(days, calibration_end, holdout_end)
    ac, asp = actual_count[present], actual_spend[present]
    value = pred.value()[present]
    results: dict[str, dict[str, Any]] = {}
    for name in pred.available():
        got = pred.model(name, float(horizon))
        assert got is not None
        count, none = got[0][present], got[1][present]
        results[name] = metrics.evaluate(
            pred_count=count,
            pred_spend=count * value,
            p_none=none,
            actual_count=ac,
            actual_spend=asp,
            minor_per_major=minor_per_major,
        )
    # The known trap, reported so nobody uses it: 1 - P(alive) as a churn score.
    alive = pred.s.present
    p_alive = btyd.bgnbd_p_alive(fitted.bgnbd, pred.s.x, pred.s.t_x, pred.s.T)
    churned = (ac == 0).astype(np.float64)
    trap = {
        "score": "1 - BG/NBD P(alive)",
        "churn_roc_auc": round(metrics.roc_auc(1 - p_alive[alive], churned), 4),
        "note": "P(alive) is 1 for every customer without a repeat purchase; do not use",
    }
    n = int(present.sum())
    card = {
        "customers": n,
        "repeat_customers": int((pred.s.x[present] > 0).sum()),
        "calibration_purchases": int(pred.s.n[present].sum()),
        "holdout_purchases": int(ac.sum()),
        "calibration_start": day_to_iso(int(days.day.min()) if len(days.day) else calibration_end),
        "calibration_end": day_to_iso(calibration_end),
        "holdout_end": day_to_iso(holdout_end),
        "horizon_days": horizon,
        "unit": "week",
        "parameters": {
            "bgnbd": fitted.bgnbd.params() | {"loglik": round(fitted.bgnbd_loglik, 4)},
            "pareto": (fitted.pareto.params() | {"loglik": round(fitted.pareto_loglik or 0, 4)})
            if fitted.pareto
            else None,
            "gamma_gamma": fitted.gamma_gamma.params(),
        },
        "supervised": {
            "window_days": fitted.window_days,
            "training_rows": fitted.training_rows,
            "training_cutoffs": fitted.training_cutoffs,
            "features": engine.FEATURES,
        },
        "models": results,
        "trap": trap,
        "chosen": choose(results),
        "fit_seconds": round(fit_seconds, 3),
        "seconds": round(time.perf_counter() - started, 3),
    }
    return card, fitted
