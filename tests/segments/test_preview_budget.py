"""The builder's live count under a time budget (segments/preview.py), both backends.

Given 100 customers, every second one tagged "even", when the count must fit a budget,
then it is exact when it fits, estimated from the id sample (and said so) when it does
not, and a statement over its deadline is cancelled without harming the session.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from patron.core.time import utcnow
from patron.customers import service as customers_service
from patron.customers.schemas import CustomerCreate
from patron.segments import preview, service


@pytest.fixture
def hundred(session: Session) -> list[int]:
    ids = []
    for i in range(100):
        tags = ["even"] if i % 2 == 0 else []
        made = customers_service.create(
            session, data=CustomerCreate(email=f"p{i}@budget.test", tags=tags)
        )
        ids.append(made.id)
    session.flush()
    return ids


def test_a_count_that_fits_the_budget_is_exact(session: Session, hundred: list[int]) -> None:
    got = service.preview(session, query='has_tag("even")', sample=3, budget_ms=60_000)
    assert (got.count, got.estimated, got.sampled_share) == (50, False, None)
    assert [m.customer_id for m in got.sample] == [hundred[98], hundred[96], hundred[94]]
    plain = service.preview(session, query='has_tag("even")', sample=3)
    assert plain.count == 50
    assert plain.sample == got.sample


def test_no_budget_at_all_says_it_could_not_count(session: Session, hundred: list[int]) -> None:
    got = service.preview(session, query='has_tag("even")', sample=3, budget_ms=0)
    assert (got.count, got.estimated, got.sample) == (None, True, [])


def test_the_estimate_scales_the_sample_by_the_ids_it_covers(
    session: Session, hundred: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # 20 sampled ids, one per range, every fifth id from the newest down: offsets 99, 94,
    # ..., 4 from the first id; the even offsets among them (94, 84, ..., 4) are 10 members
    monkeypatch.setattr(preview, "SAMPLE_CUSTOMERS", 20)
    lo, hi = hundred[0], hundred[-1]
    assert hi - lo == 99
    assert preview.sample_ranges(lo, hi) == [(hi - 5 * i, hi - 5 * i) for i in range(20)]
    part = preview.sampled(session, query='has_tag("even")', now=utcnow())
    assert part is not None
    assert (part.covered, part.span, part.share) == (20, 100, 0.2)
    n = preview.how_many(session, part.members)
    assert (n, part.scale(n)) == (10, 50)
    assert preview.newest(session, part.members, 3) == [hundred[94], hundred[84], hundred[74]]


def test_a_small_store_is_sampled_whole(session: Session, hundred: list[int]) -> None:
    lo, hi = hundred[0], hundred[-1]
    assert preview.sample_ranges(lo, hi) == [(lo, hi)]  # 100 ids < SAMPLE_CUSTOMERS


def test_a_statement_over_its_deadline_is_cancelled_and_the_session_goes_on(
    session: Session, hundred: list[int]
) -> None:
    if session.get_bind().dialect.name == "postgresql":
        slow = sa.text("SELECT pg_sleep(5)")
    else:
        slow = sa.text(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000000)"
            " SELECT count(*) FROM n"
        )
    with pytest.raises(preview.OverBudget):
        with preview.deadline(session, 50):
            session.execute(slow)
    assert preview.bounded(session, 50, lambda: session.execute(slow).scalar()) is None
    # the session still works, and without a deadline
    assert session.execute(sa.text("SELECT 41 + 1")).scalar() == 42
    assert service.preview(session, query='has_tag("even")', sample=0).count == 50
