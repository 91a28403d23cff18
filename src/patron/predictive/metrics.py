"""Backtest metrics in NumPy: count and spend errors, ranking, churn discrimination and
calibration. No scikit-learn: each is a few lines and exact (ties get average ranks)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


def rankdata(values: Array) -> Array:
    """Average ranks (1-based, ties share their mean rank), as scipy.stats.rankdata; kept
    here because importing scipy.stats costs every `patron` command about a second."""
    order = np.argsort(values, kind="mergesort")
    ordered = np.asarray(values)[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(ordered)]
    mean_rank = (starts + ends + 1) / 2.0  # ranks starts+1 .. ends, averaged
    ranks = np.empty(len(ordered), dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def spearman(a: Array, b: Array) -> float:
    if len(a) < 2:
        return float("nan")
    ra, rb = rankdata(a), rankdata(b)
    sa, sb = ra.std(), rb.std()
    if sa == 0 or sb == 0:
        return float("nan")
    return float(np.mean((ra - ra.mean()) * (rb - rb.mean())) / (sa * sb))


def roc_auc(score: Array, label: Array) -> float:
    """P(a random positive scores above a random negative); ties count one half."""
    pos = label > 0.5
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(score)
    return float((r[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def pr_auc(score: Array, label: Array) -> float:
    """Average precision (step-wise area under the precision-recall curve), tied scores
    taken together."""
    pos = label > 0.5
    n1 = int(pos.sum())
    if n1 == 0:
        return float("nan")
    order = np.argsort(-score, kind="mergesort")
    s, y = score[order], pos[order].astype(np.float64)
    tp = np.cumsum(y)
    k = np.arange(1, len(y) + 1, dtype=np.float64)
    last = np.ones(len(s), dtype=bool)
    last[:-1] = s[1:] != s[:-1]  # end of each tie group
    tp_g, k_g = tp[last], k[last]
    prev_tp = np.concatenate([[0.0], tp_g[:-1]])
    return float(np.sum((tp_g - prev_tp) / n1 * (tp_g / k_g)))


def calibration_table(prob: Array, label: Array, *, bins: int = 10) -> list[dict[str, Any]]:
    """Deciles of predicted probability: customers, mean predicted, observed rate."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(prob, edges[1:-1], right=False), 0, bins - 1)
    out = []
    for b in range(bins):
        m = which == b
        n = int(m.sum())
        if n == 0:
            continue
        out.append(
            {
                "bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}",
                "customers": n,
                "mean_predicted": round(float(prob[m].mean()), 4),
                "observed": round(float(label[m].mean()), 4),
            }
        )
    return out


def _r(v: float, nd: int = 4) -> float | None:
    return None if not np.isfinite(v) else round(float(v), nd)


def evaluate(
    *,
    pred_count: Array,
    pred_spend: Array,
    p_none: Array,
    actual_count: Array,
    actual_spend: Array,
    minor_per_major: int,
) -> dict[str, Any]:
    """Every metric of one model on one holdout. Spend in major currency units."""
    err = pred_count - actual_count
    churned = (actual_count == 0).astype(np.float64)
    total = float(actual_count.sum())
    spend_total = float(actual_spend.sum())
    sp_err = (pred_spend - actual_spend) / minor_per_major
    return {
        "count_mae": _r(float(np.mean(np.abs(err)))),
        "count_rmse": _r(float(np.sqrt(np.mean(err**2)))),
        "count_spearman": _r(spearman(pred_count, actual_count)),
        "predicted_total": _r(float(pred_count.sum()), 1),
        "actual_total": total,
        "aggregate_error": _r(float(pred_count.sum()) / total - 1) if total else None,
        "spend_mae": _r(float(np.mean(np.abs(sp_err))), 3),
        "spend_rmse": _r(float(np.sqrt(np.mean(sp_err**2))), 3),
        "spend_aggregate_error": (
            _r(float(pred_spend.sum()) / spend_total - 1) if spend_total else None
        ),
        "churn_rate": _r(float(churned.mean())),
        "churn_roc_auc": _r(roc_auc(p_none, churned)),
        "churn_pr_auc": _r(pr_auc(p_none, churned)),
        "churn_brier": _r(float(np.mean((p_none - churned) ** 2))),
        "calibration": calibration_table(p_none, churned),
    }
