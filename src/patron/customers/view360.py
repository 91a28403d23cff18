"""The customer 360 as JSON bytes, in one statement on PostgreSQL.

The hot read of the product. On PostgreSQL the profile, its identities, merges and one page
of the timeline are built into JSON by the server in a single round trip, so the API
process only splices two strings; the shape and the formatting (UTC times with a "Z",
microseconds only when non-zero, as orjson writes them) are exactly those of
`service.profile_360`, which serves SQLite (in-process, where round trips are free) and
the rare merged profile. A test checks that both paths give the same document.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import psycopg

from patron.core.errors import NotFound, ValidationError
from patron.core.pagination import clamp_limit, decode_cursor, encode_cursor
from patron.core.time import parse_datetime

_PROFILE_COLUMNS = (
    "id", "is_anonymous", "email", "phone", "first_name", "last_name", "birthday", "gender",
    "locale", "timezone", "country", "city", "tags", "properties", "source_id",
)  # fmt: skip
_TIME_COLUMNS = ("created_at", "updated_at", "last_seen_at")
_STATS_COLUMNS = ("orders_count", "total_spent")
_STATS_TIMES = ("first_order_at", "last_order_at")


def _ts(expr: str) -> str:
    """A timestamptz as orjson (OPT_UTC_Z) writes it."""
    utc = f"({expr}) AT TIME ZONE 'UTC'"
    return (
        f"CASE WHEN {expr} IS NULL THEN NULL "
        f"WHEN date_part('microseconds', {expr})::bigint % 1000000 = 0 "
        f"""THEN to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') """
        f"""ELSE to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END"""
    )


def _object(pairs: list[tuple[str, str]]) -> str:
    return "json_build_object(" + ", ".join(f"'{k}', {v}" for k, v in pairs) + ")"


_PROFILE = _object(
    [(c, f"c.{c}") for c in _PROFILE_COLUMNS]
    + [(c, _ts(f"c.{c}")) for c in _TIME_COLUMNS]
    + [(c, f"c.{c}") for c in _STATS_COLUMNS]
    + [(c, _ts(f"c.{c}")) for c in _STATS_TIMES]
    + [
        ("channels", "c.channels"),
        (
            "aov_minor",
            "CASE WHEN c.orders_count > 0 THEN floor(c.total_spent::numeric / c.orders_count)"
            "::bigint ELSE 0 END",
        ),
        ("currency", "CAST($2 AS text)"),
        (
            "identities",
            "COALESCE((SELECT json_agg("
            + _object(
                [
                    ("id", "i.id"),
                    ("kind", "i.kind"),
                    ("source", "i.source"),
                    ("value", "i.value"),
                    ("created_at", _ts("i.created_at")),
                ]
            )
            + " ORDER BY i.id) FROM customer_identities i WHERE i.customer_id = c.id),"
            " '[]'::json)",
        ),
        (
            "merges",
            "COALESCE((SELECT json_agg("
            + _object(
                [
                    ("id", "m.id"),
                    ("winner_id", "m.winner_id"),
                    ("loser_id", "m.loser_id"),
                    ("reason", "m.reason"),
                    ("evidence", "m.evidence"),
                    ("created_at", _ts("m.created_at")),
                    ("undone_at", _ts("m.undone_at")),
                ]
            )
            + " ORDER BY m.id DESC) FROM customer_merges m"
            " WHERE m.winner_id = c.id OR m.loser_id = c.id), '[]'::json)",
        ),
    ]
)

# Sections other domains add to the 360 (ProfileExtension, registered in patron.wiring):
# key -> a SQL expression over the customers row `c` that builds the section as json.
_EXTENSIONS: dict[str, str] = {}


def add_extension(key: str, pg_json: str) -> None:
    _EXTENSIONS[key] = pg_json
    _STATEMENTS.clear()


def _profile_sql() -> str:
    extra = "".join(f", '{k}', ({v})" for k, v in _EXTENSIONS.items())
    return _PROFILE[:-1] + extra + ")"


def json_timestamp(expr: str) -> str:
    """A timestamptz as orjson (OPT_UTC_Z) writes it, for extensions' SQL."""
    return _ts(expr)


_ENTRY = _object(
    [
        ("id", "t.id"),
        ("occurred_at", _ts("t.occurred_at")),
        ("kind", "t.kind"),
        ("channel", "t.channel"),
        ("title", "t.title"),
        ("ref_type", "t.ref_type"),
        ("ref_id", "t.ref_id"),
        ("data", "t.data"),
    ]
)


def _statement(*, kinds: bool, channels: bool, cursor: bool) -> str:
    """The statement, with positional parameters: $1 id, $2 currency, $3 the page size + 1,
    then the filters present, in the order kinds, channels, cursor (time, id)."""
    where = ["t.customer_id = c.id"]
    n = 3
    if kinds:
        n += 1
        where.append(f"t.kind = ANY(CAST(${n} AS text[]))")
    if channels:
        n += 1
        where.append(f"t.channel = ANY(CAST(${n} AS text[]))")
    if cursor:
        at, eid = f"${n + 1}", f"${n + 2}"
        where.append(f"(t.occurred_at < {at} OR (t.occurred_at = {at} AND t.id < {eid}))")
    page = (
        "SELECT t.id, t.occurred_at, " + _ENTRY + " AS doc FROM timeline_entries t"
        " WHERE " + " AND ".join(where) + " ORDER BY t.occurred_at DESC, t.id DESC LIMIT $3"
    )
    return (
        "SELECT c.merged_into_id, " + _profile_sql() + "::text AS profile,"
        " COALESCE(tl.items::text, '[]'), tl.n"
        " FROM customers c LEFT JOIN LATERAL (SELECT json_agg(p.doc ORDER BY p.occurred_at DESC,"
        " p.id DESC) AS items, count(*) AS n FROM (" + page + ") p) tl ON true"
        " WHERE c.id = $1"
    )


_STATEMENTS: dict[tuple[bool, bool, bool], str] = {}


def profile_360_pg(
    connection: Any,
    *,
    customer_id: int,
    currency: str,
    kinds: Sequence[str] | None,
    channels: Sequence[str] | None,
    cursor: str | None,
    limit: int,
) -> bytes | None:
    """The 360 document, or None when the profile was merged (the caller follows the merge).

    `connection` is a psycopg connection (a Session's, or `db.autocommit_connection()`'s):
    a raw cursor sends the statement as written, prepared on the server after its first use,
    with no client-side rewriting of the query (ADR 26)."""
    limit = clamp_limit(limit)
    params: list[Any] = [customer_id, currency, limit + 1]
    if kinds:
        params.append(list(kinds))
    if channels:
        params.append(list(channels))
    if cursor:
        at, eid = decode_cursor(cursor, arity=2)
        if not isinstance(eid, int):
            raise ValidationError("cursor is not valid", field="cursor")
        params += [parse_datetime(at, field="cursor"), eid]
    key = (bool(kinds), bool(channels), bool(cursor))
    sql = _STATEMENTS.get(key)
    if sql is None:
        sql = _STATEMENTS[key] = _statement(kinds=key[0], channels=key[1], cursor=key[2])
    with psycopg.RawCursor(connection) as cur:
        cur.execute(sql, params, prepare=True)
        row = cur.fetchone()
    if row is None:
        raise NotFound(f"customer {customer_id} not found")
    merged_into, profile, items, count = row
    if merged_into is not None:
        return None
    next_cursor = None
    if count > limit:
        # One row too many was read: drop it and point the cursor at the last one kept.
        entries = orjson.loads(items)[:limit]
        items = orjson.dumps(entries).decode()
        last = entries[-1]
        at_value = parse_datetime(last["occurred_at"], field="cursor").isoformat()
        next_cursor = encode_cursor([at_value, last["id"]])
    timeline = '{"items":' + items + ',"next_cursor":' + orjson.dumps(next_cursor).decode() + "}"
    document: str = profile[:-1] + ',"timeline":' + timeline + "}"
    return document.encode()
