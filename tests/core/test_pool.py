"""Pooled PostgreSQL connections: pinged only after idling (ADR 24).

Real PostgreSQL: a pooled connection's server process is ended with pg_terminate_backend,
as a server restart or an idle timeout would. (SQLite has no server connection to lose.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from patron import db
from tests.conftest import PG_ADMIN_URL, _pg_execute


def _backend_pid(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


@pytest.fixture
def engine() -> Iterator[sa.Engine]:
    e = db.make_engine(PG_ADMIN_URL, pool_size=1, max_overflow=0)
    yield e
    e.dispose()


def test_a_connection_closed_while_idle_is_replaced_before_use(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)  # every pooled connection counts as idle
    first = _backend_pid(engine)
    _pg_execute(f"SELECT pg_terminate_backend({first})")
    second = _backend_pid(engine)  # the ping found it dead: a new connection, no error
    assert second != first
    assert _backend_pid(engine) == second  # the replacement is pooled and reused


def test_a_connection_in_steady_use_is_not_pinged(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within IDLE_PING_SECONDS no round trip is spent: a connection that died meanwhile
    shows up as the first statement's error, flagged as a lost connection (the API answers
    it with 503), and the pool hands out a working connection right after."""
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 3600.0)
    pings: list[int] = []
    ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(1) or ping(c))
    first = _backend_pid(engine)
    _pg_execute(f"SELECT pg_terminate_backend({first})")
    with pytest.raises(DBAPIError) as lost, engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    assert lost.value.connection_invalidated is True
    assert _backend_pid(engine) != first
    assert pings == []
