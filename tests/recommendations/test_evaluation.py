"""The evaluation protocol on a hand-computed example, and the report on the small store."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy.orm import Session

from patron.core.errors import ValidationError
from patron.recommendations import dataset, evaluation, service
from tests.recommendations.conftest import T0, Store

DAY = 86400.0


def hand_data() -> dataset.Dataset:
    # train (day 1): u0 {i0, i1}, u1 {i0}, u2 {i2, i1, i0}; test (day 20): u0 {i2, i1},
    # u1 {i1}, u1 also buys i3, an item nobody bought in train (left out: unknowable)
    rows = [(0, 0, 0, 1), (0, 1, 0, 1), (1, 0, 1, 1), (2, 2, 2, 1), (2, 1, 2, 1), (2, 0, 2, 1),
            (0, 2, 3, 20), (0, 1, 3, 20), (1, 1, 4, 20), (1, 3, 4, 20)]  # fmt: skip
    u, i, b, d = (np.asarray(c) for c in zip(*rows, strict=True))
    return dataset.build(user_keys=u, item_keys=i, basket_keys=b, times=d * DAY,
                         quantities=np.ones(len(u)))  # fmt: skip


def test_metrics_by_hand() -> None:
    split = evaluation.make_split(hand_data(), 10 * DAY)
    assert split.users.tolist() == [0, 1]
    assert [t.tolist() for t in split.truth_new] == [[2], [1]]
    assert [t.tolist() for t in split.truth_all] == [[1, 2], [1]]
    pop = evaluation.popularity_scorer(split)  # i0: 3, i1: 2, i2: 1
    new = evaluation.evaluate_users(split, pop, task="new_items", ks=(10,))
    # u0 may not get i0, i1 -> [i2], hit at 1; u1 may not get i0 -> [i1, i2], hit at 1
    assert new == {"lists": 2, "recall@10": 1.0, "precision@10": 0.1, "ndcg@10": 1.0,
                   "hit_rate@10": 1.0, "coverage@10": 0.6667}  # fmt: skip
    rep = evaluation.evaluate_users(split, pop, task="repeat_allowed", ks=(10,))
    # [i0, i1, i2] for both: u0 hits at 2 and 3 (NDCG (1/log2 3 + 1/2) / (1 + 1/log2 3)),
    # u1 at 2 (1/log2 3)
    ndcg = ((1 / np.log2(3) + 0.5) / (1 + 1 / np.log2(3)) + 1 / np.log2(3)) / 2
    assert rep == {"lists": 2, "recall@10": 1.0, "precision@10": 0.15,
                   "ndcg@10": round(ndcg, 4), "hit_rate@10": 1.0, "coverage@10": 1.0}  # fmt: skip
    # one later basket with 2 known items (u0's); either held-out item ranks 2nd behind i0
    assert split.queries.shape[0] == 1
    bt = evaluation.evaluate_baskets(split, evaluation.popularity_basket_scorer(split), ks=(10,))
    assert bt == {"lists": 1, "recall@10": 1.0, "precision@10": 0.1,
                  "ndcg@10": round(1 / np.log2(3), 4), "hit_rate@10": 1.0,
                  "coverage@10": 0.6667}  # fmt: skip


def test_report_on_the_store(session: Session, store: Store) -> None:
    report = service.evaluate(session, train_end=T0 + timedelta(days=10))
    assert set(report["tasks"]) == {"new_items", "repeat_allowed", "bought_together"}
    assert set(report["tasks"]["new_items"]) == {
        "popularity", "item_knn", "trending", "similar", "patron",
    }  # fmt: skip
    assert set(report["tasks"]["repeat_allowed"]) == {
        "popularity", "item_knn", "history_popularity", "trending", "similar", "patron",
    }  # fmt: skip
    assert set(report["tasks"]["bought_together"]) == {"popularity", "cosine", "patron"}
    metrics = report["tasks"]["new_items"]["patron"]
    assert sorted(metrics) == sorted(
        ["lists"] + [f"{m}@{k}" for m in ("recall", "precision", "ndcg", "hit_rate", "coverage")
                     for k in (10, 20)]
    )  # fmt: skip
    # bought before day 10 and after: ann, bob, fay, gus; later baskets with 2 items known
    # in train: only lee's (spoon, mug): plate, mug-red and mug-green are first sold later
    assert report["test"] == {"customers": 4, "baskets": 1}
    assert report["train"]["purchases"] == 19  # the lines of the orders of days 0 to 9


def test_train_end_outside_the_history_names_the_field(session: Session, store: Store) -> None:
    with pytest.raises(ValidationError) as e:
        service.evaluate(session, train_end=T0 - timedelta(days=1))
    assert e.value.field == "train_end"
