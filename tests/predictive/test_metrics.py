"""Backtest metrics on hand-worked cases (ties included)."""

import numpy as np

from patron.predictive import metrics


def test_rankdata_averages_ties_as_scipy_does() -> None:
    ranks = metrics.rankdata(np.array([3.0, 1.0, 3.0, 2.0, 3.0]))
    assert ranks.tolist() == [4.0, 1.0, 4.0, 2.0, 4.0]
    assert metrics.rankdata(np.array([], dtype=float)).tolist() == []


def test_roc_auc_counts_ties_as_one_half() -> None:
    # positives score 0.9 and 0.5; negatives 0.5 and 0.1: pairs won 1 + 1 + 0.5 + 1 of 4
    score = np.array([0.9, 0.5, 0.5, 0.1])
    label = np.array([1.0, 1.0, 0.0, 0.0])
    assert metrics.roc_auc(score, label) == 0.875
