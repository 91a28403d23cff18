"""The tracking API's inbox (ADR 20): accepted requests are applied once, by the worker."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from patron import db
from patron.events import inbox, service
from patron.migrate import upgrade
from patron.store import service as store_service
from tests.conftest import PATRON, ROOT, drop_database, new_database_url, wait_for

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def request(n: int, size: int = 50) -> bytes:
    """A batch of `size` messages: page views, identifies and one order per batch."""
    msgs: list[dict[str, object]] = []
    for i in range(size):
        visitor = (n * size + i) % 300
        base = {"anonymousId": f"anon-{visitor}", "messageId": f"b{n}-m{i}",
                "timestamp": "2026-03-01T11:00:00Z"}  # fmt: skip
        if i == 0:
            msgs.append({**base, "type": "track", "event": "Order Completed",
                         "properties": {"order_id": f"o-{n}", "currency": "USD", "products": [
                             {"product_id": "p1", "price": 10, "quantity": 1}]}})  # fmt: skip
        elif i % 10 == 1:
            msgs.append({**base, "type": "identify", "userId": f"user-{visitor}",
                         "traits": {"email": f"v{visitor}@example.com"}})  # fmt: skip
        else:
            msgs.append({**base, "type": "page", "name": "Catalog"})
    return orjson.dumps({"batch": msgs})


def keep(session: Session, source_id: int, body: bytes) -> int:
    parsed = orjson.loads(body)
    count = len(parsed["batch"]) if isinstance(parsed.get("batch"), list) else 1
    return service.accept(
        session, source_id=source_id, body=body, kind=None, received_at=NOW, messages=count
    )


def test_a_request_that_cannot_be_applied_waits_alone_then_dies_and_can_be_retried(
    session: Session, source_id: int
) -> None:
    # Given three accepted requests, the middle one unreadable by the processor (the gateway
    # refuses such a body; here it is written straight to the inbox)
    keep(session, source_id, request(1, size=5))
    bad = keep(session, source_id, orjson.dumps({"batch": "nope"}))
    keep(session, source_id, request(2, size=5))
    # When the inbox is processed
    first = service.process_inbox(session)
    # Then the two good ones are applied and the bad one stays, with its error
    assert (first.batches, first.messages, first.accepted, first.failed, first.dead) == (
        3, 10, 10, 1, 0,
    )  # fmt: skip
    stats = service.inbox_stats(session)
    assert (stats.queued_batches, stats.queued_messages, stats.dead_batches) == (1, 1, 0)
    # and after MAX_ATTEMPTS it is dead, no longer taken
    for _ in range(inbox.MAX_ATTEMPTS - 1):
        service.process_inbox(session)
    assert service.process_inbox(session).batches == 0
    stats = service.inbox_stats(session)
    assert (stats.queued_batches, stats.dead_batches, stats.dead_messages) == (0, 1, 1)
    assert inbox.dead(session) == [(bad, NOW, 1, "batch: batch must be a list of messages")]
    # and retrying queues it again with its attempts reset
    assert service.retry_dead(session) == 1
    again = service.process_inbox(session)
    assert (again.batches, again.failed, again.dead) == (1, 1, 0)


def test_requests_are_applied_in_the_order_they_came_and_a_replay_adds_nothing(
    session: Session, source_id: int
) -> None:
    identify = {"type": "identify", "anonymousId": "a1", "userId": "u1", "messageId": "i1",
                "traits": {"email": "ana@example.com"}}  # fmt: skip
    page = {"type": "page", "anonymousId": "a1", "name": "Shoes", "messageId": "p1"}
    keep(session, source_id, orjson.dumps({"batch": [page]}))
    keep(session, source_id, orjson.dumps({"batch": [identify]}))
    keep(session, source_id, orjson.dumps({"batch": [page, identify]}))  # a client's retry
    result = service.process_inbox(session)
    assert (result.batches, result.messages, result.accepted, result.duplicates) == (3, 4, 2, 2)
    events = service.list_events(session).items
    assert [(e.message_id, e.received_at) for e in events] == [("i1", NOW), ("p1", NOW)]
    assert len({e.customer_id for e in events}) == 1  # the visitor stitched to the customer


@pytest.fixture(params=["sqlite", "postgresql"])
def committed(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, Engine, Engine]]:
    """A committed store, its engine, and its spool's (a SQLite store's `-spool.db` file,
    or the same database on PostgreSQL)."""
    url = new_database_url(request.param, tmp_path)
    engine = db.make_engine(url, poolclass=NullPool)
    upgrade(engine)
    spool_url = db.spool_url(url)
    spool = engine if spool_url is None else db.make_engine(spool_url, poolclass=NullPool)
    db.SPOOL_METADATA.create_all(spool)
    yield url, engine, spool
    spool.dispose()
    engine.dispose()
    drop_database(url)


def worker(url: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PATRON_DATABASE_URL": url, "PATRON_LOG_LEVEL": "warning"}
    return subprocess.Popen(
        [PATRON, "worker", "--no-schedules", *args], env=env, cwd=ROOT,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def one(engine: Engine, query: str) -> int:
    # A reader's transaction (SQLite: BEGIN DEFERRED), so it never queues behind the worker
    with engine.execution_options(patron_readonly=True).connect() as conn:
        return int(conn.execute(sa.text(query)).scalar_one())


def counts(engine: Engine, spool: Engine) -> tuple[int, int, int, int]:
    return (
        one(engine, "SELECT count(*) FROM events"),
        one(engine, "SELECT count(*) FROM orders"),
        one(engine, "SELECT count(*) FROM timeline_entries WHERE ref_type = 'event'"),
        one(spool, "SELECT count(*) FROM event_inbox"),
    )


def test_killing_the_worker_while_it_drains_loses_nothing_and_applies_nothing_twice(
    committed: tuple[str, Engine, Engine],
) -> None:
    url, engine, spool = committed
    # Given 120 accepted requests of 50 messages (one order each), 20 of them sent twice
    with Session(engine) as session:
        source_id = store_service.ensure_source(session, key="site").id
        session.commit()
    with Session(spool) as session:
        for n in range(120):
            keep(session, source_id, request(n))
        for n in range(20):
            keep(session, source_id, request(n))
        session.commit()
    # When a worker is killed (SIGKILL) once it has applied some of them
    first = worker(url)
    try:
        wait_for(lambda: counts(engine, spool)[0] > 0, "the worker to apply a first transaction")
        os.kill(first.pid, signal.SIGKILL)
        first.communicate(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    events, _, _, waiting = counts(engine, spool)
    assert 0 < events < 6000  # it died with work left
    assert waiting > 0
    # and two workers then race over the rest
    racers = [worker(url, "--burst") for _ in range(2)]
    for proc in racers:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    # Then every message is applied exactly once: 6,000 events, 120 orders, a timeline entry
    # per event that is not an order's (the order has its own), and nothing left waiting
    assert counts(engine, spool) == (6000, 120, 6000 - 120, 0)
