"""The candidate models, fitted and applied to purchase histories (pure NumPy; no I/O).

Candidates:
- `bgnbd`: BG/NBD counts and P(no purchase), Gamma-Gamma spend.
- `pareto`: Pareto/NBD counts and P(no purchase), Gamma-Gamma spend.
- `supervised`: LightGBM (Poisson counts, binary "no purchase") over RFM, timing, BG/NBD,
  browsing and cart features, trained with time-shifted labels: features up to c, labels
  over (c, c + w] with c + w <= the cutoff, never from the period being predicted. Its
  window w is min(horizon, half the history); other horizons follow BG/NBD's curve
  (counts scaled by E_bg(t) / E_bg(w); P(none in t) = P_sup(none in w) * P_bg(none in t) /
  P_bg(none in w), the BG/NBD chance of staying silent for the rest of t). The churn
  booster starts from BG/NBD's P(none) (its logit as initial score) and learns corrections
  from the features that stay in range at a later cutoff (no raw weeks: their ratios).
- `blend`: the mean of the three.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from patron.predictive import btyd
from patron.predictive.history import WEEK, Days, FloatArray, IntArray, Summary, outcomes, summarize

CANDIDATES = ("bgnbd", "pareto", "supervised", "blend")
NEW_CUSTOMER_WEEKS = 4.0  # younger than this: too little history for a confident number
MIN_TRAINING_ROWS = 200
MAX_TRAINING_ROWS = 200_000  # a seeded sample beyond this: LightGBM's cost, not its accuracy

# Feature name -> where it comes from. Sources Patron does not hold yet are zero columns,
# listed in the model card, so a model trained later with them is comparable.
FEATURES: dict[str, str] = {
    "repeat_purchases": "orders", "weeks_first_to_last": "orders", "weeks_since_first": "orders",
    "weeks_since_last": "orders", "mean_order_value": "orders", "last_order_value": "orders",
    "total_spend": "orders", "purchases_last_4_weeks": "orders",
    "purchases_last_13_weeks": "orders", "mean_weeks_between": "orders",
    "bgnbd_expected": "orders", "bgnbd_p_none": "orders", "bgnbd_p_alive": "orders",
    "page_views_30d": "events", "page_views_total": "events", "product_views_30d": "events",
    "carts_30d": "carts", "carts_abandoned_total": "carts",
    "support_tickets": "missing (no support domain yet)",
    "email_opens_30d": "missing (no messaging domain yet)",
    "email_clicks_30d": "missing (no messaging domain yet)",
    "recency_share": "orders", "active_share": "orders", "recency_over_gap": "orders",
}  # fmt: skip
# The count booster reads the first 21 features (as before the churn change of 2026-12-01).
# The churn booster boosts from BG/NBD's P(none) (its logit is the initial score) and leaves
# out the four features in raw weeks (first to last, since first, since last, mean gap):
# their values at a later cutoff lie beyond the training range, where trees go flat; the
# ratios carry the same shape and stay in range. Chosen by backtests inside the CDNOW
# calibration period only (ADR 11, 2026-12-01 paragraph).
COUNT_FEATURES = tuple(list(FEATURES)[:21])
_RAW_WEEKS = ("weeks_first_to_last", "weeks_since_first", "weeks_since_last", "mean_weeks_between")
CHURN_FEATURES = tuple(f for f in FEATURES if f not in _RAW_WEEKS)
CHURN_SPEC = "bgnbd-base-v2"  # "v1": all 21 features, no base (artifacts before 2026-12-01)
_COUNT_COLS = [list(FEATURES).index(f) for f in COUNT_FEATURES]
_CHURN_COLS = [list(FEATURES).index(f) for f in CHURN_FEATURES]
_BG_NONE_COL = list(FEATURES).index("bgnbd_p_none")
ACTIVITY_KINDS = ("page_view", "product_view", "cart", "cart_abandoned")


@dataclass(frozen=True, slots=True)
class Activity:
    """Per customer-day activity counts (idx aligned with Days.customer_ids)."""

    idx: IntArray
    day: IntArray
    kind: IntArray  # index into ACTIVITY_KINDS
    count: FloatArray

    def upto(self, cutoff: int) -> Activity:
        m = self.day <= cutoff
        return Activity(self.idx[m], self.day[m], self.kind[m], self.count[m])

    @classmethod
    def empty(cls) -> Activity:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, z, np.zeros(0))

    def window(self, size: int, kind: str, after: int, upto: int) -> FloatArray:
        k = ACTIVITY_KINDS.index(kind)
        m = (self.kind == k) & (self.day > after) & (self.day <= upto)
        return np.bincount(self.idx[m], weights=self.count[m], minlength=size).astype(np.float64)


def features(
    days: Days, activity: Activity, s: Summary, bg: btyd.BgNbd, cutoff: int, window_days: int
) -> NDArray[np.float64]:
    size = days.n_customers
    w = window_days / WEEK
    r4, _ = outcomes(days, cutoff - 28, cutoff)
    r13, _ = outcomes(days, cutoff - 91, cutoff)
    far = -(10**9)
    zero = np.zeros(size)
    cols = [
        s.x, s.t_x, s.T, s.T - s.t_x, s.mean_value, s.last_value, s.total_spend, r4, r13,
        np.where(s.x > 0, s.t_x / np.maximum(s.x, 1), 0.0),
        btyd.bgnbd_expected(bg, w, s.x, s.t_x, s.T), btyd.bgnbd_p_none(bg, w, s.x, s.t_x, s.T),
        btyd.bgnbd_p_alive(bg, s.x, s.t_x, s.T),
        activity.window(size, "page_view", cutoff - 30, cutoff),
        activity.window(size, "page_view", far, cutoff),
        activity.window(size, "product_view", cutoff - 30, cutoff),
        activity.window(size, "cart", cutoff - 30, cutoff),
        activity.window(size, "cart_abandoned", far, cutoff),
        zero, zero, zero,
    ]  # fmt: skip
    T = np.maximum(s.T, 1e-9)
    gap = cols[9]
    cols += [
        (s.T - s.t_x) / T, s.t_x / T,
        np.where(gap > 0, (s.T - s.t_x) / np.maximum(gap, 1e-9), -1.0),
    ]  # fmt: skip
    return np.column_stack(cols)


def _logit(p: FloatArray) -> FloatArray:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.asarray(np.log(q / (1 - q)), dtype=np.float64)


def _lgb_params() -> dict[str, Any]:
    return {
        "learning_rate": 0.03, "num_leaves": 15, "min_child_samples": 50,
        "random_state": 0, "n_jobs": 1, "verbose": -1,
    }  # fmt: skip


BOOSTING_ROUNDS = 300
# The churn booster: smaller trees, L2 and fewer rounds (its own backtests inside calibration).
CHURN_PARAMS: dict[str, Any] = {"num_leaves": 7, "lambda_l2": 10.0}
CHURN_ROUNDS = 150


def _boost(
    x: Any,
    y: Any,
    objective: str,
    *,
    init_score: Any = None,
    params: dict[str, Any] | None = None,
    rounds: int = BOOSTING_ROUNDS,
) -> str:
    """A LightGBM model as text, through the core API: `lightgbm.LGBMRegressor` and friends
    need scikit-learn, which Patron does not depend on (a warm dev venv hid that)."""
    import lightgbm as lgb

    full = {**_lgb_params(), "objective": objective, **(params or {})}
    data = lgb.Dataset(x, label=y, init_score=init_score)
    booster = lgb.train(full, data, num_boost_round=rounds)
    return str(booster.model_to_string())


def _enc(text: str | None) -> str | None:
    return base64.b64encode(text.encode()).decode() if text else None


def _dec(text: str | None) -> str | None:
    return base64.b64decode(text).decode() if text else None


@dataclass(slots=True)
class Fitted:
    """Everything learned at one cutoff; serialised to JSON (boosters as LightGBM text)."""

    cutoff: int
    bgnbd: btyd.BgNbd
    bgnbd_loglik: float
    pareto: btyd.ParetoNbd | None
    pareto_loglik: float | None
    gamma_gamma: btyd.GammaGamma
    window_days: int
    count_booster: str | None = None
    churn_booster: str | None = None
    training_rows: int = 0
    training_cutoffs: list[int] = field(default_factory=list)
    churn_spec: str = CHURN_SPEC
    _cache: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff,
            "bgnbd": self.bgnbd.params(),
            "bgnbd_loglik": self.bgnbd_loglik,
            "pareto": self.pareto.params() if self.pareto else None,
            "pareto_loglik": self.pareto_loglik,
            "gamma_gamma": self.gamma_gamma.params(),
            "window_days": self.window_days,
            "count_booster": _enc(self.count_booster),
            "churn_booster": _enc(self.churn_booster),
            "training_rows": self.training_rows,
            "training_cutoffs": self.training_cutoffs,
            "churn_spec": self.churn_spec,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Fitted:
        return cls(
            cutoff=int(d["cutoff"]),
            bgnbd=btyd.BgNbd(**d["bgnbd"]),
            bgnbd_loglik=float(d["bgnbd_loglik"]),
            pareto=btyd.ParetoNbd(**d["pareto"]) if d.get("pareto") else None,
            pareto_loglik=d.get("pareto_loglik"),
            gamma_gamma=btyd.GammaGamma(**d["gamma_gamma"]),
            window_days=int(d["window_days"]),
            count_booster=_dec(d.get("count_booster")),
            churn_booster=_dec(d.get("churn_booster")),
            training_rows=int(d.get("training_rows", 0)),
            training_cutoffs=list(d.get("training_cutoffs", [])),
            churn_spec=str(d.get("churn_spec", "v1")),
        )

    def boosters(self) -> tuple[Any, Any]:
        if "boosters" not in self._cache:
            import lightgbm as lgb

            count = lgb.Booster(model_str=self.count_booster) if self.count_booster else None
            churn = lgb.Booster(model_str=self.churn_booster) if self.churn_booster else None
            self._cache["boosters"] = (count, churn)
        return self._cache["boosters"]  # type: ignore[no-any-return]


def _fit_btyd(s: Summary) -> tuple[btyd.BgNbd, float]:
    m = s.present
    if int(m.sum()) < 2:
        return btyd.BgNbd(1.0, 1.0, 1.0, 1.0), 0.0
    return btyd.fit_bgnbd(s.x[m], s.t_x[m], s.T[m])


def fit(
    days: Days, activity: Activity, cutoff: int, *, horizon_days: int, pareto: bool = True
) -> Fitted:
    """Fit every candidate on the history up to `cutoff` (inclusive)."""
    s = summarize(days, cutoff)
    m = s.present
    bg, bg_ll = _fit_btyd(s)
    pn, pn_ll = (None, None)
    if pareto and int(m.sum()) >= 2 and float(s.x[m].sum()) > 0:
        pn, pn_ll = btyd.fit_pnbd(s.x[m], s.t_x[m], s.T[m])
    gg, _ = btyd.fit_gamma_gamma(s.n[m], s.mean_value[m]) if m.any() else (None, 0.0)
    if gg is None:
        gg = btyd.GammaGamma(1.0, 2.0, 1.0)
    start = int(days.day.min()) if len(days.day) else cutoff
    window = int(max(7, min(horizon_days, (cutoff - start) // 2)))
    fitted = Fitted(cutoff, bg, bg_ll, pn, pn_ll, gg, window)
    _fit_supervised(fitted, days, activity, start)
    return fitted


def training_windows(start: int, cutoff: int, window: int) -> list[tuple[int, int]]:
    """Time-shifted (feature cutoff c, label end c + w) pairs: c = cutoff - w, then half a
    window further back each time (up to 4), while c leaves 4 weeks of history. Labels
    never reach past `cutoff`, so nothing is learnt from the period being predicted."""
    out: list[tuple[int, int]] = []
    c = cutoff - window
    while c >= start + 28 and len(out) < 4:
        out.append((c, c + window))
        c -= max(window // 2, 7)
    return out


def training_set(
    days: Days, activity: Activity, cutoff: int, window: int
) -> tuple[NDArray[np.float64], FloatArray, list[tuple[int, int]]]:
    """Features at each window's cutoff (history up to c only: BG/NBD refitted there too)
    and labels = purchase days in (c, c + w], for the customers present at c."""
    start = int(days.day.min()) if len(days.day) else cutoff
    windows = training_windows(start, cutoff, window)
    xs, ys = [], []
    for c, end in windows:
        s = summarize(days, c)
        bg, _ = _fit_btyd(s)
        x = features(days.upto(c), activity.upto(c), s, bg, c, window)
        y, _ = outcomes(days, c, end)
        xs.append(x[s.present])
        ys.append(y[s.present])
    if not xs:
        return np.zeros((0, len(FEATURES))), np.zeros(0), windows
    return np.vstack(xs), np.concatenate(ys), windows


def _fit_supervised(fitted: Fitted, days: Days, activity: Activity, start: int) -> None:
    x_all, y_all, windows = training_set(days, activity, fitted.cutoff, fitted.window_days)
    if len(y_all) < MIN_TRAINING_ROWS:
        return
    if len(y_all) > MAX_TRAINING_ROWS:
        keep = np.random.default_rng(0).choice(len(y_all), MAX_TRAINING_ROWS, replace=False)
        x_all, y_all = x_all[np.sort(keep)], y_all[np.sort(keep)]
    none = (y_all == 0).astype(np.int64)
    if none.min() == none.max():
        return
    fitted.count_booster = _boost(x_all[:, _COUNT_COLS], y_all, "poisson")
    fitted.churn_booster = _boost(
        x_all[:, _CHURN_COLS], none, "binary", init_score=_logit(x_all[:, _BG_NONE_COL]),
        params=CHURN_PARAMS, rounds=CHURN_ROUNDS,
    )  # fmt: skip
    fitted.churn_spec = CHURN_SPEC
    fitted.training_rows = len(y_all)
    fitted.training_cutoffs = [c for c, _ in windows]


@dataclass(slots=True)
class Predictor:
    """Predictions at `cutoff` for every customer of `days` (rows where `present`)."""

    fitted: Fitted
    s: Summary
    sup_count: FloatArray | None
    sup_none: FloatArray | None
    cache: dict[str, Any] = field(default_factory=dict)

    def bg(self, t_days: float) -> tuple[FloatArray, FloatArray]:
        s, t = self.s, t_days / WEEK
        p = self.fitted.bgnbd
        return btyd.bgnbd_expected(p, t, s.x, s.t_x, s.T), btyd.bgnbd_p_none(p, t, s.x, s.t_x, s.T)

    def pareto(self, t_days: float) -> tuple[FloatArray, FloatArray] | None:
        if self.fitted.pareto is None:
            return None
        s, t, p = self.s, t_days / WEEK, self.fitted.pareto
        with np.errstate(all="ignore"):
            if "pareto" not in self.cache:  # the parts that do not depend on t
                alive = btyd.pnbd_p_alive(p, s.x, s.t_x, s.T)
                self.cache["pareto"] = (alive, btyd.pnbd_loglik(p, s.x, s.t_x, s.T))
            alive, log_l = self.cache["pareto"]
            return btyd.pnbd_expected(p, t, s.x, s.t_x, s.T, alive=alive), btyd.pnbd_p_none(
                p, t, s.x, s.t_x, s.T, alive=alive, log_l=log_l
            )

    def supervised(self, t_days: float) -> tuple[FloatArray, FloatArray] | None:
        if self.sup_count is None or self.sup_none is None:
            return None
        e_t, n_t = self.bg(t_days)
        e_w, n_w = self.bg(self.fitted.window_days)
        count = self.sup_count * e_t / np.maximum(e_w, 1e-12)
        none = np.clip(self.sup_none * n_t / np.maximum(n_w, 1e-12), 0.0, 1.0)
        return count, none

    def model(self, name: str, t_days: float) -> tuple[FloatArray, FloatArray] | None:
        got = self._model(name, t_days)
        if got is None or name == "bgnbd":
            return got
        count, none = got
        if np.isfinite(count).all() and np.isfinite(none).all():
            return got
        bg_count, bg_none = self.bg(t_days)  # a numerical failure falls back, row by row
        return (
            np.where(np.isfinite(count), count, bg_count),
            np.where(np.isfinite(none), none, bg_none),
        )

    def _model(self, name: str, t_days: float) -> tuple[FloatArray, FloatArray] | None:
        if name == "bgnbd":
            return self.bg(t_days)
        if name == "pareto":
            return self.pareto(t_days)
        if name == "supervised":
            return self.supervised(t_days)
        if name == "blend":
            parts = [self.model(n, t_days) for n in ("bgnbd", "pareto", "supervised")]
            got = [p for p in parts if p is not None]
            count = np.mean([p[0] for p in got], axis=0)
            none = np.mean([p[1] for p in got], axis=0)
            return count, none
        raise ValueError(name)

    def available(self) -> list[str]:
        have = {
            "bgnbd": True,
            "pareto": self.fitted.pareto is not None,
            "supervised": self.sup_count is not None and self.sup_none is not None,
            "blend": True,
        }
        return [n for n in CANDIDATES if have[n]]

    def value(self) -> FloatArray:
        """Expected spend per future purchase day (Gamma-Gamma posterior mean)."""
        return btyd.gg_expected_value(self.fitted.gamma_gamma, self.s.n, self.s.mean_value)


def predictor(fitted: Fitted, days: Days, activity: Activity, cutoff: int) -> Predictor:
    """Apply `fitted` at `cutoff` (its own cutoff for a backtest, today for scoring)."""
    s = summarize(days, cutoff)
    count_b, churn_b = fitted.boosters()
    sup_count = sup_none = None
    if count_b is not None and churn_b is not None:
        x = features(days, activity, s, fitted.bgnbd, cutoff, fitted.window_days)
        sup_count = np.asarray(count_b.predict(x[:, _COUNT_COLS]), dtype=np.float64)
        if fitted.churn_spec == CHURN_SPEC:
            raw = churn_b.predict(x[:, _CHURN_COLS], raw_score=True) + _logit(x[:, _BG_NONE_COL])
            sup_none = 1.0 / (1.0 + np.exp(-np.asarray(raw, dtype=np.float64)))
        else:  # "v1": the 21 features, no base
            sup_none = np.asarray(churn_b.predict(x[:, _COUNT_COLS]), dtype=np.float64)
    return Predictor(fitted, s, sup_count, sup_none)


def clv(
    count_at: Callable[[float], FloatArray],
    value: FloatArray,
    *,
    months: int,
    annual_discount: float,
) -> tuple[FloatArray, FloatArray]:
    """(undiscounted spend, discounted CLV) over `months`, from a cumulative count curve."""
    monthly = (1 + annual_discount) ** (1 / 12) - 1
    prev = np.zeros_like(value)
    total = np.zeros_like(value)
    for k in range(1, months + 1):
        cur = count_at(k * 365.25 / 12)
        total += (cur - prev) * value / (1 + monthly) ** k
        prev = cur
    return prev * value, total
