"""Segment's and RudderStack's official Python clients, unchanged, against a real server."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from patron import db
from tests.conftest import PATRON, drop_database, free_port, new_database_url, wait_for


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    url = new_database_url(request.param, tmp_path)
    env = {**os.environ, "PATRON_DATABASE_URL": url, "PATRON_LOG_LEVEL": "warning"}
    run = {"env": env, "cwd": tmp_path, "capture_output": True, "text": True,
           "stdin": subprocess.DEVNULL, "timeout": 120}  # fmt: skip
    subprocess.run([PATRON, "init"], check=True, **run)  # type: ignore[call-overload]
    out = subprocess.run(  # type: ignore[call-overload]
        [PATRON, "keys", "create-write-key", "--name", "site"], check=True, **run
    ).stdout
    write_key = out.strip().splitlines()[-1]
    port = free_port()
    proc = subprocess.Popen(
        [PATRON, "serve", "--port", str(port)], env=env, cwd=tmp_path,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: healthy(base), "the server to start")
        yield base, write_key, url
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
        drop_database(url)


def healthy(base: str) -> bool:
    try:
        return httpx.get(base + "/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def stored(url: str) -> list[tuple[str, str | None, str | None, str]]:
    """The events, once the server's worker has applied what the API accepted (ADR 20)."""
    engine = db.make_engine(url, poolclass=NullPool)
    spool = db.make_engine(db.spool_url(url) or url, poolclass=NullPool)
    waiting = sa.text("SELECT status, count(*) FROM event_inbox GROUP BY status")
    deadline = time.monotonic() + 60
    with spool.execution_options(patron_readonly=True).connect() as conn:
        while (inbox := dict(conn.execute(waiting).all())) and time.monotonic() < deadline:
            assert "dead" not in inbox, inbox
            conn.rollback()
            time.sleep(0.05)
    spool.dispose()
    assert inbox == {}, f"the worker did not apply the accepted requests: {inbox}"
    with engine.connect() as conn:
        orders = conn.execute(sa.text("SELECT count(*) FROM orders")).scalar_one()
        assert orders == 1  # Order Completed was applied, not only stored
        rows = conn.execute(
            sa.text("SELECT type, name, user_id, message_id FROM events ORDER BY id")
        ).all()
    engine.dispose()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def drive(c: Any) -> None:
    """The same calls, in the same order, for both libraries."""
    c.identify("user_1", {"email": "jane@example.com", "name": "Jane Doe"})
    product = {"product_id": "p1", "sku": "S1", "name": "Uno", "price": 27.5}
    c.track(
        "user_1",
        "Order Completed",
        {"order_id": "o-1", "total": 27.5, "currency": "USD", "products": [product]},
    )
    c.page("user_1", "Docs", "Ecommerce Spec", {"url": "https://example.com/docs"})
    c.group("user_1", "group_1", {"name": "Acme"})
    c.alias("anon_42", "user_1")
    c.flush()


def test_segment_analytics_python(server: tuple[str, str, str]) -> None:
    from segment.analytics.client import Client

    base, write_key, url = server
    errors: list[object] = []
    client = Client(write_key, host=base, sync_mode=True, on_error=lambda e, b: errors.append(e))
    drive(client)
    assert errors == []
    rows = stored(url)
    assert [(t, n, u) for t, n, u, _ in rows] == [
        ("identify", None, "user_1"), ("track", "Order Completed", "user_1"),
        ("page", "Ecommerce Spec", "user_1"), ("group", None, "user_1"), ("alias", None, "user_1"),
    ]  # fmt: skip
    assert len({m for *_, m in rows}) == 5


def test_rudder_sdk_python_with_gzip(server: tuple[str, str, str]) -> None:
    from rudderstack.analytics.client import Client

    base, write_key, url = server
    errors: list[object] = []
    client = Client(write_key, host=base, sync_mode=True, gzip=True,
                    on_error=lambda e, b: errors.append(e))  # fmt: skip
    drive(client)
    assert errors == []
    assert [(t, n, u) for t, n, u, _ in stored(url)] == [
        ("identify", None, "user_1"), ("track", "Order Completed", "user_1"),
        ("page", "Ecommerce Spec", "user_1"), ("group", None, "user_1"), ("alias", None, "user_1"),
    ]  # fmt: skip
