"""Engine, sessions, the declarative Base, and the unit of work.

The boundary (request, job, CLI command) owns the transaction: it opens a session with
`unit_of_work()` and commits; services only flush.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Table,
    create_engine,
    event,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from patron.config import get_settings

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# 64-bit ids on PostgreSQL; SQLite's INTEGER PRIMARY KEY is already 64-bit and is the rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")
# JSON documents: JSONB on PostgreSQL (indexable), JSON text on SQLite.
Json = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, aware UTC out, on both SQLite and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def table_of(model: type[Any]) -> Table:
    """A mapped class's Table, for Core statements (bulk paths skip the ORM's unit of work)."""
    return cast(Table, model.__table__)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    url = url or get_settings().database_url
    if is_sqlite(url):
        engine = create_engine(
            url,
            json_serializer=_json_dumps,
            json_deserializer=json.loads,
            connect_args={"timeout": 30, "check_same_thread": False},
            **kwargs,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets readers run beside the single writer; NORMAL sync is durable in WAL
            # mode across application crashes (only an OS crash can lose the last commits).
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA cache_size=-65536")
            cur.execute("PRAGMA temp_store=MEMORY")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Writers take the write lock at BEGIN so two of them queue on busy_timeout instead
            # of failing with "database is locked" when a read transaction tries to upgrade.
            # Read-only sessions begin DEFERRED and never wait for a writer (WAL).
            readonly = conn.get_execution_options().get("patron_readonly", False)
            conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    if kwargs.get("poolclass") is NullPool:
        kwargs.pop("pool_size")
        kwargs.pop("max_overflow")
    return create_engine(url, json_serializer=_json_dumps, json_deserializer=json.loads, **kwargs)


_engine: Engine | None = None
_writer: sessionmaker[Session] | None = None
_reader: sessionmaker[Session] | None = None


def get_engine() -> Engine:
    if _engine is None:
        set_engine(make_engine())
    assert _engine is not None
    return _engine


def refresh_statistics() -> None:
    """Let the query planner see the data a bulk load just wrote (`ANALYZE`). PostgreSQL's
    autovacuum would get there minutes later; until then a fresh 20,000-customer demo store
    planned segment previews for empty tables (8 to 31 s instead of well under one)."""
    with unit_of_work() as session:  # both allow ANALYZE inside a transaction
        session.execute(text("ANALYZE"))


def set_engine(engine: Engine) -> None:
    """Point the process at another engine (tests, CLI)."""
    global _engine, _writer, _reader
    _engine = engine
    _writer = sessionmaker(bind=engine, expire_on_commit=False)
    # Read-only sessions on PostgreSQL run in autocommit: no BEGIN/ROLLBACK round trips, each
    # statement sees a committed snapshot. On SQLite they BEGIN DEFERRED (see make_engine).
    options: dict[str, Any] = {"patron_readonly": True}
    if engine.dialect.name == "postgresql":
        options["isolation_level"] = "AUTOCOMMIT"
    _reader = sessionmaker(bind=engine.execution_options(**options), expire_on_commit=False)


def new_session(*, readonly: bool = False) -> Session:
    get_engine()
    maker = _reader if readonly else _writer
    assert maker is not None
    return maker()


@contextmanager
def unit_of_work(*, readonly: bool = False) -> Iterator[Session]:
    """The boundary's transaction: commit on success, roll back on any exception."""
    session = new_session(readonly=readonly)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


T = TypeVar("T")


def by_id(rows: list[dict[str, Any]], key: str = "b_id") -> list[dict[str, Any]]:
    """Executemany parameters in primary-key order, so concurrent writers lock rows in the
    same order (PostgreSQL deadlocks come from two orders)."""
    return sorted(rows, key=lambda r: r[key])


def is_contention(exc: DBAPIError) -> bool:
    """A deadlock, a serialization failure or a busy SQLite file: the same request may
    succeed if sent again (the API answers 503 with Retry-After when retries ran out)."""
    code = getattr(exc.orig, "sqlstate", None)
    return code in ("40001", "40P01") or "database is locked" in str(exc.orig)


def _retryable(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError):
        return True  # a concurrent writer inserted the same natural key first
    return is_contention(exc)


def run_transaction(fn: Callable[[Session], T], *, attempts: int = 5) -> T:
    """Run `fn` in a unit of work; when a concurrent writer wins a unique-key race or a
    deadlock, roll back and run it again from scratch (bulk writers are idempotent by
    natural keys, so the retry sees the winner's rows and updates them)."""
    for attempt in range(attempts):
        try:
            with unit_of_work() as session:
                return fn(session)
        except DBAPIError as exc:
            if attempt == attempts - 1 or not _retryable(exc):
                raise
            time.sleep(random.uniform(0, 0.005 * 2**attempt))
    raise AssertionError("unreachable")


def keyset_before(a: Any, b: Any, a_value: Any, b_value: Any) -> Any:
    """(a, b) < (a_value, b_value), spelled so both SQLite and PostgreSQL use the index."""
    from sqlalchemy import and_, or_

    return or_(a < a_value, and_(a == a_value, b < b_value))


def bind_connection(connection: Any) -> None:
    """Tests: run every session on one connection, each commit a SAVEPOINT release."""
    global _writer, _reader
    _writer = sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    _reader = _writer
