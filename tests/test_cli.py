"""The `patron` command as a script runs it: a subprocess, no terminal, a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from patron import db
from tests.conftest import run_patron as run


def test_init_keys_and_users_without_a_terminal(database: str, tmp_path: Path) -> None:
    first = run(database, "init", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    creds = (tmp_path / "patron-credentials.txt").read_text().splitlines()
    assert creds[0] == "admin login: admin@patron.local"
    assert creds[2].startswith("API key (owner): pk_")
    assert oct((tmp_path / "patron-credentials.txt").stat().st_mode & 0o777) == "0o600"
    again = run(database, "init", cwd=tmp_path)
    assert (again.returncode, again.stdout.strip()) == (0, "database is up to date")

    key = run(database, "keys", "create", "--name", "bench", "--role", "analyst", cwd=tmp_path)
    assert key.returncode == 0
    secret = key.stdout.strip().splitlines()[-1]
    assert secret.startswith("pk_")
    wk = run(database, "keys", "create-write-key", "--name", "site", cwd=tmp_path)
    assert wk.stdout.strip().splitlines()[-1].startswith("wk_")

    engine = db.make_engine(database)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT kind, role, name FROM api_keys ORDER BY id")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("api", "owner", "admin"),
        ("api", "analyst", "bench"),
        ("write", None, "site"),
    ]


def test_bad_input_exits_2_naming_the_option(database: str, tmp_path: Path) -> None:
    assert run(database, "init", cwd=tmp_path).returncode == 0
    bad = run(database, "keys", "create", "--name", "x", "--role", "king", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: --role: must be one of owner, marketer, support, analyst"
    assert "Traceback" not in bad.stderr
    short = run(database, "users", "create", "--email", "a@b.co", "--password", "short",
                cwd=tmp_path)  # fmt: skip
    assert short.returncode == 2
    assert short.stderr.strip() == "error: --password: must be at least 10 characters"
    dup = run(database, "users", "create", "--email", "admin@patron.local", cwd=tmp_path)
    assert dup.returncode == 2
    assert dup.stderr.strip() == "error: email: a user with email admin@patron.local exists"


def test_the_cli_starts_without_scipy_and_a_served_app_loads_it_before_requests(
    tmp_path: Path,
) -> None:
    """Every `patron` command (and the import benchmark's subprocess) pays its start-up:
    SciPy (0.4 s) loads when a model is fitted or scored and Alembic (0.2 s) when a
    migration runs, not when the CLI starts; a served app loads SciPy in its lifespan,
    before its first request and before it freezes its heap (ADR 23)."""
    code = (
        "import sys, patron.cli, patron.wiring; patron.wiring.wire()\n"
        "heavy = lambda: sorted(m for m in ('scipy', 'alembic', 'sklearn') if m in sys.modules)\n"
        "print(heavy())\n"
        "from fastapi.testclient import TestClient\n"
        "from patron.app import create_app\n"
        "app = create_app()\n"
        "print(heavy())\n"
        "with TestClient(app):\n"
        "    print(heavy())\n"
    )
    env = {**os.environ, "PATRON_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120,
        env=env,
    )  # fmt: skip
    assert out.stdout.splitlines() == ["[]", "[]", "['scipy']"]
