"""CLV accuracy and speed on the real CDNOW data: Patron next to the `lifetimes` package.

Protocol of Fader, Hardie & Lee (2005): weeks; calibration weeks 1-39 (1997-01-01 ..
1997-09-30), holdout weeks 40-78 (.. 1998-06-30); same-day purchases merged. Patron runs
exactly the code of `patron models backtest` (predictive.backtest.run) on the file's
purchase days; `lifetimes` 0.11.3 runs in its own venv on the same calibration summary
(bench/clv_cdnow_lifetimes.py), and both are scored by the same metric code.

    python3 -m venv .venv-bench && .venv-bench/bin/pip install -r bench/requirements-lifetimes.txt
    .venv/bin/python bench/clv_cdnow.py [--customers 1000000] [--repeats 3]

Prints a table, then one JSON line (also written to bench/results/clv_cdnow.json).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np

from patron.predictive import backtest, btyd, engine, metrics
from patron.predictive.history import Days, day_number, outcomes, summarize

ROOT = Path(__file__).resolve().parent.parent
DATA = Path("/work/shared/data/cdnow")
LIFETIMES_PY = ROOT / ".venv-bench" / "bin" / "python"
CAL_END, HOLDOUT_END = day_number(date(1997, 9, 30)), day_number(date(1998, 6, 30))
REFERENCE = {
    "bgnbd_count_mae": 0.819, "bgnbd_count_rmse": 1.733, "bgnbd_aggregate_error": -0.143,
    "pareto_count_rmse": 1.726, "pareto_churn_roc_auc": 0.763, "pareto_churn_brier": 0.166,
}  # fmt: skip
TARGET = {
    "count_rmse_max": 1.72, "aggregate_error_abs_max": 0.08, "spend_mae_max": 32.0,
    "churn_roc_auc_min": 0.765, "churn_brier_max": 0.165, "speedup_min": 5.0,
}  # fmt: skip


def load(path: Path) -> Days:
    """The file as Patron imports it: one row per line, dollars to cents, UTC days."""
    cid, day, spend = [], [], []
    with path.open() as f:
        for line in f:
            parts = line.split()
            if not parts or not parts[0].isdigit():
                continue  # the header
            d = parts[-3]
            cid.append(int(parts[0]))
            day.append(day_number(date(int(d[:4]), int(d[4:6]), int(d[6:]))))
            spend.append(round(float(parts[-1]) * 100))
    return Days.build(
        np.array(cid, dtype=np.int64), np.array(day, dtype=np.int64), np.array(spend, float)
    )


def run_lifetimes(payload: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(src, **payload)
        proc = subprocess.run(
            [str(LIFETIMES_PY), str(ROOT / "bench" / "clv_cdnow_lifetimes.py"), str(src), str(dst)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        out = dict(np.load(dst))
    return json.loads(proc.stdout.strip().splitlines()[-1]), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1_000_000, help="speed run population")
    ap.add_argument("--repeats", type=int, default=3, help="Patron speed runs (median)")
    args = ap.parse_args()

    # 1. The paper's parameters on the 2,357-customer sample.
    sample = summarize(load(DATA / "CDNOW_sample.txt"), CAL_END)
    paper_fit, paper_ll = btyd.fit_bgnbd(sample.x, sample.t_x, sample.T)

    # 2. The full data: Patron's backtest (every candidate), as `patron models backtest`.
    days = load(DATA / "CDNOW_master.txt")
    card, fitted = backtest.run(
        days, engine.Activity.empty(), calibration_end=CAL_END, holdout_end=HOLDOUT_END,
        minor_per_major=100, before_holdout=True,
    )  # fmt: skip
    patron = {
        k: {m: v for m, v in r.items() if m != "calibration"} for k, r in card["models"].items()
    }

    # 3. lifetimes on the same calibration summary; scored by the same metric code.
    s = summarize(days, CAL_END)
    actual, spend = outcomes(days, CAL_END, HOLDOUT_END)
    h = (HOLDOUT_END - CAL_END) / 7
    rng = np.random.default_rng(0)
    pick = rng.integers(0, days.n_customers, args.customers)
    big_x, big_t, big_T = s.x[pick], s.t_x[pick], s.T[pick]
    info, lt = run_lifetimes(
        {"x": s.x, "t_x": s.t_x, "T": s.T, "m": s.mean_repeat_value / 100, "h": np.array(h),
         "big_x": big_x, "big_t_x": big_t, "big_T": big_T}
    )  # fmt: skip
    value = lt["gg_value"] * 100

    def score(pred: np.ndarray, none: np.ndarray) -> dict[str, Any]:
        r = metrics.evaluate(
            pred_count=pred, pred_spend=pred * value, p_none=none, actual_count=actual,
            actual_spend=spend, minor_per_major=100,
        )  # fmt: skip
        r.pop("calibration")
        return r

    lifetimes = {
        "bgnbd": score(lt["bg_pred"], 1 - lt["bg_alive"]),  # lifetimes has no BG/NBD P(0)
        "pareto": score(lt["pn_pred"], lt["pn_none"]),
    }
    lifetimes["bgnbd"]["churn_score"] = "1 - P(alive) (the trap)"

    # 4. Speed: BG/NBD fit + 39-week prediction for a resampled population, same run.
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        p_big, _ = btyd.fit_bgnbd(big_x, big_t, big_T)
        btyd.bgnbd_expected(p_big, h, big_x, big_t, big_T)
        times.append(time.perf_counter() - t0)
    lt_big = btyd.BgNbd(*(float(v) for v in lt["big_params"]))
    ll_patron = float(btyd.bgnbd_loglik(p_big, big_x, big_t, big_T).sum())
    ll_lifetimes = float(btyd.bgnbd_loglik(lt_big, big_x, big_t, big_T).sum())
    speed = {
        "customers": args.customers,
        "patron_fit_predict_s": round(median(times), 3),
        "patron_runs": len(times),
        "lifetimes_fit_predict_s": round(info["million_bgnbd_fit_predict_s"], 3),
        "lifetimes_runs": 1,
        "speedup": round(info["million_bgnbd_fit_predict_s"] / median(times), 1),
        "loglik_patron": round(ll_patron, 2),
        "loglik_lifetimes": round(ll_lifetimes, 2),
    }
    # 5. The choice as `patron models train` makes it: by a backtest inside the calibration
    # period only (its last third held out), then applied to the real holdout (the card's
    # `chosen_before_holdout`, as `patron models backtest` reports it).
    nested_result = dict(card["chosen_before_holdout"])
    nested_result["inner_models"] = {
        k: {m: r[m] for m in ("count_rmse", "spend_mae", "churn_roc_auc", "churn_brier")}
        for k, r in nested_result["inner_models"].items()
    }
    chosen = card["chosen"]
    headline = {
        "count_rmse": patron[chosen["counts"]]["count_rmse"],
        "aggregate_error": patron[chosen["counts"]]["aggregate_error"],
        "spend_mae": patron[chosen["spend"]]["spend_mae"],
        "churn_roc_auc": patron[chosen["churn"]]["churn_roc_auc"],
        "churn_brier": patron[chosen["churn"]]["churn_brier"],
    }
    result = {
        "bench": "clv_cdnow",
        "customers": card["customers"],
        "paper_sample_bgnbd": {k: round(v, 4) for k, v in paper_fit.params().items()}
        | {"loglik": round(paper_ll, 2)},
        "patron": patron,
        "patron_chosen": chosen,
        "patron_headline": headline,
        "patron_chosen_before_holdout": nested_result,
        "patron_trap_auc": card["trap"]["churn_roc_auc"],
        "lifetimes": lifetimes,
        "lifetimes_params": {
            "bgnbd": [round(float(v), 4) for v in lt["bg_params"]],
            "pareto": [round(float(v), 4) for v in lt["pn_params"]],
            "gamma_gamma": [round(float(v), 4) for v in lt["gg_params"]],
        },
        "patron_params": card["parameters"],
        "reference": REFERENCE,
        "target": TARGET,
        "speed": speed,
        "versions": {"lifetimes": info["lifetimes"], "pandas_in_bench_venv": info["pandas"]},
        "machine": {"python": sys.version.split()[0], "date": time.strftime("%Y-%m-%d")},
    }
    print(f"{'model':<22}{'MAE':>8}{'RMSE':>8}{'total':>9}{'spendMAE':>10}{'AUC':>8}{'Brier':>8}")
    for side, block in (("patron", patron), ("lifetimes", lifetimes)):
        for name, m in block.items():
            print(
                f"{side + ' ' + name:<22}{m['count_mae']:>8}{m['count_rmse']:>8}"
                f"{m['aggregate_error']:>9}{m['spend_mae']:>10}{m['churn_roc_auc']:>8}"
                f"{m['churn_brier']:>8}"
            )
    print(f"chosen on the holdout: {chosen['why']}")
    print(f"chosen before it (as train does): {nested_result}")
    print(f"speed ({args.customers:,} customers): {speed}")
    out = ROOT / "bench" / "results" / "clv_cdnow.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    main()
