"""The API's customer 360 reads committed data on its own connection (ADR 26).

Here the app runs on a fresh database with a real pool, as a served process does (the
`client` fixture instead runs every session on one test connection): on PostgreSQL the
read is one statement on a pooled autocommit driver connection with no Session, on SQLite a
read-only session. A lost PostgreSQL connection answers 503 and is replaced.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from patron import db
from patron.auth import service as auth_service
from patron.auth.schemas import Role
from patron.customers import service
from patron.customers.schemas import CustomerCreate, ExternalIdIn, TimelineEntryIn, TimelineKind
from patron.migrate import upgrade
from tests.conftest import _pg_execute, drop_database, new_database_url

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _serve(url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engine, dict]]:
    """The process's engine pointed at a fresh, migrated database with a pool of one
    connection; the earlier engine and sessions come back after the test."""
    for name in ("_engine", "_writer", "_reader", "_bound", "_spool", "_spool_bound"):
        monkeypatch.setattr(db, name, getattr(db, name))
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 3600.0)  # no ping hides a lost connection
    engine = db.make_engine(url, pool_size=1, max_overflow=0)
    upgrade(engine)
    db.set_engine(engine)
    with db.unit_of_work() as session:
        key = auth_service.create_api_key(session, name="t", role=Role.ANALYST)
    yield engine, {"Authorization": f"Bearer {key.secret}"}
    engine.dispose()


@pytest.fixture
def served(database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engine, dict]]:
    yield from _serve(database, monkeypatch)


@pytest.fixture
def pg_served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engine, dict]]:
    url = new_database_url("postgresql", tmp_path)
    try:
        yield from _serve(url, monkeypatch)
    finally:
        drop_database(url)


def _seed() -> tuple[int, int]:
    """A customer with two identities and 60 timeline entries, and a second profile merged
    into it; returns (winner id, loser id)."""
    with db.unit_of_work() as session:
        a = service.create(
            session,
            data=CustomerCreate(
                email="sari@example.id",
                first_name="Sari",
                external_ids=[ExternalIdIn(source="shopify", id="S-9")],
            ),
        )
        b = service.create(session, data=CustomerCreate(email="sari.alt@example.id"))
        service.merge(session, winner_id=a.id, loser_id=b.id, reason="manual")
        service.add_timeline_entries(
            session,
            [
                TimelineEntryIn(
                    customer_id=a.id,
                    occurred_at=T0 + timedelta(hours=i),
                    kind=TimelineKind.ORDER if i % 3 == 0 else TimelineKind.EVENT,
                    title=f"entry {i}",
                    channel="app" if i % 2 else "web",
                )
                for i in range(60)
            ],
        )
    return a.id, b.id


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def test_the_360_reads_committed_data_and_pages_its_timeline(
    served: tuple[Engine, dict],
) -> None:
    # Given a committed customer with 60 entries and a merged second profile
    _, headers = served
    winner, loser = _seed()
    from patron.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as client:
        # When the 360 is read by id, by the merged profile's id, and page by page
        doc = client.get(f"/api/customers/{winner}", headers=headers).json()
        via_loser = client.get(f"/api/customers/{loser}", headers=headers).json()
        page2 = client.get(
            f"/api/customers/{winner}",
            params={"cursor": doc["timeline"]["next_cursor"], "limit": 50},
            headers=headers,
        ).json()
        apps = client.get(
            f"/api/customers/{winner}",
            params={"channel": "app", "kind": "order", "limit": 200},
            headers=headers,
        ).json()
        missing = client.get("/api/customers/987654", headers=headers)
    # Then it is the service's document, newest first, 50 + 10 entries, filters applied
    with db.unit_of_work(readonly=True) as session:
        expected = orjson.loads(
            service.profile_360_json(session, customer_id=winner, currency="USD")
        )
    assert doc == expected
    assert via_loser == expected
    titles = [e["title"] for e in doc["timeline"]["items"]]
    assert (len(titles), titles[1], titles[2], titles[-1]) == (
        50,
        "entry 59",
        "entry 58",
        "entry 11",
    )
    assert doc["timeline"]["items"][0]["kind"] == "merge"  # the merge, today, is the newest
    assert [e["title"] for e in page2["timeline"]["items"]] == [
        f"entry {i}" for i in range(10, -1, -1)
    ]
    assert page2["timeline"]["next_cursor"] is None
    assert [e["title"] for e in apps["timeline"]["items"]] == [
        f"entry {i}" for i in range(57, 0, -6)
    ]
    assert [(i["kind"], i["value"]) for i in doc["identities"]] == [
        ("email", "sari@example.id"),
        ("external", "S-9"),
        ("email", "sari.alt@example.id"),  # the merged profile's, moved to the winner
    ]
    assert doc["merges"][0]["loser_id"] == loser
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"


def test_a_lost_connection_answers_503_and_the_next_read_reconnects(
    pg_served: tuple[Engine, dict],
) -> None:
    """PostgreSQL only: SQLite has no server connection to lose."""
    # Given a served 360 that has read once (the pool's one connection is in use)
    engine, headers = pg_served
    winner, _ = _seed()
    from patron.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as client:
        assert client.get(f"/api/customers/{winner}", headers=headers).status_code == 200
        first = _backend_pid(engine)
        # When PostgreSQL ends that connection's server process
        _pg_execute(f"SELECT pg_terminate_backend({first})")
        lost = client.get(f"/api/customers/{winner}", headers=headers)
        again = client.get(f"/api/customers/{winner}", headers=headers)
    # Then that request answers 503 (send it again), and the next one reads on a new one
    assert lost.status_code == 503
    assert lost.headers["retry-after"] == "1"
    assert lost.json()["error"] == "unavailable"
    assert again.status_code == 200
    assert again.json()["id"] == winner
    assert _backend_pid(engine) != first


def test_the_autocommit_connection_goes_back_to_the_pool_as_it_came(
    pg_served: tuple[Engine, dict],
) -> None:
    """PostgreSQL only: the autocommit driver connection is PostgreSQL's."""
    engine, _ = pg_served
    pid = _backend_pid(engine)
    # When a read runs, and a statement fails, on the pooled autocommit connection
    with db.autocommit_connection() as driver:
        assert driver.autocommit is True
        assert driver.execute("SELECT count(*) FROM customers").fetchone() == (0,)
    with pytest.raises(DBAPIError) as failed, db.autocommit_connection() as driver:
        driver.execute("SELECT 1 / 0")
    # Then the error is SQLAlchemy's, not a lost connection; the same connection is pooled
    # again in transaction mode, and a session's rollback still undoes its writes
    assert failed.value.connection_invalidated is False
    assert "division by zero" in str(failed.value.orig)
    assert _backend_pid(engine) == pid
    pooled = engine.raw_connection()
    try:
        assert pooled.driver_connection.autocommit is False
    finally:
        pooled.close()
    with db.new_session() as session:
        session.execute(sa.text("INSERT INTO sources (key, name, kind, channel, created_at)"
                                " VALUES ('x', 'x', 'x', 'web', now())"))  # fmt: skip
        session.rollback()
    with db.unit_of_work(readonly=True) as session:
        assert session.execute(sa.text("SELECT count(*) FROM sources")).scalar_one() == 0
