"""Wires ports to adapters once per process (API, CLI, worker): merge hooks, job handlers."""

from __future__ import annotations

from typing import Any

from patron.analytics import service as analytics_service
from patron.analytics import tasks as analytics_tasks
from patron.customers import service as customers_service
from patron.events import service as events_service
from patron.events import tasks as events_tasks
from patron.jobs import handlers as job_handlers
from patron.orders import service as orders_service
from patron.predictive import service as predictive_service
from patron.predictive import tasks as predictive_tasks
from patron.recommendations import tasks as recommendations_tasks
from patron.recommendations.schemas import TRAIN_JOB, TRAIN_SCHEDULE
from patron.segments import service as segments_service
from patron.segments import tasks as segments_tasks
from patron.segments.schemas import BUILTINS_JOB, ENTERED_JOB, EXITED_JOB, REFRESH_JOB, TICK_JOB

_wired = False


def wire() -> None:
    global _wired
    if _wired:
        return
    for hook in [
        *orders_service.MERGE_HOOKS,
        *events_service.MERGE_HOOKS,
        *analytics_service.MERGE_HOOKS,
    ]:
        customers_service.register_merge_hook(hook)
    job_handlers.register_poller("events.inbox", events_tasks.drain_inbox)
    job_handlers.register(analytics_service.RFM_REFRESH_JOB, analytics_tasks.refresh_rfm)
    job_handlers.register(analytics_service.SNAPSHOT_JOB, analytics_tasks.refresh_snapshot)
    job_handlers.register_schedule(
        analytics_service.RFM_REFRESH_JOB,
        kind=analytics_service.RFM_REFRESH_JOB,
        every_seconds=analytics_service.RFM_REFRESH_EVERY_SECONDS,
    )
    job_handlers.register(analytics_service.SESSIONS_REFRESH_JOB, analytics_tasks.refresh_sessions)
    job_handlers.register_schedule(
        analytics_service.SESSIONS_REFRESH_JOB,
        kind=analytics_service.SESSIONS_REFRESH_JOB,
        every_seconds=analytics_service.SESSIONS_REFRESH_EVERY_SECONDS,
    )
    job_handlers.register_schedule(
        analytics_service.SESSIONS_REBUILD_SCHEDULE,
        kind=analytics_service.SESSIONS_REFRESH_JOB,
        every_seconds=analytics_service.SESSIONS_REBUILD_EVERY_SECONDS,
        payload={"full": True},
    )
    job_handlers.register(
        analytics_service.ORDER_DAYS_REFRESH_JOB, analytics_tasks.refresh_order_days
    )
    job_handlers.register_schedule(
        analytics_service.ORDER_DAYS_REFRESH_JOB,
        kind=analytics_service.ORDER_DAYS_REFRESH_JOB,
        every_seconds=analytics_service.ORDER_DAYS_REFRESH_EVERY_SECONDS,
    )
    job_handlers.register(REFRESH_JOB, segments_tasks.refresh)
    job_handlers.register(TICK_JOB, segments_tasks.tick)
    job_handlers.register_schedule(
        TICK_JOB, kind=TICK_JOB, every_seconds=segments_tasks.TICK_SECONDS
    )
    job_handlers.register(BUILTINS_JOB, segments_tasks.refresh_builtins)
    job_handlers.register_schedule(
        BUILTINS_JOB, kind=BUILTINS_JOB, every_seconds=segments_tasks.BUILTINS_SECONDS
    )
    for kind in (ENTERED_JOB, EXITED_JOB):
        if kind not in job_handlers.HANDLERS:  # a flow trigger registered first wins
            job_handlers.register(kind, segments_tasks.membership_changed)
    analytics_service.register_segment_membership(segments_service.membership_rows)
    job_handlers.register(TRAIN_JOB, recommendations_tasks.train)
    job_handlers.register_schedule(
        TRAIN_SCHEDULE, kind=TRAIN_JOB, every_seconds=recommendations_tasks.SCHEDULE_SECONDS
    )
    for kind, handler in (
        (predictive_service.BACKTEST_JOB, predictive_tasks.backtest),
        (predictive_service.TRAIN_JOB, predictive_tasks.train),
        (predictive_service.SCORE_JOB, predictive_tasks.score),
        (predictive_service.REFRESH_JOB, predictive_tasks.refresh),
    ):
        job_handlers.register(kind, handler)
    job_handlers.register_schedule(
        predictive_service.REFRESH_SCHEDULE,
        kind=predictive_service.REFRESH_JOB,
        every_seconds=predictive_service.REFRESH_SECONDS,
    )
    customers_service.register_profile_extension(predictive_service.profile_extension())
    _register_prediction_fields()
    _wired = True


def _register_prediction_fields() -> None:
    """Scores usable in segment conditions: `predicted_clv > 100`, `churn_risk = "high"`."""
    for name, (kind, text) in predictive_service.SEGMENT_FIELDS.items():
        if name in segments_service.EXTRA_FIELDS:
            continue

        def source(column: str = name) -> tuple[Any, Any, Any]:
            t = predictive_service.scores_table()
            return t, t.c.customer_id, t.c[column]

        spec = segments_service.ExtraField(kind=kind, source=source, description=text)
        segments_service.register_field(name, spec)
