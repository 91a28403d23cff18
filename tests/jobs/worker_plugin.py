"""Handlers for the worker process tests, loaded through PATRON_JOB_MODULES.

`test.effect` writes one row to `job_effects` (a table the test creates) and, when the
payload asks and PATRON_TEST_HOLD_FILE is set, announces itself in that file and holds its
transaction open for `hold` seconds, so that the test can kill or stop the worker mid-job.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from patron.jobs.handlers import register


def effect(session: Session, payload: dict[str, Any]) -> None:
    session.execute(
        text("INSERT INTO job_effects (n, pid) VALUES (:n, :pid)"),
        {"n": payload["n"], "pid": os.getpid()},
    )
    hold_file = os.environ.get("PATRON_TEST_HOLD_FILE")
    if payload.get("hold") and hold_file:
        Path(hold_file).write_text(str(payload["n"]))
        time.sleep(float(payload["hold"]))


register("test.effect", effect)
