"""The interaction data every recommender learns from, as NumPy arrays (no ORM rows).

Purchases are order lines (customer, product, order, time, quantity); views are "Product
Viewed" events (customer, product, time). Users and items are dense indexes 0..n-1 into
`user_ids` / `item_ids` (customer and product ids in the database, or any ids a bench uses).
The same `Dataset` is built by `training.load_dataset` from the database and by the
benchmark from a file, so training and evaluation are one code path for both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

DAY = 86400.0

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(slots=True)
class Dataset:
    user_ids: IntArray
    item_ids: IntArray
    # purchases: one row per order line
    p_user: IntArray
    p_item: IntArray
    p_basket: IntArray
    p_time: FloatArray  # epoch seconds
    p_quantity: FloatArray
    # views: one row per product view
    v_user: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    v_item: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    v_time: FloatArray = field(default_factory=lambda: np.zeros(0, np.float64))
    # per user: country code index into `countries` (-1 = unknown)
    user_country: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    countries: list[str] = field(default_factory=list)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def last_time(self) -> float:
        times = [t.max() for t in (self.p_time, self.v_time) if len(t)]
        return float(max(times)) if times else 0.0

    def window(self, start: float | None, end: float | None) -> Dataset:
        """The interactions with start <= time < end (same user and item indexes)."""

        def keep(t: FloatArray) -> npt.NDArray[np.bool_]:
            m = np.ones(len(t), dtype=bool)
            if start is not None:
                m &= t >= start
            if end is not None:
                m &= t < end
            return m

        p, v = keep(self.p_time), keep(self.v_time)
        return Dataset(
            user_ids=self.user_ids,
            item_ids=self.item_ids,
            p_user=self.p_user[p],
            p_item=self.p_item[p],
            p_basket=self.p_basket[p],
            p_time=self.p_time[p],
            p_quantity=self.p_quantity[p],
            v_user=self.v_user[v],
            v_item=self.v_item[v],
            v_time=self.v_time[v],
            user_country=self.user_country,
            countries=self.countries,
        )


def build(
    *,
    user_keys: npt.ArrayLike,
    item_keys: npt.ArrayLike,
    basket_keys: npt.ArrayLike,
    times: npt.ArrayLike,
    quantities: npt.ArrayLike,
    view_user_keys: npt.ArrayLike = (),
    view_item_keys: npt.ArrayLike = (),
    view_times: npt.ArrayLike = (),
    user_country: dict[int, str] | None = None,
    items: npt.ArrayLike | None = None,
) -> Dataset:
    """Index raw integer keys: users and items seen anywhere (and `items`, the catalog)."""
    pu = np.asarray(user_keys, dtype=np.int64)
    pi = np.asarray(item_keys, dtype=np.int64)
    vu = np.asarray(view_user_keys, dtype=np.int64)
    vi = np.asarray(view_item_keys, dtype=np.int64)
    extra = np.zeros(0, np.int64) if items is None else np.asarray(items, dtype=np.int64)
    user_ids = np.unique(np.concatenate([pu, vu]))
    item_ids = np.unique(np.concatenate([pi, vi, extra]))
    _, basket = np.unique(np.asarray(basket_keys, dtype=np.int64), return_inverse=True)
    countries = sorted(set((user_country or {}).values()))
    code = {c: k for k, c in enumerate(countries)}
    uc = np.full(len(user_ids), -1, dtype=np.int64)
    if user_country:
        for k, uid in enumerate(user_ids.tolist()):
            c = user_country.get(uid)
            if c is not None:
                uc[k] = code[c]
    return Dataset(
        user_ids=user_ids,
        item_ids=item_ids,
        p_user=np.searchsorted(user_ids, pu).astype(np.int64),
        p_item=np.searchsorted(item_ids, pi).astype(np.int64),
        p_basket=basket.astype(np.int64),
        p_time=np.asarray(times, dtype=np.float64),
        p_quantity=np.asarray(quantities, dtype=np.float64),
        v_user=np.searchsorted(user_ids, vu).astype(np.int64),
        v_item=np.searchsorted(item_ids, vi).astype(np.int64),
        v_time=np.asarray(view_times, dtype=np.float64),
        user_country=uc,
        countries=countries,
    )
