"""The worker loop: claim a job, run its handler and mark it done in one transaction.

`run` is what `patron worker` calls. Each of `concurrency` threads loops: claim one job in
its own short transaction (so other workers see it taken), then run the handler and the
fenced `complete` in a second transaction. A handler error rolls its writes back and
records the failure (backoff or dead) in a third. SIGTERM/SIGINT stop claiming; the job in
hand is finished first.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from patron.db import unit_of_work
from patron.jobs import service
from patron.jobs.handlers import HANDLERS, POLLERS, SCHEDULES, Poller
from patron.jobs.schemas import ClaimedJob, JobStatus

log = logging.getLogger("patron.worker")


class LeaseLost(Exception):
    """Another worker took the job after this one's lease expired: roll back."""


@dataclass
class WorkerStats:
    done: int = 0
    failed: int = 0
    dead: int = 0
    lost: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def run_one(job: ClaimedJob, worker_id: str, stats: WorkerStats) -> None:
    handler = HANDLERS.get(job.kind)
    error: str | None = None
    permanent = False
    if handler is None:
        error, permanent = f"no handler is registered for kind {job.kind!r}", True
    else:
        try:
            with unit_of_work() as session:
                handler(session, job.payload)
                if not service.complete(session, job=job, worker_id=worker_id):
                    raise LeaseLost
            stats.add("done")
            return
        except LeaseLost:
            log.warning("job %s: lease lost to another worker; rolled back", job.id)
            stats.add("lost")
            return
        except Exception as exc:  # noqa: BLE001 - any handler error is recorded on the job
            error = f"{type(exc).__name__}: {exc}"
            log.warning("job %s (%s) attempt %s failed: %s", job.id, job.kind, job.attempt, error)
    with unit_of_work() as session:
        outcome = service.fail(
            session, job=job, worker_id=worker_id, error=error, permanent=permanent
        )
    stats.add("dead" if outcome is JobStatus.DEAD else "failed")


def _loop(
    worker_id: str,
    kinds: Sequence[str] | None,
    stop: threading.Event,
    poll_seconds: float,
    burst: bool,
    max_jobs: int | None,
    lease_seconds: int | None,
    stats: WorkerStats,
) -> None:
    handled = 0
    while not stop.is_set():
        if max_jobs is not None and handled >= max_jobs:
            return
        try:
            with unit_of_work() as session:
                jobs = service.claim(
                    session, worker_id=worker_id, kinds=kinds, lease_seconds=lease_seconds
                )
        except Exception:  # noqa: BLE001 - a database hiccup: wait and try again
            log.exception("claiming failed; retrying in %.1f s", poll_seconds)
            stop.wait(poll_seconds)
            continue
        if not jobs:
            if burst:
                return
            stop.wait(poll_seconds)
            continue
        for job in jobs:
            run_one(job, worker_id, stats)
            handled += 1


def _poll(
    name: str, poller: Poller, stop: threading.Event, idle_seconds: float, burst: bool
) -> None:
    """Call `poller` until stopped, pausing `idle_seconds` whenever it found nothing (with
    `burst`, return then). An error is logged and retried after a pause: what the poller
    had taken is still in its inbox, because its transaction rolled back."""
    while not stop.is_set():
        try:
            done = poller()
        except Exception:  # noqa: BLE001 - a database hiccup: wait and try again
            log.exception("poller %s failed; retrying in %.1f s", name, idle_seconds)
            done = 0
        if done == 0:
            if burst:
                return
            stop.wait(idle_seconds)


def enqueue_due_schedules() -> list[int]:
    """Create the declared schedules' rows if new, then enqueue those that are due."""
    with unit_of_work() as session:
        service.ensure_schedules(session, specs=list(SCHEDULES.values()))
        return service.enqueue_due_schedules(session)


def _scheduler(stop: threading.Event, every: float) -> None:
    while not stop.wait(every):  # set when the worker loops have ended
        try:
            enqueue_due_schedules()
        except Exception:  # noqa: BLE001 - a database hiccup: the next tick tries again
            log.exception("enqueueing scheduled jobs failed; retrying in %.1f s", every)


def run(
    *,
    concurrency: int = 1,
    kinds: Sequence[str] | None = None,
    poll_seconds: float = 0.5,
    burst: bool = False,
    max_jobs: int | None = None,
    lease_seconds: int | None = None,
    stop: threading.Event | None = None,
    schedule_seconds: float = 5.0,
    schedules: bool = True,
    pollers: bool | None = None,
    poller_idle_seconds: float = 0.1,
) -> WorkerStats:
    """Run until `stop` is set (or, with `burst`, until no job is due).

    Due recurring jobs are enqueued at start and then every `schedule_seconds` (in burst
    mode only at start, so `patron worker --burst` runs what is due and exits), unless
    `schedules` is false (a worker dedicated to some kinds, or a test of the queue alone).
    The registered pollers (domains' inboxes) run too, each on its own thread, unless
    `pollers` is false; by default a worker restricted to some `kinds` runs none."""
    stop = stop or threading.Event()
    stats = WorkerStats()
    worker_id = new_worker_id()
    if schedules:
        enqueue_due_schedules()
    args = (worker_id, kinds, stop, poll_seconds, burst, max_jobs, lease_seconds, stats)
    threads = [
        threading.Thread(target=_loop, args=args, name=f"worker-{i}", daemon=True)
        for i in range(concurrency)
    ]
    if pollers is None:
        pollers = kinds is None
    if pollers:
        threads += [
            threading.Thread(
                target=_poll, args=(name, fn, stop, poller_idle_seconds, burst),
                name=f"poller-{name}", daemon=True,
            )
            for name, fn in POLLERS.items()
        ]  # fmt: skip
    ticker_stop = threading.Event()
    ticker = threading.Thread(
        target=_scheduler, args=(ticker_stop, schedule_seconds), name="scheduler", daemon=True
    )
    for t in threads:
        t.start()
    if schedules and not burst:
        ticker.start()
    for t in threads:
        while t.is_alive():
            t.join(0.2)
    ticker_stop.set()
    return stats
