"""Time-shifted training labels on a hand-built history, and the backtest metrics."""

from __future__ import annotations

import numpy as np
import pytest

from patron.predictive import engine, metrics
from patron.predictive.history import Days, outcomes, summarize

# customer -> purchase days (day 0 twice: one purchase of 30 + 20)
HISTORY = {
    10: [(0, 30.0), (0, 20.0), (5, 10.0), (38, 10.0), (42, 10.0), (47, 10.0), (52, 10.0),
         (58, 10.0)],
    20: [(3, 40.0), (44, 60.0)],
    30: [(36, 25.0)],
    40: [(61, 99.0)],  # first purchase after the cutoff: never in training
}  # fmt: skip
CUTOFF, WINDOW = 60, 14  # windows step back by half a window (7 days)


def days() -> Days:
    rows = [(c, d, v) for c, items in HISTORY.items() for d, v in items]
    cid, day, spend = (np.array(col) for col in zip(*rows, strict=True))
    return Days.build(cid.astype(np.int64), day.astype(np.int64), spend.astype(np.float64))


def test_same_day_purchases_are_one_and_the_summary_is_exact() -> None:
    s = summarize(days(), 50)
    assert s.present.tolist() == [True, True, True, False]
    assert s.x.tolist() == [4.0, 1.0, 0.0, 0.0]  # A: days 0, 5, 38, 42, 47
    assert s.t_x.tolist() == [47 / 7, 41 / 7, 0.0, 0.0]
    assert s.T.tolist() == [50 / 7, 47 / 7, 14 / 7, 0.0]
    assert s.mean_value.tolist() == [90 / 5, 50.0, 25.0, 0.0]
    assert s.mean_repeat_value.tolist() == [10.0, 60.0, 0.0, 0.0]


def test_windows_step_back_and_never_reach_past_the_cutoff() -> None:
    windows = engine.training_windows(0, CUTOFF, WINDOW)
    assert windows == [(46, 60), (39, 53), (32, 46)]  # then 25: under 4 weeks of history
    assert engine.training_windows(0, 30, 10) == []  # needs 4 weeks of history first


def test_time_shifted_labels_are_the_purchases_after_each_feature_cutoff() -> None:
    x, y, windows = engine.training_set(days(), engine.Activity.empty(), CUTOFF, WINDOW)
    assert len(windows) == 3
    # rows: customers present at each cutoff (10, 20, 30; at day 32 customer 30 is not yet)
    assert y.tolist() == [3, 0, 0, 3, 1, 0, 2, 1]
    repeat = x[:, list(engine.FEATURES).index("repeat_purchases")]
    assert repeat.tolist() == [3, 1, 0, 2, 0, 0, 1, 0]
    total = x[:, list(engine.FEATURES).index("total_spend")]
    assert total.tolist() == [80, 100, 25, 70, 40, 25, 60, 40]
    assert x.shape == (8, len(engine.FEATURES))


def test_outcomes_count_purchase_days_and_spend_in_the_window() -> None:
    count, spend = outcomes(days(), 50, 61)
    assert count.tolist() == [2.0, 0.0, 0.0, 1.0]
    assert spend.tolist() == [20.0, 0.0, 0.0, 99.0]


def test_metrics_by_hand() -> None:
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.6])
    label = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    # pairs (positive above negative): 0.9 > both, 0.7 > 0.6 only, 0.6 ties 0.6 (half)
    assert metrics.roc_auc(score, label) == pytest.approx((2 + 1 + 0.5 + 0) / 6)
    # precision at each recall step: 1/1, 2/3, then the tie group {0.6, 0.6}: 3/5
    assert metrics.pr_auc(score, label) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    assert metrics.spearman(np.array([1.0, 2, 3]), np.array([3.0, 2, 1])) == pytest.approx(-1)
    table = metrics.calibration_table(np.array([0.05, 0.15, 0.95, 0.99]), np.array([0, 0, 1, 0]))
    assert table == [
        {"bin": "0.0-0.1", "customers": 1, "mean_predicted": 0.05, "observed": 0.0},
        {"bin": "0.1-0.2", "customers": 1, "mean_predicted": 0.15, "observed": 0.0},
        {"bin": "0.9-1.0", "customers": 2, "mean_predicted": 0.97, "observed": 0.5},
    ]


def test_the_churn_features_are_scale_free_ratios_not_raw_weeks() -> None:
    x, _, _ = engine.training_set(days(), engine.Activity.empty(), CUTOFF, WINDOW)
    names = list(engine.FEATURES)

    def col(name: str) -> list[float]:
        return [round(v, 6) for v in x[:, names.index(name)].tolist()]

    # rows as above: customers 10, 20, 30 at day 46, again at day 39, then 10, 20 at day 32.
    # At 46, customer 10 has bought on days 0, 5, 38, 42: age 46, last 4 days ago, active
    # 42 days, 3 repeats (mean gap 14 days); 20 on days 3 and 44; 30 on day 36.
    assert col("recency_share") == [
        round(4 / 46, 6), round(2 / 43, 6), 1.0,
        round(1 / 39, 6), 1.0, 1.0,
        round(27 / 32, 6), 1.0,
    ]  # fmt: skip
    assert col("active_share") == [
        round(42 / 46, 6), round(41 / 43, 6), 0.0, round(38 / 39, 6), 0.0, 0.0,
        round(5 / 32, 6), 0.0,
    ]  # fmt: skip
    # time since the last purchase over the mean gap between purchases; -1 with no repeat
    assert col("recency_over_gap") == [
        round(4 / 14, 6), round(2 / 41, 6), -1.0, round(1 / 19, 6), -1.0, -1.0,
        round(27 / 5, 6), -1.0,
    ]  # fmt: skip
    assert len(engine.COUNT_FEATURES) == 21
    assert set(engine.FEATURES) - set(engine.CHURN_FEATURES) == {
        "weeks_first_to_last", "weeks_since_first", "weeks_since_last", "mean_weeks_between",
    }  # fmt: skip
