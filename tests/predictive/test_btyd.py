"""BG/NBD, Pareto/NBD and Gamma-Gamma against values computed independently: closed forms
written out again with `math`, hypergeometric series summed by hand, numerical integration
over the mixing distributions, and the figures published by Fader, Hardie & Lee (2005)."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest
from scipy import integrate, stats

from patron.predictive import btyd
from patron.predictive.history import Days, day_number, summarize
from tests.shared_data import SHARED

# FHL 2005, CDNOW 1/10 sample (2,357 customers), calibration weeks 1-39.
PAPER = btyd.BgNbd(r=0.243, alpha=4.414, a=0.793, b=2.426)
SAMPLE = SHARED / "cdnow" / "CDNOW_sample.txt"
CAL_END = day_number(date(1997, 9, 30))


def arr(*v: float) -> np.ndarray:
    return np.array(v, dtype=np.float64)


def hyp2f1_series(a: float, b: float, c: float, z: float, terms: int = 2000) -> float:
    total, term = 1.0, 1.0
    for k in range(terms):
        term *= (a + k) * (b + k) / ((c + k) * (k + 1)) * z
        total += term
        if abs(term) < 1e-16 * abs(total):
            break
    return total


def bgnbd_ll_by_hand(p: btyd.BgNbd, x: int, t_x: float, T: float) -> float:
    r, alpha, a, b = p.r, p.alpha, p.a, p.b
    lg = math.lgamma
    beta_ratio = math.exp(lg(a + b) + lg(b + x) - lg(b) - lg(a + b + x))
    head = math.exp(lg(r + x) - lg(r)) * alpha**r
    stay = (alpha + T) ** -(r + x)
    drop = (a / (b + x - 1)) * (alpha + t_x) ** -(r + x) if x > 0 else 0.0
    return math.log(head * beta_ratio * (stay + drop))


def test_bgnbd_log_likelihood_matches_the_closed_form() -> None:
    cases = [(0, 0.0, 38.86), (2, 30.43, 38.86), (7, 20.0, 30.0), (1, 1.0, 2.0)]
    got = btyd.bgnbd_loglik(PAPER, *(arr(*c) for c in zip(*cases, strict=True)))
    expected = [bgnbd_ll_by_hand(PAPER, *c) for c in cases]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # x = 0: r * log(alpha / (alpha + T)), nothing else
    assert got[0] == pytest.approx(0.243 * math.log(4.414 / (4.414 + 38.86)), rel=1e-12)


def test_bgnbd_conditional_expectation_reproduces_the_paper() -> None:
    """FHL 2005 p. 279: x = 2, t_x = 30.43, T = 38.86 -> 1.226 purchases in 39 weeks."""
    x, t_x, T, t = 2.0, 30.43, 38.86, 39.0
    got = float(btyd.bgnbd_expected(PAPER, t, arr(x), arr(t_x), arr(T))[0])
    assert round(got, 3) == 1.226
    r, alpha, a, b = PAPER.r, PAPER.alpha, PAPER.a, PAPER.b
    p_alive = 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))
    f = hyp2f1_series(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    by_hand = (
        (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * f) * p_alive
    )
    assert got == pytest.approx(by_hand, rel=1e-10)
    alive = btyd.bgnbd_p_alive(PAPER, arr(x, 0), arr(t_x, 0), arr(T, 10))
    assert alive[0] == pytest.approx(p_alive, rel=1e-12)
    assert alive[1] == 1.0  # the trap: every customer without a repeat purchase is "alive"


def test_bgnbd_probability_of_no_purchase() -> None:
    x, t_x, T, t = 2.0, 30.43, 38.86, 39.0
    got = float(btyd.bgnbd_p_none(PAPER, t, arr(x), arr(t_x), arr(T))[0])
    alive = float(btyd.bgnbd_p_alive(PAPER, arr(x), arr(t_x), arr(T))[0])
    # alive: the Gamma(r + x, alpha + T) posterior rate stays silent for t (a Laplace
    # transform, integrated numerically here)
    shape, rate = PAPER.r + x, PAPER.alpha + T
    silent, _ = integrate.quad(
        lambda lam: math.exp(-lam * t) * stats.gamma.pdf(lam, shape, scale=1 / rate), 0, np.inf
    )
    assert got == pytest.approx(1 - alive + alive * silent, rel=1e-8)


def test_bgnbd_recovers_the_papers_parameters_on_the_cdnow_sample() -> None:
    if SAMPLE.exists():
        rows = [line.split() for line in SAMPLE.read_text().splitlines() if line.strip()]
        cid = np.array([int(r[0]) for r in rows])
        day = np.array(
            [day_number(date(int(r[-3][:4]), int(r[-3][4:6]), int(r[-3][6:]))) for r in rows]
        )
        days = Days.build(cid, day, np.zeros(len(rows)))
        s = summarize(days, CAL_END)
        p, ll = btyd.fit_bgnbd(s.x, s.t_x, s.T)
        assert (round(p.r, 3), round(p.alpha, 3), round(p.a, 3), round(p.b, 3)) == (
            0.243, 4.414, 0.793, 2.426,
        )  # fmt: skip
        assert round(ll, 1) == -9582.4  # the paper's log-likelihood
        return
    # Without the data file: simulate 4,000 customers from the paper's parameters.
    rng = np.random.default_rng(7)
    n, T = 4000, 39.0
    lam = rng.gamma(PAPER.r, 1 / PAPER.alpha, n)
    p_drop = rng.beta(PAPER.a, PAPER.b, n)
    x = np.zeros(n)
    t_x = np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > T:
                break
            x[i] += 1
            t_x[i] = t
            if rng.random() < p_drop[i]:
                break
    p, _ = btyd.fit_bgnbd(x, t_x, np.full(n, T))
    assert abs(p.r - PAPER.r) < 0.06
    assert abs(p.a - PAPER.a) < 0.4


def pareto_integral(
    p: btyd.ParetoNbd, x: float, t_x: float, T: float, part: str, t: float = 0.0
) -> float:
    """Integrate the individual-level Pareto/NBD likelihood over the two Gamma mixings:
    Gauss-Legendre in probability space (lambda = F^-1(u), mu = G^-1(w)), 400 x 400."""
    nodes, weights = np.polynomial.legendre.leggauss(400)
    u, wu = (nodes + 1) / 2, weights / 2
    lam = stats.gamma.ppf(u, p.r, scale=1 / p.alpha)[:, None]
    mu = stats.gamma.ppf(u, p.s, scale=1 / p.beta)[None, :]
    alive = lam**x * np.exp(-(lam + mu) * T)
    dead = lam**x * mu / (lam + mu) * (np.exp(-(lam + mu) * t_x) - np.exp(-(lam + mu) * T))
    if part == "likelihood":
        f = alive + dead
    elif part == "alive":
        f = alive
    else:  # no purchase in (T, T + t]
        f = dead + alive * (mu / (lam + mu) + lam / (lam + mu) * np.exp(-(lam + mu) * t))
    return float(wu @ f @ wu)


def test_pareto_nbd_against_numerical_integration() -> None:
    p = btyd.ParetoNbd(r=0.55, alpha=10.58, s=0.61, beta=11.67)  # the paper's CDNOW fit
    for x, t_x, T in [(0.0, 0.0, 30.0), (2.0, 30.43, 38.86), (5.0, 10.0, 38.0)]:
        like = pareto_integral(p, x, t_x, T, "likelihood")
        got_ll = float(btyd.pnbd_loglik(p, arr(x), arr(t_x), arr(T))[0])
        assert got_ll == pytest.approx(math.log(like), abs=1e-4)
        alive = pareto_integral(p, x, t_x, T, "alive") / like
        assert float(btyd.pnbd_p_alive(p, arr(x), arr(t_x), arr(T))[0]) == pytest.approx(
            alive, abs=1e-4
        )
        none = pareto_integral(p, x, t_x, T, "none", t=39.0) / like
        assert float(btyd.pnbd_p_none(p, 39.0, arr(x), arr(t_x), arr(T))[0]) == pytest.approx(
            none, abs=1e-4
        )


def test_gamma_gamma_conditional_value_and_likelihood() -> None:
    g = btyd.GammaGamma(p=6.25, q=3.74, v=15.44)  # FHL 2005 "RFM and CLV", CDNOW
    n, m = 3.0, 40.0
    # posterior of the scale nu: Gamma(p n + q, rate v + n m); E[p / nu] integrated
    shape, rate = g.p * n + g.q, g.v + n * m
    mean, _ = integrate.quad(
        lambda nu: g.p / nu * stats.gamma.pdf(nu, shape, scale=1 / rate), 0, np.inf
    )
    got = btyd.gg_expected_value(g, arr(n, 0), arr(m, 0))
    assert got[0] == pytest.approx(mean, rel=1e-8)
    assert got[1] == pytest.approx(6.25 * 15.44 / 2.74, rel=1e-12)  # n = 0: population mean
    lg = math.lgamma
    px = g.p * n
    by_hand = (
        lg(px + g.q) - lg(px) - lg(g.q) + g.q * math.log(g.v) + (px - 1) * math.log(m)
        + px * math.log(n) - (px + g.q) * math.log(n * m + g.v)
    )  # fmt: skip
    assert float(btyd.gg_loglik(g, arr(n), arr(m))[0]) == pytest.approx(by_hand, rel=1e-12)


def test_gamma_gamma_fit_reproduces_the_paper_on_the_cdnow_sample() -> None:
    if not SAMPLE.exists():
        pytest.skip("CDNOW sample not present")
    rows = [line.split() for line in SAMPLE.read_text().splitlines() if line.strip()]
    cid = np.array([int(r[0]) for r in rows])
    day = np.array(
        [day_number(date(int(r[-3][:4]), int(r[-3][4:6]), int(r[-3][6:]))) for r in rows]
    )
    dollars = np.array([float(r[-1]) for r in rows])
    s = summarize(Days.build(cid, day, dollars), CAL_END)
    keep = s.x > 0
    g, _ = btyd.fit_gamma_gamma(s.x[keep], s.mean_repeat_value[keep])
    assert int(keep.sum()) == 946
    assert (round(g.p, 2), round(g.q, 2), round(g.v, 1)) == (6.25, 3.74, 15.4)


def test_count_interval_brackets_the_mean_and_widens_for_one_time_buyers() -> None:
    lo, hi = btyd.bgnbd_count_interval(PAPER, 52.0, arr(0, 10), arr(0, 37), arr(38, 38))
    mean = btyd.bgnbd_expected(PAPER, 52.0, arr(0, 10), arr(0, 37), arr(38, 38))
    # the mixture quantile found by walking the cdf: dead (0 purchases) or NBD(r + x, p)
    alive = btyd.bgnbd_p_alive(PAPER, arr(10), arr(37), arr(38))[0]
    prob = (PAPER.alpha + 38) / (PAPER.alpha + 38 + 52)

    def quantile(q: float) -> int:
        k = 0
        while (1 - alive) + alive * stats.nbinom.cdf(k, PAPER.r + 10, prob) < q:
            k += 1
        return k

    assert lo.tolist() == [0.0, quantile(0.1)]
    assert hi[1] == quantile(0.9)
    assert lo[1] < mean[1] < hi[1]
    assert hi[0] >= 1.0
