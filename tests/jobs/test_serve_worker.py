"""`patron serve` runs a job worker beside the API by default, and stops it when it stops."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from patron import db
from tests.conftest import PATRON, free_port, wait_for


def job_status(url: str, job_id: int) -> str:
    engine = db.make_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        status = conn.execute(sa.text("SELECT status FROM jobs WHERE id = :i"), {"i": job_id})
        value = str(status.scalar_one())
    engine.dispose()
    return value


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def wait_for_health(port: int, deadline: float) -> int:
    while True:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_serve_runs_queued_jobs_and_stops_its_worker(database: str, tmp_path: Path) -> None:
    env = {**os.environ, "PATRON_DATABASE_URL": database, "PATRON_LOG_LEVEL": "warning",
           "PATRON_JOB_POLL_SECONDS": "0.1"}  # fmt: skip
    run = {"env": env, "cwd": tmp_path, "capture_output": True, "text": True,
           "stdin": subprocess.DEVNULL, "timeout": 120, "check": True}  # fmt: skip
    subprocess.run([PATRON, "init"], **run)  # type: ignore[call-overload]
    out = subprocess.run([PATRON, "jobs", "enqueue", "jobs.ping"], **run)  # type: ignore[call-overload]
    job_id = int(out.stdout.strip().splitlines()[-1])
    port = free_port()
    proc = subprocess.Popen(
        [PATRON, "serve", "--port", str(port)], env=env, cwd=tmp_path,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        wait_for(lambda: job_status(database, job_id) == "done", "the job to be done")
        # the worker may finish before the API listens (the app loads SciPy at start-up)
        assert wait_for_health(port, deadline) == 200
        worker_pids = children(proc.pid)
        assert len(worker_pids) == 1
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    wait_for(lambda: not Path(f"/proc/{worker_pids[0]}").exists(), "the worker to exit", 10)
