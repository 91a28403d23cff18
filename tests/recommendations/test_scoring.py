"""The repeat-purchase component on hand-computed arrays (no database)."""

from __future__ import annotations

import numpy as np
import pytest

from patron.recommendations import algorithms as alg
from patron.recommendations import dataset, scoring

DAY = 86400.0


def bought(rows: list[tuple[int, int, int, float]]) -> dataset.Dataset:
    """(user, item, order, day) purchase lines."""
    u, i, b, d = (np.asarray(c) for c in zip(*rows, strict=True))
    return dataset.build(user_keys=u, item_keys=i, basket_keys=b, times=d * DAY,
                         quantities=np.ones(len(u)))  # fmt: skip


def test_history_counts_orders_not_lines() -> None:
    # given u0 has item 0 on two lines of order 0 and once in order 1, item 1 once in order 0
    data = bought([(0, 0, 0, 0), (0, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 10)])
    # when the history is counted without decay
    h = alg.history(data, now=10 * DAY, half_life_days=np.inf)
    # then item 0 was bought in 2 orders (not 3 lines), item 1 in 1
    assert h.toarray().tolist() == [[2.0, 1.0]]
    # and with a 10-day half-life the older order weighs a half
    h = alg.history(data, now=10 * DAY, half_life_days=10.0)
    assert h.toarray().tolist() == [[1.5, 0.5]]


def store() -> dataset.Dataset:
    # u0: item 0 in orders 0-3 (days 0-3), item 1 in order 3, then never ordered again;
    # u1: item 1 in orders 4 and 5; u2: item 1 in order 6 (day 4), item 0 in order 7 (day 5)
    return bought([(0, 0, 0, 0), (0, 0, 1, 1), (0, 0, 2, 2), (0, 0, 3, 3), (0, 1, 3, 3),
                   (1, 1, 4, 1), (1, 1, 5, 2), (2, 1, 6, 4), (2, 0, 7, 5)])  # fmt: skip


def test_rebuy_rate_counts_only_buyers_who_ordered_again() -> None:
    data = store()
    # item 0: u0 ordered again and rebought it; u2 bought it in their last order (no chance)
    # item 1: u1 rebought it, u2 ordered again without it; u0 bought it in their last order
    assert alg.rebuy_rate(data, prior_weight=0).tolist() == [1.0, 0.5]
    # shrunk toward the store's share (2 rebought of 3 chances) by 3 buyers
    assert alg.rebuy_rate(data, prior_weight=3).tolist() == pytest.approx([3 / 4, 3 / 5])
    # the rules' repeat rate counts every buyer: item 0 1 of 2, item 1 1 of 3
    assert alg.repeat_rate(data, np.arange(2), 2).tolist() == pytest.approx([1 / 2, 1 / 3])


def test_repeat_scores_have_diminishing_returns_and_follow_the_item() -> None:
    data = store()
    model = scoring.fit(data)
    assert model.params.repeat_prior_weight == 3.0
    assert model.item_rebuy.tolist() == pytest.approx([3 / 4, 3 / 5])
    _, h = scoring.user_vectors(data, np.asarray([0]), now=data.last_time, params=model.params)
    # when the repeat component scores u0's items (4 orders of item 0, 1 of item 1)
    own = scoring.repeat_scores(model, h)
    # then each is n ** 0.5 x (rebuy rate + 0.01) ** 0.5, n decayed over 730 days
    n0 = sum(np.exp2(-(5 - d) / 730) for d in (0, 1, 2, 3))
    n1 = np.exp2(-2 / 730)
    assert own[0] == pytest.approx([np.sqrt(n0 * 0.76), np.sqrt(n1 * 0.61)])
    # four orders count about twice what one order counts, not 4x (same rebuy rate)
    model.item_rebuy[:] = 0.5
    own = scoring.repeat_scores(model, h)
    assert own[0, 0] / own[0, 1] == pytest.approx(np.sqrt(n0 / n1))
