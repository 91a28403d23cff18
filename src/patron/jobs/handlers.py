"""Job handlers by kind. Domains register theirs (wired in patron.wiring); plugins and tests
add modules through PATRON_JOB_MODULES (comma-separated, imported by the worker at start).

A handler gets the job's session and payload. Its writes commit together with the job's
"done" mark, so they happen exactly once; effects outside the database (an email, an HTTP
call) must be idempotent by job id, because a worker killed after such an effect and before
its commit makes the job run again.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from patron.config import get_settings
from patron.jobs.schemas import ScheduleSpec

Handler = Callable[[Session, dict[str, Any]], None]
HANDLERS: dict[str, Handler] = {}
# A poller drains a domain's own durable inbox (e.g. the tracking API's accepted batches):
# it runs its own transactions and returns how much it did (0 = nothing waiting). The worker
# calls each one in a loop on its own thread, pausing only when it found nothing.
Poller = Callable[[], int]
POLLERS: dict[str, Poller] = {}
# Recurring jobs declared by domains; the worker creates their rows and enqueues them when due.
SCHEDULES: dict[str, ScheduleSpec] = {}


def register(kind: str, handler: Handler) -> None:
    HANDLERS[kind] = handler


def register_schedule(
    name: str, *, kind: str, every_seconds: int, payload: dict[str, Any] | None = None
) -> None:
    """Declare a recurring job (e.g. a nightly model refresh). Operators change the interval
    or disable it with `patron jobs schedules`; the declared interval is the default."""
    SCHEDULES[name] = ScheduleSpec(
        name=name, kind=kind, every_seconds=every_seconds, payload=payload
    )


def register_poller(name: str, poller: Poller) -> None:
    POLLERS[name] = poller


def _ping(session: Session, payload: dict[str, Any]) -> None:
    """Proves the pipeline end to end; writes nothing but the job's own state."""


register("jobs.ping", _ping)


def load_modules(spec: str | None = None) -> list[str]:
    """Import the modules named in PATRON_JOB_MODULES (or `spec`)."""
    names = [
        n.strip() for n in (spec if spec is not None else get_settings().job_modules).split(",")
    ]
    loaded = []
    for name in filter(None, names):
        importlib.import_module(name)
        loaded.append(name)
    return loaded
