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


MIN_BACKTEST_DAYS = 56  # shorter histories get BG/NBD + Gamma-Gamma without a backtest


def select(
    days: Days, activity: engine.Activity, *, cutoff: int, minor_per_major: int
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The choice per quantity from the history up to `cutoff` only, as `patron models
    train` makes it: a backtest whose holdout is the last third of that history (28 to 365
    days). Returns the choice and the inner backtest's card (None when too short)."""
    start = int(days.day.min()) if len(days.day) else cutoff
    span = cutoff - start
    if span < MIN_BACKTEST_DAYS:
        return {
            "counts": "bgnbd", "spend": "bgnbd", "churn": "bgnbd",
            "why": f"{span} days of history: too short to backtest (needs "
            f"{MIN_BACKTEST_DAYS}); BG/NBD + Gamma-Gamma is the default",
        }, None  # fmt: skip
    holdout = int(min(365, max(28, span // 3)))
    report, _ = run(
        days, activity, calibration_end=cutoff - holdout, holdout_end=cutoff,
        minor_per_major=minor_per_major,
    )  # fmt: skip
    for v in report["models"].values():
        v.pop("calibration", None)
    return report["chosen"], report


def _before_holdout(
    days: Days,
    activity: engine.Activity,
    results: dict[str, dict[str, Any]],
    *,
    calibration_end: int,
    minor_per_major: int,
) -> dict[str, Any]:
    """The choice made before the holdout (`select` at calibration_end) and its figures on
    this holdout: the numbers a store would have got, unlike `chosen`, which is picked on
    the holdout it scores."""
    chosen, inner = select(days, activity, cutoff=calibration_end, minor_per_major=minor_per_major)

    def row(quantity: str) -> dict[str, Any]:
        name = chosen[quantity]
        return results[name] if name in results else results["bgnbd"]

    return {
        "chosen": chosen,
        "inner_calibration_end": inner["calibration_end"] if inner else None,
        "inner_holdout_end": inner["holdout_end"] if inner else None,
        "inner_models": inner["models"] if inner else None,
        "count_rmse": row("counts")["count_rmse"],
        "aggregate_error": row("counts")["aggregate_error"],
        "spend_mae": row("spend")["spend_mae"],
        "churn_roc_auc": row("churn")["churn_roc_auc"],
        "churn_pr_auc": row("churn")["churn_pr_auc"],
        "churn_brier": row("churn")["churn_brier"],
    }


def run(
    days: Days,
    activity: engine.Activity,
    *,
    calibration_end: int,
    holdout_end: int,
    minor_per_major: int,
    before_holdout: bool = False,
) -> tuple[dict[str, Any], engine.Fitted]:
    """Fit on days <= calibration_end, predict (calibration_end, holdout_end], compare.

    The population is every customer with a purchase by calibration_end; churn is "no
    purchase in the holdout", predicted by P(no purchase in the holdout). With
    `before_holdout`, the card also has `chosen_before_holdout`: the models `train` would
    have chosen at calibration_end (an inner backtest on the calibration period's last
    third) and their figures here."""
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
            "count_features": list(engine.COUNT_FEATURES),
            "churn_features": list(engine.CHURN_FEATURES),
            "churn_spec": fitted.churn_spec,
        },
        "models": results,
        "trap": trap,
        "chosen": choose(results),
        "chosen_before_holdout": (
            _before_holdout(
                days,
                activity,
                results,
                calibration_end=calibration_end,
                minor_per_major=minor_per_major,
            )  # fmt: skip
            if before_holdout
            else None
        ),
        "fit_seconds": round(fit_seconds, 3),
        "seconds": round(time.perf_counter() - started, 3),
    }
    return card, fitted
