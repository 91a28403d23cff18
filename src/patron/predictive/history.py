"""Purchase histories as arrays: per customer-day rows in, per-customer summaries out.

Everything downstream (BTYD fits, supervised features, labels, backtests) starts from
`Days`: one row per (customer, UTC day with a counted order), the day's net spend in
minor units. Same-day orders are one purchase (the Fader-Hardie protocol). Day numbers
are days since 1970-01-01; `cutoff` is the last day included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
WEEK = 7.0
EPOCH = date(1970, 1, 1)


def day_number(value: date | datetime) -> int:
    """Days since 1970-01-01 of a date (or of an aware datetime's UTC date)."""
    return ((value.date() if isinstance(value, datetime) else value) - EPOCH).days


def day_to_iso(day: int) -> str:
    return (EPOCH + timedelta(days=int(day))).isoformat()


@dataclass(frozen=True, slots=True)
class Days:
    """Customer-day purchase rows sorted by (customer index, day)."""

    customer_ids: IntArray  # the distinct customer ids, index i -> id
    idx: IntArray  # customer index per row
    day: IntArray  # day number per row
    spend: FloatArray  # net spend of the day, minor units

    @classmethod
    def build(cls, customer_id: IntArray, day: IntArray, spend: FloatArray) -> Days:
        """From unsorted rows (possibly several per customer-day): merge and sort."""
        ids, idx = np.unique(customer_id, return_inverse=True)
        key = idx.astype(np.int64) * 1_000_000 + (day - day.min() if len(day) else day)
        ukey, inv = np.unique(key, return_inverse=True)
        total = np.bincount(inv, weights=spend, minlength=len(ukey))
        first = np.zeros(len(ukey), dtype=np.int64)
        first[inv[::-1]] = np.arange(len(inv))[::-1]
        return cls(
            ids.astype(np.int64), idx[first].astype(np.int64), day[first], total.astype(np.float64)
        )

    def upto(self, cutoff: int) -> Days:
        keep = self.day <= cutoff
        return Days(self.customer_ids, self.idx[keep], self.day[keep], self.spend[keep])

    def between(self, after: int, upto: int) -> Days:
        keep = (self.day > after) & (self.day <= upto)
        return Days(self.customer_ids, self.idx[keep], self.day[keep], self.spend[keep])

    @property
    def n_customers(self) -> int:
        return len(self.customer_ids)


@dataclass(frozen=True, slots=True)
class Summary:
    """Per customer, for the customers with a purchase on or before the cutoff (`present`).
    Times in weeks; money in minor units."""

    present: NDArray[np.bool_]
    x: FloatArray  # repeat purchase days
    t_x: FloatArray  # weeks from the first to the last purchase
    T: FloatArray  # weeks from the first purchase to the cutoff
    n: FloatArray  # purchase days (x + 1)
    mean_value: FloatArray  # mean spend per purchase day (all purchases)
    mean_repeat_value: FloatArray  # mean spend of the repeat purchases (0 when x = 0)
    last_value: FloatArray
    total_spend: FloatArray
    first_day: IntArray
    last_day: IntArray


def summarize(days: Days, cutoff: int) -> Summary:
    d = days.upto(cutoff)
    size = days.n_customers
    n = np.bincount(d.idx, minlength=size).astype(np.float64)
    present = n > 0
    big = np.iinfo(np.int64).max
    first = np.full(size, big, dtype=np.int64)
    np.minimum.at(first, d.idx, d.day)
    last = np.full(size, -big, dtype=np.int64)
    np.maximum.at(last, d.idx, d.day)
    total = np.bincount(d.idx, weights=d.spend, minlength=size).astype(np.float64)
    first_spend = np.zeros(size)
    # rows are sorted by (customer, day): a customer's first row is its first purchase
    starts = np.ones(len(d.idx), dtype=bool)
    starts[1:] = d.idx[1:] != d.idx[:-1]
    first_spend[d.idx[starts]] = d.spend[starts]
    ends = np.ones(len(d.idx), dtype=bool)
    ends[:-1] = d.idx[1:] != d.idx[:-1]
    last_value = np.zeros(size)
    last_value[d.idx[ends]] = d.spend[ends]
    first = np.where(present, first, cutoff)
    last = np.where(present, last, cutoff)
    x = np.maximum(n - 1, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_value = np.where(present, total / np.maximum(n, 1), 0.0)
        mean_repeat = np.where(x > 0, (total - first_spend) / np.maximum(x, 1), 0.0)
    return Summary(
        present=present,
        x=x,
        t_x=(last - first) / WEEK,
        T=(cutoff - first) / WEEK,
        n=n,
        mean_value=mean_value,
        mean_repeat_value=mean_repeat,
        last_value=last_value,
        total_spend=total,
        first_day=first,
        last_day=last,
    )


def outcomes(days: Days, after: int, upto: int) -> tuple[FloatArray, FloatArray]:
    """Purchase days and net spend per customer in (after, upto]: the labels."""
    d = days.between(after, upto)
    size = days.n_customers
    count = np.bincount(d.idx, minlength=size).astype(np.float64)
    spend = np.bincount(d.idx, weights=d.spend, minlength=size).astype(np.float64)
    return count, spend
