"""Every storage test runs on a real SQLite file and a real PostgreSQL database.

One schema per backend per test session (Alembic migrations, as in production); each test
runs inside a transaction that is rolled back, with the code's own commits turned into
SAVEPOINT releases. A missing PostgreSQL is an error, never a skip.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from patron import db
from patron.auth import service as auth_service
from patron.auth.schemas import Role
from patron.migrate import upgrade

# The test process is not a served process: it builds hundreds of apps, and freezing the heap
# at each start (ADR 23) would keep every earlier test's cycles; test_app turns it on.
os.environ.setdefault("PATRON_FREEZE_HEAP", "0")

PG_ADMIN_URL = os.environ.get(
    "PATRON_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgresql"]
PATRON = str(Path(sys.executable).parent / "patron")
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now (for a server a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], object], what: str, seconds: float = 60) -> None:
    """Poll `predicate` every 50 ms until it is truthy; fail naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _pg_execute(sql: str) -> None:
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(sql))
    except sa.exc.OperationalError as exc:  # pragma: no cover - a broken machine
        pytest.exit(f"PostgreSQL is required for the tests and is not reachable: {exc}", 3)
    finally:
        engine.dispose()


def new_database_url(backend: str, tmp: Path) -> str:
    """A fresh, empty database of `backend` (a file, or a new PostgreSQL database)."""
    name = f"patron_test_{uuid.uuid4().hex[:12]}"
    if backend == "sqlite":
        return f"sqlite:///{tmp / (name + '.db')}"
    _pg_execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    if url.startswith("sqlite"):
        return
    name = url.rsplit("/", 1)[1]
    _pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def migrated_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = new_database_url(backend, tmp_path_factory.mktemp(backend))
    engine = db.make_engine(url, poolclass=NullPool)
    upgrade(engine)
    engine.dispose()
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def engine(migrated_url: str) -> Iterator[Engine]:
    engine = db.make_engine(migrated_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    connection = engine.connect()
    outer = connection.begin()
    db.set_engine(engine)
    db.bind_connection(connection)
    s = db.new_session()
    try:
        yield s
    finally:
        s.close()
        outer.rollback()
        connection.close()
        db.set_engine(engine)


@pytest.fixture
def client(session: Session) -> Iterator[TestClient]:
    from patron.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c


def make_key(session: Session, role: Role) -> dict[str, str]:
    key = auth_service.create_api_key(session, name=f"test-{role.value}", role=role)
    session.commit()
    return {"Authorization": f"Bearer {key.secret}"}


@pytest.fixture
def owner(session: Session) -> dict[str, str]:
    return make_key(session, Role.OWNER)


@pytest.fixture
def analyst(session: Session) -> dict[str, str]:
    return make_key(session, Role.ANALYST)


@pytest.fixture
def support(session: Session) -> dict[str, str]:
    return make_key(session, Role.SUPPORT)


@pytest.fixture
def marketer(session: Session) -> dict[str, str]:
    return make_key(session, Role.MARKETER)


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL per test (for commands run as subprocesses)."""
    url = new_database_url(request.param, tmp_path)
    yield url
    drop_database(url)


def run_patron(
    url: str, *args: str, cwd: Path, timeout: int = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`patron ARGS` as a script runs it: a subprocess, no terminal, stdin closed; `env`
    adds to the environment."""
    env = {**os.environ, "PATRON_DATABASE_URL": url, **(env or {})}
    return subprocess.run(
        [PATRON, *args], env=env, cwd=cwd, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=timeout,
    )  # fmt: skip
