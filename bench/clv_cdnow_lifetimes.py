"""The `lifetimes` side of bench/clv_cdnow.py. Runs in its own venv (.venv-bench, from
bench/requirements-lifetimes.txt: lifetimes 0.11.3 needs pandas < 3), never in Patron's.

    python clv_cdnow_lifetimes.py IN.npz OUT.npz

IN holds the calibration summary (x, t_x, T, mean repeat value), the holdout length in
weeks and optionally a resampled population for the speed run; OUT gets the predictions,
fitted parameters and timings. Stdout: one JSON line (versions, timings).
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import lifetimes
import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter

warnings.filterwarnings("ignore")


def main() -> None:
    src, dst = sys.argv[1], sys.argv[2]
    d = np.load(src)
    x, t_x, T, m = d["x"], d["t_x"], d["T"], d["m"]
    h = float(d["h"])
    out: dict[str, np.ndarray] = {}
    times: dict[str, float] = {}

    t0 = time.perf_counter()
    bg = BetaGeoFitter().fit(x, t_x, T)
    out["bg_pred"] = np.asarray(
        bg.conditional_expected_number_of_purchases_up_to_time(h, x, t_x, T)
    )
    out["bg_alive"] = np.asarray(bg.conditional_probability_alive(x, t_x, T))
    times["bgnbd_fit_predict_s"] = time.perf_counter() - t0
    out["bg_params"] = np.array([bg.params_[k] for k in ("r", "alpha", "a", "b")])

    t0 = time.perf_counter()
    pn = ParetoNBDFitter().fit(x, t_x, T)
    out["pn_pred"] = np.asarray(
        pn.conditional_expected_number_of_purchases_up_to_time(h, x, t_x, T)
    )
    out["pn_none"] = np.asarray(
        pn.conditional_probability_of_n_purchases_up_to_time(0, h, x, t_x, T)
    )
    times["pareto_fit_predict_s"] = time.perf_counter() - t0
    out["pn_params"] = np.array([pn.params_[k] for k in ("r", "alpha", "s", "beta")])

    keep = (x > 0) & (m > 0)
    gg = GammaGammaFitter().fit(pd.Series(x[keep]), pd.Series(m[keep]))
    out["gg_value"] = np.asarray(gg.conditional_expected_average_profit(pd.Series(x), pd.Series(m)))
    out["gg_params"] = np.array([gg.params_[k] for k in ("p", "q", "v")])

    if "big_x" in d:
        bx, bt, bT = d["big_x"], d["big_t_x"], d["big_T"]
        t0 = time.perf_counter()
        big = BetaGeoFitter().fit(bx, bt, bT)
        big.conditional_expected_number_of_purchases_up_to_time(h, bx, bt, bT)
        times["million_bgnbd_fit_predict_s"] = time.perf_counter() - t0
        out["big_params"] = np.array([big.params_[k] for k in ("r", "alpha", "a", "b")])
    np.savez(dst, **out)
    print(json.dumps({"lifetimes": lifetimes.__version__, "pandas": pd.__version__, **times}))


if __name__ == "__main__":
    main()
