"""`patron worker` and `patron jobs ...`."""

from __future__ import annotations

import json
import logging
import signal
import threading
from typing import Any

import typer

from patron.clitools import console, fail, handles_errors
from patron.config import get_settings
from patron.db import unit_of_work
from patron.jobs import handlers, service, worker
from patron.jobs.schemas import JobStatus

jobs_app = typer.Typer(help="The durable job queue.", no_args_is_help=True)


@handles_errors
def worker_command(
    concurrency: int = typer.Option(1, "--concurrency", min=1, max=64, help="threads"),
    kinds: list[str] = typer.Option([], "--kind", help="only these job kinds (repeatable)"),
    burst: bool = typer.Option(False, "--burst", help="exit when no job is due"),
    max_jobs: int | None = typer.Option(None, "--max-jobs", min=1, help="per thread"),
    poll: float = typer.Option(None, "--poll-interval", min=0.01, help="seconds"),
    lease: int = typer.Option(None, "--lease", min=1, help="seconds a claim is held"),
    schedules: bool = typer.Option(
        True, "--schedules/--no-schedules", help="enqueue due recurring jobs (ADR 15)"
    ),
    pollers: bool | None = typer.Option(
        None,
        "--inboxes/--no-inboxes",
        help="drain the domains' inboxes, e.g. accepted tracking batches (ADR 20);"
        " default: yes unless --kind is given",
    ),
) -> None:
    """Run jobs from the queue until stopped (SIGTERM/SIGINT finish the current job)."""
    settings = get_settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(message)s")
    try:
        loaded = handlers.load_modules()
    except ImportError as exc:
        raise fail(str(exc), field="PATRON_JOB_MODULES") from None
    stop = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        console.print(f"signal {signum}: finishing the current job, then stopping")
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    console.print(
        f"worker: {concurrency} thread(s), kinds {', '.join(kinds) or 'all'}"
        + (f", modules {', '.join(loaded)}" if loaded else ""),
        markup=False,
    )
    stats = worker.run(
        concurrency=concurrency,
        kinds=kinds or None,
        poll_seconds=poll or settings.job_poll_seconds,
        burst=burst,
        max_jobs=max_jobs,
        lease_seconds=lease,
        stop=stop,
        schedules=schedules,
        pollers=pollers,
    )
    console.print(
        f"worker stopped: {stats.done} done, {stats.failed} to retry, {stats.dead} dead,"
        f" {stats.lost} lost to other workers"
    )


def _status(value: str | None) -> JobStatus | None:
    if value is None:
        return None
    try:
        return JobStatus(value)
    except ValueError:
        raise fail(
            f"must be one of {', '.join(s.value for s in JobStatus)}", field="--status"
        ) from None


@jobs_app.command("list")
@handles_errors
def list_command(
    status: str = typer.Option(None, "--status"),
    kind: str = typer.Option(None, "--kind"),
    limit: int = typer.Option(50, "--limit", min=1, max=200),
    as_json: bool = typer.Option(False, "--json", help="one JSON object"),
) -> None:
    """Jobs, newest first."""
    with unit_of_work(readonly=True) as session:
        page = service.list_jobs(session, status=_status(status), kind=kind, limit=limit)
    if as_json:
        print(page.model_dump_json())  # noqa: T201
        return
    for j in page.items:
        console.print(
            f"#{j.id} {j.kind} {j.status} attempts {j.attempts}/{j.max_attempts}"
            + (f" error: {j.last_error}" if j.last_error else ""),
            markup=False,
        )


@jobs_app.command("stats")
@handles_errors
def stats_command(as_json: bool = typer.Option(False, "--json")) -> None:
    """Counts by status and by kind."""
    with unit_of_work(readonly=True) as session:
        s = service.stats(session)
    if as_json:
        print(s.model_dump_json())  # noqa: T201
        return
    console.print(" ".join(f"{k}: {v}" for k, v in s.by_status.items()), markup=False)


@jobs_app.command("retry")
@handles_errors
def retry_command(job_id: int = typer.Argument(..., help="a dead job's id")) -> None:
    """Put a dead job back in the queue."""
    with unit_of_work() as session:
        job = service.retry(session, job_id=job_id)
    console.print(f"job #{job.id} queued again")


@jobs_app.command("enqueue")
@handles_errors
def enqueue_command(
    kind: str = typer.Argument(...),
    payload: str = typer.Option("{}", "--payload", help="a JSON object"),
    max_attempts: int = typer.Option(5, "--max-attempts", min=1),
) -> None:
    """Add a job by hand (operations, smoke tests: `patron jobs enqueue jobs.ping`)."""
    try:
        data = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise fail(f"is not JSON: {exc}", field="--payload") from None
    if not isinstance(data, dict):
        raise fail("must be a JSON object", field="--payload")
    with unit_of_work() as session:
        job_id = service.enqueue(session, kind=kind, payload=data, max_attempts=max_attempts)
    print(job_id)  # noqa: T201 - the last line, for scripts


@jobs_app.command("schedules")
@handles_errors
def schedules_command(
    name: str = typer.Argument(None, help="a schedule to change (omit to list them all)"),
    every: int = typer.Option(None, "--every", min=1, help="new interval in seconds"),
    enable: bool = typer.Option(None, "--enable/--disable"),
    run_now: bool = typer.Option(False, "--run-now", help="make it due at once"),
    as_json: bool = typer.Option(False, "--json", help="one JSON list"),
) -> None:
    """Recurring jobs (model refreshes, segment refreshes): list, or change one."""
    with unit_of_work() as session:
        service.ensure_schedules(session, specs=list(handlers.SCHEDULES.values()))
        if name:
            service.update_schedule(
                session, name=name, every_seconds=every, enabled=enable, run_now=run_now
            )
        elif every is not None or enable is not None or run_now:
            raise fail("name the schedule to change", field="name")
        rows = service.list_schedules(session)
    if as_json:
        print(json.dumps([r.model_dump(mode="json") for r in rows]))  # noqa: T201
        return
    for r in rows:
        state = "on" if r.enabled else "off"
        console.print(
            f"{r.name} ({r.kind}) every {r.every_seconds}s {state},"
            f" next {r.next_run_at:%Y-%m-%d %H:%M:%S}Z",
            markup=False,
        )
