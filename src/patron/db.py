"""Engine, sessions, the declarative Base, and the unit of work.

The boundary (request, job, CLI command) owns the transaction: it opens a session with
`unit_of_work()` and commits; services only flush.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
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
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError
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


def json_text(value: Any) -> str:
    """A JSON column's value as the engine stores it (for `insert_rows`)."""
    if type(value) is dict and not value:
        return "{}"
    return _json_dumps(value)


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
    if kwargs.get("poolclass") is NullPool:
        kwargs.pop("pool_size")
        kwargs.pop("max_overflow")
    engine = create_engine(url, json_serializer=_json_dumps, json_deserializer=json.loads, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_after_idle(engine)
    return engine


# A pooled connection that sat idle this long is pinged before use (ADR 24).
IDLE_PING_SECONDS = 10.0


def _ping_after_idle(engine: Engine) -> None:
    """Test a pooled connection before handing it out only when it sat idle in the pool for
    more than IDLE_PING_SECONDS (a server restart or an idle timeout may have closed it);
    a dead one is replaced, so the caller never sees it. A connection in steady use skips
    the ping: SQLAlchemy's `pool_pre_ping` costs a round trip on every checkout, 10-45% of
    a worker's CPU per customer 360 in three alternated runs (ADR 24). A connection that
    dies while in use is still detected by its first error, which invalidates the pool's
    older connections."""

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned <= IDLE_PING_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error:  # e.g. AdminShutdown: not usable either way
            alive = False
        if not alive:  # the pool discards it and connects anew
            raise DisconnectionError("a pooled connection was closed while idle")


_engine: Engine | None = None
_writer: sessionmaker[Session] | None = None
_reader: sessionmaker[Session] | None = None
_bound: Any = None  # tests: the one connection every session runs on (bind_connection)


def get_engine() -> Engine:
    if _engine is None:
        set_engine(make_engine())
    assert _engine is not None
    return _engine


def refresh_statistics(*, postgresql_only: bool = False) -> None:
    """Let the query planner see the data a bulk load just wrote (`ANALYZE`). PostgreSQL's
    autovacuum would get there minutes later; until then a fresh 20,000-customer demo store
    planned segment previews for empty tables (8 to 31 s instead of well under one).
    `postgresql_only`: skip SQLite (mid-load, where only PostgreSQL's cached plans for
    tables that were empty need it; SQLite's ANALYZE reads every index whole)."""
    with unit_of_work() as session:  # both allow ANALYZE inside a transaction
        if postgresql_only and session.get_bind().dialect.name != "postgresql":
            return
        session.execute(text("ANALYZE"))


def set_engine(engine: Engine) -> None:
    """Point the process at another engine (tests, CLI)."""
    global _engine, _writer, _reader, _spool, _spool_bound, _bound
    _engine = engine
    _bound = None
    _spool, _spool_bound = None, False
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
def _transaction(session: Session) -> Iterator[Session]:
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def unit_of_work(*, readonly: bool = False) -> AbstractContextManager[Session]:
    """The boundary's transaction: commit on success, roll back on any exception."""
    return _transaction(new_session(readonly=readonly))


def dialect_name() -> str:
    """The process's database: "postgresql" or "sqlite"."""
    return get_engine().dialect.name


@contextmanager
def autocommit_connection() -> Iterator[Any]:
    """A pooled PostgreSQL driver connection (psycopg) in autocommit, without a Session, for
    a hot read of one statement (ADR 26): the customer 360 spent 300-350 us of CPU per
    request in Session and statement execution machinery around a 75 us driver call. Each
    statement sees a committed snapshot, as a read-only Session on PostgreSQL does. Driver
    errors come out as SQLAlchemy's `DBAPIError`; a lost connection is invalidated (the pool
    replaces it) and flagged `connection_invalidated`, so the API answers 503 (ADR 24)."""
    if _bound is not None:  # tests: the bound connection's transaction, as sessions use
        yield _bound.connection.driver_connection
        return
    engine = get_engine()
    pooled = engine.raw_connection()
    driver: Any = pooled.driver_connection
    dbapi_error = engine.dialect.loaded_dbapi.Error
    lost = False
    try:
        driver.autocommit = True  # no I/O: the pooled connection is idle, not in a transaction
        yield driver
    except dbapi_error as exc:
        lost = engine.dialect.is_disconnect(exc, driver, None)
        if lost:
            pooled.invalidate(exc)
        raise DBAPIError.instance(
            None, None, exc, dbapi_error, connection_invalidated=lost
        ) from exc
    finally:
        if not lost:
            driver.autocommit = False  # as the pool hands connections out
        pooled.close()


def current_bind() -> Any:
    """What this process's sessions run on: the engine, or in tests the one bound
    connection (`bind_connection`); a key for per-database caches."""
    return _bound if _bound is not None else get_engine()


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


def insert_rows(
    session: Session,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    json_encoded: bool = False,
) -> None:
    """Insert plain tuples (values in `columns` order) straight through the driver, in the
    session's transaction: COPY on PostgreSQL, the cursor's executemany on SQLite. For the
    big bulk paths (hundreds of thousands of order lines), where SQLAlchemy's per-row
    parameter processing costs more than the database does. Values are what Core would
    take: JSON columns get Python objects (encoded as the engine does), UTCDateTime columns
    aware datetimes (the column type's own bind processing applies); `json_encoded`: the
    JSON columns already hold JSON text (`json_text`). No RETURNING."""
    if not rows:
        return
    given = set(columns)
    for col in table.c:
        if col.name not in given and col.default is not None:
            raise ValueError(f"insert_rows: give {table.name}.{col.name} (it has a default)")
    conn = session.connection()
    dialect = conn.dialect
    convert: list[tuple[int, Callable[[Any], Any]]] = []
    for i, name in enumerate(columns):
        impl = table.c[name].type.dialect_impl(dialect)
        if isinstance(impl, JSON):
            if not json_encoded:
                convert.append((i, json_text))
            continue
        proc = impl.bind_processor(dialect)
        if proc is not None:
            convert.append((i, proc))
    if convert:
        done = []
        for row in rows:
            values = list(row)
            for i, fn in convert:
                values[i] = fn(values[i])
            done.append(values)
        rows = done
    raw: Any = conn.connection.driver_connection
    names = ", ".join(columns)
    error = dialect.loaded_dbapi.Error
    if dialect.name == "postgresql":
        sql = f"COPY {table.name} ({names}) FROM STDIN"
        try:
            with raw.cursor() as cur, cur.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
        except error as exc:  # as Core raises it: callers catch SQLAlchemy's errors
            raise DBAPIError.instance(sql, None, exc, error) from exc
        return
    sql = f"INSERT INTO {table.name} ({names}) VALUES ({', '.join('?' * len(columns))})"
    cur = raw.cursor()
    try:
        cur.executemany(sql, rows)
    except error as exc:
        raise DBAPIError.instance(sql, None, exc, error) from exc
    finally:
        cur.close()


def insert_rows_with_ids(
    session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> list[int]:
    """`insert_rows` into a table whose primary key is an integer `id`; returns the new
    rows' ids in row order (ascending, as `insert(...).returning(id,
    sort_by_parameter_order=True)` would), taken first by `allocate_ids`."""
    ids = allocate_ids(session, table, len(rows))
    insert_rows(session, table, ("id", *columns), [(i, *r) for i, r in zip(ids, rows, strict=True)])
    return ids


def allocate_ids(session: Session, table: Table, count: int) -> list[int]:
    """`count` new ids for rows of `table` (integer primary key `id`) that this transaction
    is about to insert, ascending: from the table's sequence on PostgreSQL (unique under
    any concurrency); on SQLite the ids after the largest one, which the writer's lock
    (BEGIN IMMEDIATE) keeps free until commit. Insert before anything else takes ids."""
    if count <= 0:
        return []
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        return sorted(
            conn.exec_driver_sql(
                f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id'))"
                f" FROM generate_series(1, {int(count)})"
            ).scalars()
        )
    top = conn.execute(select(func.max(table.c.id))).scalar() or 0
    return list(range(top + 1, top + count + 1))


def keyset_before(a: Any, b: Any, a_value: Any, b_value: Any) -> Any:
    """(a, b) < (a_value, b_value), spelled so both SQLite and PostgreSQL use the index."""
    from sqlalchemy import and_, or_

    return or_(a < a_value, and_(a == a_value, b < b_value))


def bind_connection(connection: Any) -> None:
    """Tests: run every session on one connection, each commit a SAVEPOINT release (the
    spool too: it is the main database's tables then)."""
    global _writer, _reader, _spool, _spool_bound, _bound
    _bound = connection
    _writer = sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    _reader = _writer
    _spool, _spool_bound = None, True


# The spool: where append-heavy intake waits to be applied (the tracking API's inbox). On
# PostgreSQL it is the main database (row locks: the API's inserts never wait for a job).
# On a SQLite file it is a second file beside it, `<name>-spool.db`: SQLite has one writer
# at a time, and a request would otherwise wait for any job that writes (a segment refresh,
# the RFM job) for as long as it runs. Its tables are declared on SPOOL_METADATA and created
# when first used; they hold nothing that needs the main database's keys.
SPOOL_METADATA = MetaData(naming_convention=NAMING)
_spool: tuple[sessionmaker[Session], sessionmaker[Session]] | None = None  # writer, reader
_spool_bound = False
_spool_of_engine: tuple[Engine, str | None] | None = None  # the engine, its spool's URL


def spool_url(url: str) -> str | None:
    """The spool's own database for `url`, or None when the main database is the spool."""
    if not is_sqlite(url):
        return None
    path = url.split("///", 1)[1] if "///" in url else ""
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    stem = path[:-3] if path.endswith(".db") else path
    return f"sqlite:///{stem}-spool.db"


def separate_spool() -> bool:
    """True when the spool is a database of its own (a SQLite store not bound by tests)."""
    global _spool_of_engine
    if _spool_bound:
        return False
    engine = get_engine()
    if _spool_of_engine is None or _spool_of_engine[0] is not engine:
        _spool_of_engine = (engine, spool_url(engine.url.render_as_string(False)))
    return _spool_of_engine[1] is not None


def _spool_maker(readonly: bool) -> sessionmaker[Session] | None:
    global _spool
    if not separate_spool():
        return None
    if _spool is None:
        assert _spool_of_engine is not None
        url = _spool_of_engine[1]
        assert url is not None
        engine = make_engine(url)
        SPOOL_METADATA.create_all(engine)
        _spool = (
            sessionmaker(bind=engine, expire_on_commit=False),
            sessionmaker(
                bind=engine.execution_options(patron_readonly=True), expire_on_commit=False
            ),
        )
    return _spool[1] if readonly else _spool[0]


def spool_unit_of_work(*, readonly: bool = False) -> AbstractContextManager[Session]:
    """A transaction on the spool (see SPOOL_METADATA); the main database's when that is
    the spool."""
    maker = _spool_maker(readonly)
    return unit_of_work(readonly=readonly) if maker is None else _transaction(maker())
