"""The customer list of the web app: sorted by a column, filtered, keyset-paginated both ways.

Every sort is a composite (column, id) index, read from the cursor's position: no OFFSET,
so page 1 and page 20,000 cost the same. Nullable columns (last name, email, last order)
list the rows holding a value first, then the rows without one, each part by its own index
range: a cursor at (value, id) continues the valued part and, once it runs out, the
NULL part, by id.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from patron.core.errors import ValidationError
from patron.core.ids import normalize_phone
from patron.core.pagination import clamp_limit, decode_cursor, encode_cursor
from patron.core.time import parse_datetime
from patron.customers.models import Customer, Identity
from patron.customers.schemas import (
    CustomerBrowsePage,
    CustomerRead,
    CustomerSort,
    IdentityKind,
)

_COLUMNS: dict[CustomerSort, Any] = {
    CustomerSort.CREATED: Customer.created_at,
    CustomerSort.NAME: Customer.last_name,
    CustomerSort.EMAIL: Customer.email,
    CustomerSort.ORDERS: Customer.orders_count,
    CustomerSort.SPENT: Customer.total_spent,
    CustomerSort.LAST_ORDER: Customer.last_order_at,
}
_NULLABLE = {CustomerSort.NAME, CustomerSort.EMAIL, CustomerSort.LAST_ORDER}
_TIMES = {CustomerSort.CREATED, CustomerSort.LAST_ORDER}
_INTS = {CustomerSort.ORDERS, CustomerSort.SPENT}


def _value(row: Customer, sort: CustomerSort) -> Any:
    v = getattr(row, _COLUMNS[sort].key)
    return v.isoformat() if isinstance(v, datetime) else v


def _decode(cursor: str, sort: CustomerSort) -> tuple[bool, Any, int]:
    """(forward?, value, id) of a cursor made by this sort."""
    direction, value, cid = decode_cursor(cursor, arity=3)
    if direction not in ("n", "p") or not isinstance(cid, int) or isinstance(cid, bool):
        raise ValidationError("cursor is not valid", field="cursor")
    if value is not None:
        if sort in _TIMES:
            if not isinstance(value, str):
                raise ValidationError("cursor is not valid", field="cursor")
            value = parse_datetime(value, field="cursor")
        elif sort in _INTS:
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValidationError("cursor is not valid", field="cursor")
        elif not isinstance(value, str):
            raise ValidationError("cursor is not valid", field="cursor")
    elif sort not in _NULLABLE:
        raise ValidationError("cursor is not valid", field="cursor")
    return direction == "n", value, cid


def _after(session: Session, col: Any, value: Any, cid: int, desc: bool) -> ColumnElement[bool]:
    """Rows strictly after (value, id) in the order (col, id) ascending or descending."""
    if session.get_bind().dialect.name == "postgresql":
        # A row comparison is one index range on (col, id): deep pages cost what page 1 does.
        pair, target = sa.tuple_(col, Customer.id), sa.tuple_(value, cid)
        return pair < target if desc else pair > target
    if desc:
        return sa.or_(col < value, sa.and_(col == value, Customer.id < cid))
    return sa.or_(col > value, sa.and_(col == value, Customer.id > cid))


def browse(
    session: Session,
    *,
    base: Select[Any],
    sort: CustomerSort,
    descending: bool,
    cursor: str | None,
    limit: int,
    few: bool = False,
    filtered: bool = False,
) -> CustomerBrowsePage:
    """One page of `base` in (sort, id) order. `few`: the filters leave a small set (see
    `is_small`), so sort that set instead of walking the sort index: an index walk would
    look for a page of a small, skewed set (new customers by total spent) through most
    of the table. `filtered`: `base` has filters (see `valued` for how their page is found)."""
    limit = clamp_limit(limit)
    col = _COLUMNS[sort]
    # coalesce(x, x) is x, but no index serves it: the planner joins the small set first.
    key = sa.func.coalesce(col, col) if few else col
    key_id = sa.func.coalesce(Customer.id, Customer.id) if few else Customer.id
    forward, value, cid = (True, None, None) if not cursor else _decode(cursor, sort)
    # Reading backwards (the previous page) is reading forwards in the reversed order.
    desc = descending if forward else not descending
    nulls_first = not forward  # NULLs come last in the list, so first when reading back

    def ordered(stmt: Select[Any], by: Any, by_id: Any, n: int) -> list[Customer]:
        order = (by.desc(), by_id.desc()) if desc else (by.asc(), by_id.asc())
        return list(session.scalars(stmt.order_by(*order).limit(n)))

    def valued(n: int) -> list[Customer]:
        cond: list[ColumnElement[bool]] = [col.is_not(None)] if sort in _NULLABLE else []
        if cid is not None and value is not None:
            cond.append(_after(session, col, value, cid, desc))
        if few or not filtered:
            return ordered(base.where(*cond), key, key_id, n)
        # A filter whose members sit far along the sort order (champions by ascending
        # spend) would make the index walk read most of the table: look for the page
        # among the next WALK_CAP customers in order first (a full page there is the
        # page: the window is a prefix of the order), else sort the filtered set. The
        # window's ids are read first and passed as values, so the filters run as key
        # lookups on exactly those rows whatever the planner guesses about the order.
        plain = (col.desc(), Customer.id.desc()) if desc else (col.asc(), Customer.id.asc())
        window = [
            int(i) for i in session.scalars(
                select(Customer.id).where(*cond).order_by(*plain).limit(WALK_CAP)
            )
        ]  # fmt: skip
        if window:
            rows = ordered(base.where(Customer.id.in_(window)), col, Customer.id, n)
            if len(rows) == n or len(window) < WALK_CAP:  # a full page, or nothing further
                return rows
        whole = sa.func.coalesce(col, col), sa.func.coalesce(Customer.id, Customer.id)
        return ordered(base.where(*cond), *whole, n)

    def empty(n: int) -> list[Customer]:
        stmt = base.where(col.is_(None))
        if cid is not None and value is None:
            stmt = stmt.where(Customer.id < cid if desc else Customer.id > cid)
        order = key_id.desc() if desc else key_id.asc()
        return list(session.scalars(stmt.order_by(order).limit(n)))

    want = limit + 1
    rows: list[Customer] = []
    if sort not in _NULLABLE:
        rows = valued(want)
    elif nulls_first:
        rows = empty(want) if cid is None or value is None else []
        if len(rows) < want:
            rows += valued(want - len(rows))
    else:
        rows = valued(want) if cid is None or value is not None else []
        if len(rows) < want:
            rows += empty(want - len(rows))
    more = len(rows) > limit
    rows = rows[:limit]
    if not forward:
        rows.reverse()
    items = [CustomerRead.model_validate(r) for r in rows]
    if not rows:
        return CustomerBrowsePage(items=[], next_cursor=None, prev_cursor=None)
    has_next = more if forward else True
    has_prev = (cursor is not None) if forward else more
    first, last = rows[0], rows[-1]
    return CustomerBrowsePage(
        items=items,
        next_cursor=encode_cursor(["n", _value(last, sort), last.id]) if has_next else None,
        prev_cursor=encode_cursor(["p", _value(first, sort), first.id]) if has_prev else None,
    )


def _starts(session: Session, col: Any, prefix: str) -> ColumnElement[bool]:
    """Case-sensitive prefix match that an index range serves: LIKE on a text_pattern_ops
    index (PostgreSQL, any collation), a byte-order range on SQLite's BINARY index."""
    if session.get_bind().dialect.name == "postgresql":
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return col.like(escaped + "%", escape="\\")
    return sa.and_(col >= prefix, col < prefix + "\U0010ffff")


def _cases(word: str) -> list[str]:
    """The spellings a name prefix is looked up in: as typed, lower, Title and UPPER case
    (plain indexes; a mixed-case name like McDonald is found by its own spelling)."""
    return list(dict.fromkeys([word, word.lower(), word[:1].upper() + word[1:].lower(),
                               word.upper()]))  # fmt: skip


# A search matching more customers than this reads the sorted index and filters each row
# (the matches are dense, so a page fills fast); fewer, and it looks the ids up first.
BROAD_SEARCH = 2000
# A filter (RFM group, segment, churn tier) of at most this many customers is sorted whole.
SMALL_SET = 50000
# A filtered list looks for its page among this many customers in sort order first.
WALK_CAP = 2000


def is_small(session: Session, ids: Select[Any]) -> bool:
    """Whether a select of customer ids holds at most SMALL_SET rows (read up to the cap)."""
    probe = select(sa.literal(1)).select_from(ids.subquery()).limit(SMALL_SET + 1)
    counted = session.scalar(select(sa.func.count()).select_from(probe.subquery()))
    return int(counted or 0) <= SMALL_SET  # counted in the database: one row comes back


def search_condition(session: Session, q: str) -> tuple[ColumnElement[bool], bool]:
    """The customers `q` finds: an external id (any source), an email or email prefix, a
    phone, the customer id, a first or last name prefix, or "first last".

    Two spellings of one meaning, picked by how many customers match. A narrow search is
    `id IN (UNION of index lookups)`: each arm is one index range, so it costs what its
    matches cost. A broad one ("an", a common surname) is the same test as a row filter,
    so the sorted index scan stops as soon as a page is full instead of collecting and
    sorting a hundred thousand ids."""
    ident = Identity.__table__.c
    lowered = q.lower()
    lookups: list[Select[Any]] = [  # the identity graph: small, exact sets
        select(ident.customer_id).where(ident.value == q, ident.kind == IdentityKind.EXTERNAL)
    ]
    digits = normalize_phone(q)
    if len(digits.lstrip("+")) >= 5 and len(digits) >= len(q.replace(" ", "").replace("-", "")) - 2:
        forms = list(dict.fromkeys([digits, "+" + digits.lstrip("+")]))
        lookups.append(
            select(ident.customer_id).where(
                ident.value.in_(forms), ident.kind == IdentityKind.PHONE
            )
        )
    row_tests: list[ColumnElement[bool]] = []  # tests of the customers row itself
    email_prefix = "@" in q or len(q.split()) == 1
    if q.isdigit() and len(q) < 19:
        row_tests.append(Customer.id == int(q))
    words = q.split()
    if words and "@" not in q:
        if len(words) == 1:
            for spelled in _cases(words[0]):
                row_tests.append(_starts(session, Customer.first_name, spelled))
                row_tests.append(_starts(session, Customer.last_name, spelled))
        else:
            rest = " ".join(words[1:])
            for first in _cases(words[0]):
                for last in _cases(rest):
                    row_tests.append(
                        sa.and_(
                            Customer.first_name == first,
                            _starts(session, Customer.last_name, last),
                        )
                    )
    emails = select(ident.customer_id).where(
        _starts(session, ident.value, lowered), ident.kind == IdentityKind.EMAIL
    )
    narrow_arms = lookups + [select(Customer.id).where(t) for t in row_tests]
    if email_prefix:
        narrow_arms.append(emails)
    # UNION ALL streams, so the probe stops at the cap (a duplicate counts twice: fine).
    everything = sa.union_all(*narrow_arms).subquery()
    probe = select(sa.literal(1)).select_from(everything).limit(BROAD_SEARCH + 1)
    if len(session.execute(probe).all()) <= BROAD_SEARCH:
        narrow: Any = sa.union(*narrow_arms)
        return Customer.id.in_(narrow), True
    broad = list(row_tests)
    if email_prefix:
        broad.append(_starts(session, Customer.email, lowered))
    broad.append(Customer.id.in_(sa.union(*lookups)))
    return sa.or_(*broad), False


def base_query(
    *,
    search: ColumnElement[bool] | None,
    conditions: Sequence[ColumnElement[bool]],
    within: Sequence[Select[Any]],
    without: Sequence[Select[Any]],
) -> Select[tuple[Customer]]:
    stmt = select(Customer).where(
        Customer.merged_into_id.is_(None), Customer.is_anonymous.is_(False)
    )
    for cond in conditions:
        stmt = stmt.where(cond)
    if search is not None:
        stmt = stmt.where(search)
    for ids in within:
        stmt = stmt.where(Customer.id.in_(ids))
    for ids in without:  # NOT EXISTS: an anti-join by index, never NOT IN's rescans
        sub = ids.subquery()
        first = next(iter(sub.c))
        stmt = stmt.where(~sa.exists().where(first == Customer.id))
    return stmt
