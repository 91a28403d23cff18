"""KPIs, RFM, cohorts and breakdowns against values computed by hand (conftest's store).

Given the store described in conftest.py, when the reports run, then every figure is the
one worked out below (both backends).
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import literal, select
from sqlalchemy.orm import Session

from patron.analytics import service
from patron.analytics.rfm import GRID
from patron.analytics.schemas import BreakdownDimension, RfmGroup, SpendUpsert
from patron.core.errors import NotFound, ValidationError
from tests.analytics.conftest import AS_OF, Q2, Store


def kpi_map(session: Session, start: date, end: date) -> dict[str, tuple[object, object]]:
    report = service.kpis(session, start=start, end=end)
    return {k.metric: (k.value, k.previous) for k in report.kpis}


def test_q2_kpis_and_the_previous_period_are_exact(session: Session, store: Store) -> None:
    report = service.kpis(session, start=Q2[0], end=Q2[1])
    assert (report.previous_period.start, report.previous_period.end) == (
        date(2025, 12, 31),
        date(2026, 4, 1),
    )
    got = {k.metric: (k.value, k.previous) for k in report.kpis}
    assert got == {
        # Q2: A 80+40, B 100-20 refunded, D 30 (480,000 IDR) + 90, E 120 (its 500 cancelled)
        "revenue": (44000, 31000),
        "orders": (6, 3),
        "aov": (7333, 10333),  # 44000 / 6 and 31000 / 3, half-even
        "customers": (4, 3),
        "new_customers": (2, 2),  # D, E; before: B, C
        "returning_customers": (2, 1),
        "new_customer_revenue": (24000, 26000),
        "returning_customer_revenue": (20000, 5000),
        "returning_revenue_share": (0.454545, 0.16129),
        "revenue_per_customer": (11000, 10333),
        "purchase_frequency": (1.5, 1.0),
        "repeat_purchase_rate": (0.75, 0.333333),  # A, B returning + D twice, of 4
        "retention_rate": (0.666667, 0.5),  # A, B of A, B, C; before: A of A, F
        "churn_rate": (0.333333, 0.5),
        # A: 2026-02-10 -> 04-10 -> 05-10 = 89 d / 2; B: 01-15 -> 06-01 = 137 d;
        # D: 04-05 -> 04-25 = 20 d. 246 / 4 gaps.
        "avg_days_between_orders": (61.5, 92.0),
        "historic_clv": (15333, 12000),  # 92000 / 6 customers; 48000 / 4
        "conversion_rate": (0.333333, None),  # 1 of 3 sessions; no sessions before
        "marketing_spend": (96000, 31000),
        "cac": (48000, 15500),
        "roi": (None, None),
        "csat": (None, None),
        "nps": (None, None),
    }
    reasons = {k.metric: k.reason for k in report.kpis if k.value is None}
    assert set(reasons) == {"roi", "csat", "nps"}
    assert all(reasons.values())


def test_trend_and_targets(session: Session, store: Store) -> None:
    service.set_target(session, metric="retention_rate", value=0.6)
    service.set_target(session, metric="aov", value=8000)
    service.set_target(session, metric="churn_rate", value=0.2)
    report = service.kpis(session, start=Q2[0], end=Q2[1])
    k = {x.metric: x for x in report.kpis}
    assert k["retention_rate"].trend.model_dump() == {
        "delta": 0.166667, "delta_pct": 0.3333, "direction": "up", "good": True,
    }  # fmt: skip
    assert (k["retention_rate"].target, k["retention_rate"].target_met) == (0.6, True)
    assert k["aov"].trend.model_dump() == {
        "delta": -3000, "delta_pct": -0.2903, "direction": "down", "good": False,
    }  # fmt: skip
    assert (k["aov"].target, k["aov"].target_met) == (8000, False)
    # churn: lower is better, so falling from 0.5 is good and 0.33 misses a 0.2 target
    assert (k["churn_rate"].trend.good, k["churn_rate"].target_met) == (True, False)
    assert k["marketing_spend"].trend.good is None
    assert [t.metric for t in service.list_targets(session)] == [
        "aov", "churn_rate", "retention_rate",
    ]  # fmt: skip
    service.delete_target(session, metric="aov")
    with pytest.raises(NotFound):
        service.delete_target(session, metric="aov")


@pytest.mark.parametrize(
    ("metric", "value", "field"),
    [("nope", 1.0, "metric"), ("retention_rate", 1.5, "value"), ("aov", 10.5, "value"),
     ("marketing_spend", 1.0, "metric")],
)  # fmt: skip
def test_bad_targets_name_the_field(
    session: Session, metric: str, value: float, field: str
) -> None:
    with pytest.raises(ValidationError) as err:
        service.set_target(session, metric=metric, value=value)
    assert err.value.field == field


def test_spend_is_prorated_by_days(session: Session, store: Store) -> None:
    # June 1-15 is 15 of June's 30 days: (30000 + 6000) * 15 / 30; the previous period,
    # May 17-31, is 15 of May's 31 days: 30000 * 15 / 31 = 14516.13. No new customers.
    got = kpi_map(session, date(2026, 6, 1), date(2026, 6, 16))
    assert got["marketing_spend"] == (18000, 14516)
    assert got["cac"] == (None, None)


def test_rfm_scores_and_groups(session: Session, store: Store) -> None:
    run = service.refresh_rfm(session, as_of=AS_OF)
    assert run.customers == 6
    t = service.rfm_table()
    rows = {
        r.customer_id: (
            r.r_score,
            r.f_score,
            r.m_score,
            r.rfm_group,
            r.recency_days,
            r.frequency,
            r.monetary,
        )  # fmt: skip
        for r in session.execute(select(t))
    }
    ids = store.ids
    assert rows == {
        ids["A"]: (4, 5, 4, "loyal", 51, 4, 27000),
        ids["B"]: (5, 3, 5, "champions", 29, 2, 28000),
        ids["C"]: (1, 1, 1, "dormant", 130, 1, 6000),
        ids["D"]: (2, 3, 2, "at_risk", 66, 2, 12000),
        ids["E"]: (3, 1, 2, "needs_attention", 56, 1, 12000),
        ids["F"]: (1, 1, 1, "dormant", 258, 1, 7000),
    }
    summary = service.rfm_summary(session)
    groups = {g.group: (g.customers, g.revenue) for g in summary.groups if g.customers}
    assert groups == {
        RfmGroup.CHAMPIONS: (1, 28000),
        RfmGroup.LOYAL: (1, 27000),
        RfmGroup.AT_RISK: (1, 12000),
        RfmGroup.NEEDS_ATTENTION: (1, 12000),
        RfmGroup.DORMANT: (2, 13000),
        RfmGroup.PROSPECTS: (1, 0),  # G
    }
    assert (summary.customers, summary.revenue) == (7, 92000)
    assert summary.edges["frequency"] == {"1": [1, 1], "3": [2, 2], "5": [4, 4]}
    # refreshing again replaces, never duplicates
    assert service.refresh_rfm(session, as_of=AS_OF).customers == 6
    page = service.rfm_scores(session, group=RfmGroup.DORMANT, limit=1)
    assert [s.customer_id for s in page.items] == [ids["C"]]
    assert [s.customer_id for s in service.rfm_scores(
        session, group=RfmGroup.DORMANT, cursor=page.next_cursor).items] == [ids["F"]]  # fmt: skip


def test_the_grid_gives_every_score_pair_exactly_one_group() -> None:
    cells = [(r, fm) for _, rs, fms in GRID for r in rs for fm in fms]
    assert sorted(cells) == [(r, fm) for r in range(1, 6) for fm in range(1, 6)]
    assert {g for g, _, _ in GRID} == set(RfmGroup) - {RfmGroup.PROSPECTS}
    assert service.rfm_group_of(r=5, f=5, m=5) is RfmGroup.CHAMPIONS
    assert service.rfm_group_of(r=1, f=5, m=5) is RfmGroup.PREVIOUSLY_LOYAL
    assert service.rfm_group_of(r=5, f=1, m=1) is RfmGroup.NEW


def test_cohorts_retention_and_revenue(session: Session, store: Store) -> None:
    report = service.cohorts(session, start="2025-10", end="2026-05")
    rows = {c.cohort: c for c in report.cohorts}
    assert [(c.cohort, c.customers) for c in report.cohorts] == [
        ("2025-10", 1), ("2025-11", 1), ("2025-12", 0), ("2026-01", 1), ("2026-02", 1),
        ("2026-03", 0), ("2026-04", 1), ("2026-05", 1),
    ]  # fmt: skip
    a = rows["2025-11"]  # A: Nov, Feb (k=3), Apr (k=5), May (k=6)
    assert a.active[:8] == [1, 0, 0, 1, 0, 1, 1, 0]
    assert a.revenue[:8] == [10000, 0, 0, 5000, 0, 8000, 4000, 0]
    assert a.revenue_per_customer[:8] == [10000, 10000, 10000, 15000, 15000, 23000, 27000, 27000]
    assert rows["2026-01"].retention[:6] == [1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    assert rows["2026-01"].revenue[:6] == [20000, 0, 0, 0, 0, 8000]  # refund taken off
    assert rows["2026-04"].revenue[0] == 12000  # D's IDR order converted to USD
    assert rows["2026-05"].revenue[0] == 12000  # E's cancelled order left out


def test_breakdowns(session: Session, store: Store) -> None:
    by = BreakdownDimension
    channel = service.breakdown(session, dimension=by.CHANNEL, start=Q2[0], end=Q2[1])
    assert [(r.key, r.orders, r.revenue, r.customers, r.new_customers, r.aov, r.spend, r.cac)
            for r in channel.rows] == [
        ("web", 3, 24000, 2, 1, 8000, 6000, 6000),
        ("app", 3, 20000, 2, 1, 6667, None, None),
        ("google_ads", 0, 0, 0, 0, None, 90000, None),
    ]  # fmt: skip
    country = service.breakdown(session, dimension=by.COUNTRY, start=Q2[0], end=Q2[1])
    assert [(r.key, r.orders, r.revenue, r.revenue_share) for r in country.rows] == [
        ("US", 3, 24000, 0.545455), ("ID", 2, 12000, 0.272727), ("GB", 1, 8000, 0.181818),
    ]  # fmt: skip
    service.refresh_rfm(session, as_of=AS_OF)
    rfm = service.breakdown(session, dimension=by.RFM_GROUP, start=Q2[0], end=Q2[1])
    assert [(r.key, r.orders, r.revenue) for r in rfm.rows] == [
        ("at_risk", 2, 12000), ("loyal", 2, 12000), ("needs_attention", 1, 12000),
        ("champions", 1, 8000),
    ]  # fmt: skip


def test_spend_entry_converts_and_replaces(session: Session, store: Store) -> None:
    row = service.set_spend(
        session,
        data=SpendUpsert(
            channel="meta", month="2026-06", amount=160_000_00, currency="IDR"
        ),  # fmt: skip
    )
    assert (row.amount, row.currency, row.base_amount) == (16_000_000, "IDR", 1000)
    again = service.set_spend(session, data=SpendUpsert(channel="meta", month="2026-06", amount=5))
    assert (again.id, again.amount, again.currency, again.base_amount) == (row.id, 5, "USD", 5)
    assert len(service.list_spend(session, start="2026-06", end="2026-06")) == 3
    with pytest.raises(ValidationError) as err:
        service.set_spend(session, data=SpendUpsert(channel="x", month="2026-13", amount=1))
    assert err.value.field == "month"
    with pytest.raises(ValidationError) as err:
        service.set_spend(
            session, data=SpendUpsert(channel="x", month="2026-01", amount=1, currency="EUR")
        )
    assert err.value.field == "currency"


def test_an_empty_store_gives_reasons_not_numbers(session: Session) -> None:
    report = service.kpis(session, start=date(2026, 1, 1), end=date(2026, 2, 1))
    values = {k.metric: (k.value, k.reason) for k in report.kpis}
    assert values["revenue"] == (0, None)
    assert values["aov"] == (None, "no orders in the period")
    assert values["retention_rate"] == (None, "no customer ordered in the previous period")
    assert values["cac"] == (None, "no marketing spend entered for the months of the period")
    assert service.refresh_rfm(session).customers == 0
    assert service.rfm_summary(session).customers == 0
    with pytest.raises(ValidationError) as err:
        service.kpis(session, start=date(2026, 2, 1), end=date(2026, 1, 1))
    assert err.value.field == "to"


def test_rfm_refreshes_as_a_scheduled_job(session: Session, store: Store) -> None:
    from patron.jobs import handlers, worker
    from patron.jobs import service as jobs_service
    from patron.wiring import wire

    wire()
    spec = handlers.SCHEDULES[service.RFM_REFRESH_JOB]
    assert (spec.kind, spec.every_seconds) == (service.RFM_REFRESH_JOB, 86400)
    job_id = service.enqueue_rfm_refresh(session)
    assert service.enqueue_rfm_refresh(session) is None  # the same refresh is queued once
    session.commit()
    claimed = jobs_service.claim(session, worker_id="w1", kinds=[service.RFM_REFRESH_JOB])
    session.commit()
    assert [j.id for j in claimed] == [job_id]
    stats = worker.WorkerStats()
    worker.run_one(claimed[0], "w1", stats)
    assert (stats.done, stats.failed) == (1, 0)
    assert service.rfm_summary(session).customers == 7
    assert len(service.rfm_scores(session).items) == 6


def test_breakdown_by_segment_uses_the_wired_membership(session: Session, store: Store) -> None:
    from patron.analytics import cohorts
    from patron.customers import service as customers_service

    by = BreakdownDimension.SEGMENT
    saved = dict(cohorts.MEMBERSHIP_SOURCES)
    cohorts.MEMBERSHIP_SOURCES.clear()
    try:
        with pytest.raises(ValidationError) as err:
            service.breakdown(session, dimension=by, start=Q2[0], end=Q2[1])
        assert err.value.field == "by"
        c = customers_service.customers_table()
        ids = store.ids

        def members(_: Session) -> object:  # "buyers A and D" and "everyone in the US"
            pairs = select(c.c.id.label("customer_id"), literal("ad").label("key")).where(
                c.c.id.in_([ids["A"], ids["D"]])
            )
            return pairs.union_all(select(c.c.id, literal("us")).where(c.c.country == "US"))

        service.register_segment_membership(members)  # type: ignore[arg-type]
        report = service.breakdown(session, dimension=by, start=Q2[0], end=Q2[1])
    finally:
        cohorts.MEMBERSHIP_SOURCES.clear()
        cohorts.MEMBERSHIP_SOURCES.update(saved)
    # ad: A 80 + 40, D 30 + 90; us: A 80 + 40, E 120 (C has no Q2 order). Shares of 44000.
    assert [(r.key, r.orders, r.revenue, r.revenue_share, r.customers, r.new_customers)
            for r in report.rows] == [
        ("ad", 4, 24000, 0.545455, 2, 1),
        ("us", 3, 24000, 0.545455, 2, 1),
    ]  # fmt: skip
