"""Real `patron worker` processes on a real committed database: killed, stopped, racing."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from patron import db
from patron.jobs import service
from patron.migrate import upgrade
from tests.conftest import PATRON, ROOT, drop_database, new_database_url, wait_for

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    url = new_database_url(request.param, tmp_path)
    engine = db.make_engine(url, poolclass=NullPool)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE job_effects (n INTEGER NOT NULL, pid INTEGER)"))
    yield url, engine
    engine.dispose()
    drop_database(url)


def enqueue(engine: Engine, payloads: list[dict[str, object]]) -> list[int]:
    with Session(engine) as session:
        ids = [service.enqueue(session, kind="test.effect", payload=p, run_at=T0) for p in payloads]
        session.commit()
    return [i for i in ids if i is not None]


def worker(url: str, *args: str, hold_file: Path | None = None) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PATRON_DATABASE_URL": url,
        "PATRON_JOB_MODULES": "tests.jobs.worker_plugin",
        "PYTHONPATH": str(ROOT),
        "PATRON_LOG_LEVEL": "warning",
    }
    env.pop("PATRON_TEST_HOLD_FILE", None)
    if hold_file is not None:
        env["PATRON_TEST_HOLD_FILE"] = str(hold_file)
    return subprocess.Popen(
        # The queue alone: no recurring jobs of the domains (ADR 15) among the test's own.
        [PATRON, "worker", "--poll-interval", "0.05", "--no-schedules", *args],
        env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def jobs_state(engine: Engine) -> list[tuple[int, str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, status, attempts FROM jobs ORDER BY id"))
        return [(r[0], r[1], r[2]) for r in rows]


def effects(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return sorted(r[0] for r in conn.execute(sa.text("SELECT n FROM job_effects")))


def test_killing_a_worker_mid_job_loses_nothing_and_completes_nothing_twice(
    database: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = database
    # Given six jobs, the third of which holds its transaction open for a minute
    ids = enqueue(engine, [{"n": n, "hold": 60 if n == 2 else 0} for n in range(6)])
    hold = tmp_path / "holding"
    first = worker(url, "--lease", "2", hold_file=hold)
    try:
        wait_for(hold.exists, "the worker to start the held job")
        # When the worker is killed with SIGKILL in the middle of that job
        os.kill(first.pid, signal.SIGKILL)
        first.communicate(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    assert jobs_state(engine)[:3] == [
        (ids[0], "done", 1),
        (ids[1], "done", 1),
        (ids[2], "running", 1),
    ]
    assert effects(engine) == [0, 1]  # the held job's write died with its transaction

    # and another worker starts once the dead worker's lease has expired
    def lease_expired() -> bool:
        with engine.connect() as conn:
            until = conn.execute(
                sa.text("SELECT lease_until FROM jobs WHERE id = :i"), {"i": ids[2]}
            )
            value = until.scalar_one()
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return bool(value.replace(tzinfo=value.tzinfo or UTC) < datetime.now(UTC))

    wait_for(lease_expired, "the lease to expire")
    second = worker(url, "--burst")
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    # Then every job is done exactly once, the killed one on its second attempt
    assert jobs_state(engine) == [(i, "done", 2 if i == ids[2] else 1) for i in ids]
    assert effects(engine) == [0, 1, 2, 3, 4, 5]
    assert "worker stopped: 4 done, 0 to retry, 0 dead, 0 lost to other workers" in out


def test_sigterm_finishes_the_job_in_hand_then_stops_claiming(
    database: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = database
    ids = enqueue(engine, [{"n": 0, "hold": 1.5}, {"n": 1}, {"n": 2}])
    hold = tmp_path / "holding"
    proc = worker(url, hold_file=hold)
    wait_for(hold.exists, "the worker to start the held job")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert jobs_state(engine) == [(ids[0], "done", 1), (ids[1], "queued", 0), (ids[2], "queued", 0)]
    assert effects(engine) == [0]
    assert "worker stopped: 1 done" in out


def test_racing_workers_run_each_job_once(database: tuple[str, Engine]) -> None:
    url, engine = database
    ids = enqueue(engine, [{"n": n} for n in range(60)])
    procs = [worker(url, "--burst", "--concurrency", "2") for _ in range(3)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert jobs_state(engine) == [(i, "done", 1) for i in ids]
    assert effects(engine) == list(range(60))


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_postgresql_claims_skip_rows_another_worker_has_locked(
    database: tuple[str, Engine],
) -> None:
    url, engine = database
    # (SQLite serialises claims on its writer lock: the racing test covers it.)
    ids = enqueue(engine, [{"n": n} for n in range(4)])
    with Session(engine) as a, Session(engine) as b:
        got_a = service.claim(a, worker_id="a", limit=2)  # transaction a still open
        got_b = service.claim(b, worker_id="b", limit=10)
        assert [j.id for j in got_a] == ids[:2]
        assert [j.id for j in got_b] == ids[2:]
        a.commit()
        b.commit()
