"""Buy-till-you-die models in NumPy/SciPy: BG/NBD, Pareto/NBD and Gamma-Gamma (ADR 11).

Inputs are per-customer arrays in one time unit (Patron uses weeks): `x` repeat purchases
(purchase days after the first; same-day orders are one purchase), `t_x` time from the
first to the last purchase, `T` time from the first purchase to the end of observation.

Fitting compresses identical (x, t_x, T) rows into weighted patterns first (Fader and
Hardie do the same), so the likelihood is evaluated once per pattern, not per customer:
resampled data of a million customers fits as fast as the distinct patterns allow.

Formulas: Fader, Hardie & Lee (2005) "Counting your customers the easy way" (BG/NBD, eqs.
6, 10, 13 and the P(alive) of their note 004); Fader & Hardie note 009 (Pareto/NBD
likelihood, eqs. 18-20, conditional expectation eq. 41) and note 028 (Pareto/NBD
conditional probability of zero purchases); Fader, Hardie & Lee (2005) "RFM and CLV"
(Gamma-Gamma spend). Checked against the `lifetimes` package's implementation.

SciPy is imported inside the functions that use it: importing it takes 0.4 s, which every
process (each `patron` command, each server worker) paid at start through the wiring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


def _patterns(*cols: Array) -> tuple[list[Array], Array]:
    """Distinct rows of the columns and how many customers share each."""
    stacked = np.column_stack(cols)
    uniq, counts = np.unique(stacked, axis=0, return_counts=True)
    return [uniq[:, i] for i in range(uniq.shape[1])], counts.astype(np.float64)


def _fit(nll: Callable[[Array], float], x0: Array) -> tuple[Array, float]:
    """Minimise a negative log-likelihood over log-parameters: L-BFGS-B, then Nelder-Mead
    polish (the likelihood surfaces are flat in places; the polish gets 4+ decimals)."""
    from scipy.optimize import minimize

    res = minimize(nll, x0, method="L-BFGS-B")
    res2 = minimize(
        nll,
        res.x,
        method="Nelder-Mead",
        options={"xatol": 1e-7, "fatol": 1e-9, "maxiter": 4000, "maxfev": 8000},
    )
    best = res2 if res2.fun <= res.fun else res
    return np.exp(best.x), float(best.fun)


# --- BG/NBD -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float

    def params(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}


def bgnbd_loglik(p: BgNbd, x: Array, t_x: Array, T: Array) -> Array:
    """Per-customer log-likelihood (FHL 2005 eq. 6)."""
    from scipy.special import gammaln

    r, alpha, a, b = p.r, p.alpha, p.a, p.b
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(
            x > 0,
            np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return np.asarray(a1 + a2 + np.logaddexp(a3, a4), dtype=np.float64)


def fit_bgnbd(x: Array, t_x: Array, T: Array) -> tuple[BgNbd, float]:
    """Maximum likelihood; returns the parameters and the total log-likelihood."""
    (ux, ut, uT), w = _patterns(x, t_x, T)

    def nll(logp: Array) -> float:
        p = BgNbd(*np.exp(np.clip(logp, -20, 20)))
        return -float(np.sum(w * bgnbd_loglik(p, ux, ut, uT)))

    scale = max(float(np.max(uT)), 1e-9)
    params, value = _fit(nll, np.log(np.array([1.0, scale / 10, 1.0, 1.0])))
    return BgNbd(*(float(v) for v in params)), -value


def bgnbd_p_alive(p: BgNbd, x: Array, t_x: Array, T: Array) -> Array:
    r, alpha, a, b = p.r, p.alpha, p.a, p.b
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        odds = (a / np.maximum(b + x - 1, 1e-300)) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    return np.asarray(np.where(x > 0, 1.0 / (1.0 + odds), 1.0), dtype=np.float64)


def bgnbd_expected(p: BgNbd, t: float, x: Array, t_x: Array, T: Array) -> Array:
    """E[purchases in (T, T + t] | x, t_x, T] (FHL 2005 eq. 10)."""
    from scipy.special import hyp2f1

    r, alpha, a, b = p.r, p.alpha, p.a, p.b
    if t <= 0:
        return np.zeros_like(x, dtype=np.float64)
    z = t / (alpha + T + t)
    head = (a + b + x - 1) / (a - 1)
    body = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
    return np.asarray(head * body * bgnbd_p_alive(p, x, t_x, T), dtype=np.float64)


def bgnbd_p_none(p: BgNbd, t: float, x: Array, t_x: Array, T: Array) -> Array:
    """P(no purchase in (T, T + t]): dead already, or alive and Poisson-silent for t."""
    alive = bgnbd_p_alive(p, x, t_x, T)
    silent = ((p.alpha + T) / (p.alpha + T + t)) ** (p.r + x)
    return np.asarray(1.0 - alive + alive * silent, dtype=np.float64)


def bgnbd_next_purchase_wait(p: BgNbd, x: Array, t_x: Array, T: Array) -> Array:
    """Median time to the next purchase from T (NaN when that purchase more likely never
    comes: P(alive) <= 1/2). Alive customers buy before they can drop out, so
    P(purchase by T + t) = P(alive) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x))."""
    alive = bgnbd_p_alive(p, x, t_x, T)
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = 1.0 - 0.5 / alive
        wait = (p.alpha + T) * (np.power(np.maximum(inner, 1e-300), -1.0 / (p.r + x)) - 1.0)
    return np.asarray(np.where(alive > 0.5, wait, np.nan), dtype=np.float64)


def bgnbd_count_interval(
    p: BgNbd, t: float, x: Array, t_x: Array, T: Array, *, level: float = 0.8
) -> tuple[Array, Array]:
    """A central `level` interval of the number of purchases in (T, T + t].

    Dead with probability 1 - P(alive) (zero purchases); alive, the count is negative
    binomial (r + x, (alpha + T) / (alpha + T + t)) from the Gamma posterior of the rate.
    Dropout after future purchases is ignored, so the upper end is conservative (wide).
    """
    alive = bgnbd_p_alive(p, x, t_x, T)
    prob = (p.alpha + T) / (p.alpha + T + t)
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    out = []
    for q in (lo_q, hi_q):
        cond = np.clip((q - (1 - alive)) / np.maximum(alive, 1e-12), 0.0, 1.0)
        from scipy.stats import nbinom  # here: scipy.stats costs every CLI start ~1 s

        k = np.where(cond > 0, nbinom.ppf(cond, p.r + x, prob), 0.0)
        out.append(np.asarray(np.nan_to_num(k), dtype=np.float64))
    return out[0], out[1]


# --- Pareto/NBD -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParetoNbd:
    r: float
    alpha: float
    s: float
    beta: float

    def params(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "s": self.s, "beta": self.beta}


def _pnbd_log_a0(p: ParetoNbd, x: Array, t_x: Array, T: Array) -> Array:
    from scipy.special import hyp2f1, logsumexp

    r, alpha, s, beta = p.r, p.alpha, p.s, p.beta
    tt: Array | float
    if alpha >= beta:
        lo, hi, tt = beta, alpha, s + 1.0
    else:
        lo, hi, tt = alpha, beta, r + x
    d = hi - lo
    rsx = r + s + x
    p1 = hyp2f1(rsx, tt, rsx + 1.0, d / (hi + t_x))
    p2 = hyp2f1(rsx, tt, rsx + 1.0, d / (hi + T))
    q1, q2 = hi + t_x, hi + T
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.stack([np.log(p1) + rsx * np.log(q2), np.log(p2) + rsx * np.log(q1)])
        signs = np.stack([np.ones_like(x), -np.ones_like(x)])
        val = logsumexp(terms, axis=0, b=signs) - rsx * np.log(q1 * q2)
    # t_x == T gives log(0) = -inf exactly (no time to have died unseen); a hypergeometric
    # overflow (hundreds of purchases) means that term is negligible too: drop it.
    return np.asarray(np.where(np.isfinite(val), val, -np.inf), dtype=np.float64)


def pnbd_loglik(p: ParetoNbd, x: Array, t_x: Array, T: Array) -> Array:
    """Per-customer log-likelihood (Fader & Hardie note 009, eq. 18)."""
    from scipy.special import gammaln

    r, alpha, s, beta = p.r, p.alpha, p.s, p.beta
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    a0 = _pnbd_log_a0(p, x, t_x, T)
    a2 = np.logaddexp(
        -(r + x) * np.log(alpha + T) - s * np.log(beta + T), np.log(s) + a0 - np.log(r + s + x)
    )
    return np.asarray(a1 + a2, dtype=np.float64)


def fit_pnbd(x: Array, t_x: Array, T: Array) -> tuple[ParetoNbd, float]:
    (ux, ut, uT), w = _patterns(x, t_x, T)

    def nll(logp: Array) -> float:
        p = ParetoNbd(*np.exp(np.clip(logp, -20, 20)))
        with np.errstate(all="ignore"):
            ll = pnbd_loglik(p, ux, ut, uT)
        total = float(np.sum(w * ll))
        return -total if np.isfinite(total) else 1e300

    scale = max(float(np.max(uT)), 1e-9)
    params, value = _fit(nll, np.log(np.array([0.5, scale / 10, 0.5, scale])))
    return ParetoNbd(*(float(v) for v in params)), -value


def pnbd_p_alive(p: ParetoNbd, x: Array, t_x: Array, T: Array) -> Array:
    r, alpha, s, beta = p.r, p.alpha, p.s, p.beta
    a0 = _pnbd_log_a0(p, x, t_x, T)
    with np.errstate(over="ignore"):
        e = np.exp(
            np.log(s) - np.log(r + s + x) + (r + x) * np.log(alpha + T) + s * np.log(beta + T) + a0
        )
    return np.asarray(1.0 / (1.0 + e), dtype=np.float64)


def pnbd_expected(
    p: ParetoNbd, t: float, x: Array, t_x: Array, T: Array, *, alive: Array | None = None
) -> Array:
    """E[purchases in (T, T + t] | x, t_x, T] (note 009, eq. 41); `alive` = P(alive) if
    already computed (it does not depend on t)."""
    r, alpha, s, beta = p.r, p.alpha, p.s, p.beta
    if t <= 0:
        return np.zeros_like(x, dtype=np.float64)
    alive = pnbd_p_alive(p, x, t_x, T) if alive is None else alive
    if abs(s - 1.0) < 1e-9:
        tail = np.log((beta + T + t) / (beta + T))
    else:
        tail = (1 - ((beta + T) / (beta + T + t)) ** (s - 1)) / (s - 1)
    return np.asarray(alive * (r + x) * (beta + T) / (alpha + T) * tail, dtype=np.float64)


def pnbd_p_none(
    p: ParetoNbd,
    t: float,
    x: Array,
    t_x: Array,
    T: Array,
    *,
    alive: Array | None = None,
    log_l: Array | None = None,
) -> Array:
    """P(no purchase in (T, T + t] | x, t_x, T) (note 028, eq. 16 with n = 0); `alive` and
    `log_l` (the log-likelihood) if already computed (they do not depend on t)."""
    from scipy.special import betaln, gammaln, hyp2f1

    r, alpha, s, beta = p.r, p.alpha, p.s, p.beta
    log_l = pnbd_loglik(p, x, t_x, T) if log_l is None else log_l
    alive = pnbd_p_alive(p, x, t_x, T) if alive is None else alive
    pp: Array | float
    if alpha < beta:
        lo, hi, pp = alpha, beta, r + x
    else:
        lo, hi, pp = beta, alpha, s + 1.0
    d = hi - lo
    base = r * np.log(alpha) + s * np.log(beta) - gammaln(r)
    log_b1 = gammaln(r + x) + base - (r + x) * np.log(alpha + T + t) - s * np.log(beta + T + t)
    rsx = r + s + x
    common = base + betaln(r + x, s + 1) - gammaln(s)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_b2 = (
            common + gammaln(rsx) + np.log(hyp2f1(rsx, pp, rsx + 1, d / (hi + T)))
            - rsx * np.log(hi + T)
        )  # fmt: skip
        log_b3 = (
            common + gammaln(rsx) + np.log(hyp2f1(rsx, pp, rsx + 1, d / (hi + T + t)))
            - rsx * np.log(hi + T + t)
        )  # fmt: skip
        died = np.exp(log_b2 - log_l) - np.exp(log_b3 - log_l)  # dies silently in the window
    died = np.where(np.isfinite(died), died, 0.0)  # overflow: heavy buyers, negligible
    value = (1 - alive) + np.exp(log_b1 - log_l) + died
    return np.asarray(np.clip(value, 0.0, 1.0), dtype=np.float64)


# --- Gamma-Gamma spend ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GammaGamma:
    p: float
    q: float
    v: float

    def params(self) -> dict[str, float]:
        return {"p": self.p, "q": self.q, "v": self.v}

    def population_mean(self) -> float:
        return self.p * self.v / (self.q - 1) if self.q > 1 else float("nan")


def gg_loglik(g: GammaGamma, n: Array, m: Array) -> Array:
    """Log-likelihood of the mean value `m` of `n` transactions (FHL "RFM and CLV")."""
    from scipy.special import gammaln

    p, q, v = g.p, g.q, g.v
    px = p * n
    return np.asarray(
        gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v)
        + (px - 1) * np.log(m) + px * np.log(n) - (px + q) * np.log(n * m + v),
        dtype=np.float64,
    )  # fmt: skip


def fit_gamma_gamma(n: Array, m: Array) -> tuple[GammaGamma, float]:
    """Fit on customers with n >= 1 transactions of positive mean value `m`."""
    keep = (n > 0) & (m > 0)
    (un, um), w = _patterns(n[keep], m[keep])

    def nll(logp: Array) -> float:
        g = GammaGamma(*np.exp(np.clip(logp, -20, 20)))
        total = float(np.sum(w * gg_loglik(g, un, um)))
        return -total if np.isfinite(total) else 1e300

    mean = float(np.average(um, weights=w)) if len(um) else 1.0
    params, value = _fit(nll, np.log(np.array([2.0, 3.0, mean])))
    return GammaGamma(*(float(v) for v in params)), -value


def gg_expected_value(g: GammaGamma, n: Array, m: Array) -> Array:
    """E[mean transaction value | n transactions of mean m]; the population mean at n = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        cond = g.p * (g.v + n * m) / (g.p * n + g.q - 1)
    return np.asarray(np.where(n > 0, cond, g.population_mean()), dtype=np.float64)
