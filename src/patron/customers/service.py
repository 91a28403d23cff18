"""The customers domain: profiles, identity resolution, merges, timeline and stats."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import ColumnElement, Select, Table, bindparam, func, insert, literal, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.core.errors import Conflict, NotFound, ValidationError
from patron.core.ids import normalize_email, normalize_phone
from patron.core.pagination import clamp_limit, decode_cursor, encode_cursor
from patron.core.time import parse_date, parse_datetime, utcnow
from patron.customers import browse as _browse
from patron.customers import identity, view360
from patron.customers.identity import MergeHook, register_merge_hook
from patron.customers.models import Customer, Identity, Merge, TimelineEntry
from patron.customers.schemas import (
    CustomerBrowsePage,
    CustomerCreate,
    CustomerPage,
    CustomerRead,
    CustomerSort,
    CustomerStats,
    CustomerUpdate,
    IdentityKey,
    IdentityKind,
    IdentityRead,
    MergeRead,
    ResolveRequest,
    TimelineEntryIn,
    TimelinePage,
)
from patron.db import (
    autocommit_connection,
    by_id,
    dialect_name,
    insert_rows,
    keyset_before,
    table_of,
    unit_of_work,
)
from patron.store import service as store_service

__all__ = [
    "MergeHook",
    "ProfileExtension",
    "apply_stats",
    "add_timeline_entries",
    "browse",
    "clean_traits",
    "create",
    "get",
    "identities",
    "list",
    "merge",
    "merges",
    "register_merge_hook",
    "register_profile_extension",
    "resolve",
    "resolve_many",
    "timeline",
    "unmerge",
    "update",
]

_list = list  # `list` is a service verb here


def resolve_many(session: Session, requests: Sequence[ResolveRequest]) -> _list[int]:
    """Customer id per request: known profiles are found, new ones created, joins merged."""
    return identity.resolve_many(session, requests)


def resolve(session: Session, *, request: ResolveRequest) -> int:
    return identity.resolve_many(session, [request])[0]


def merge(
    session: Session, *, winner_id: int, loser_id: int, reason: str = "manual", actor: str = ""
) -> MergeRead:
    """Merge two profiles by hand: `winner_id` keeps its id."""
    return identity.merge(
        session,
        winner_id=winner_id,
        loser_id=loser_id,
        reason=reason,
        evidence={"actor": actor} if actor else {},
        keep_winner=True,
    )


def unmerge(session: Session, *, merge_id: int) -> MergeRead:
    return identity.unmerge(session, merge_id=merge_id)


# --- profiles ---------------------------------------------------------------------------

_TRAIT_ALIASES = {
    "firstName": "first_name",
    "first_name": "first_name",
    "lastName": "last_name",
    "last_name": "last_name",
    "email": "email",
    "phone": "phone",
    "birthday": "birthday",
    "gender": "gender",
    "locale": "locale",
    "language": "locale",
    "timezone": "timezone",
    "country": "country",
    "city": "city",
    "tags": "tags",
}


def clean_traits(raw: dict[str, Any], *, prefix: str = "traits") -> dict[str, Any]:
    """Segment-style traits -> profile fields (typed) plus `properties` for everything else.

    Recognises firstName/lastName/name, address.city/country, birthday, and keeps every
    other key as a custom property (hundreds of keys need no schema change).
    """
    out: dict[str, Any] = {}
    props: dict[str, Any] = {}
    for key, value in raw.items():
        target = _TRAIT_ALIASES.get(key)
        if value is None:
            continue
        if target is None:
            if key == "name" and isinstance(value, str) and " " in value.strip():
                first, _, last = value.strip().partition(" ")
                out.setdefault("first_name", first)
                out.setdefault("last_name", last.strip())
            elif key == "address" and isinstance(value, dict):
                if value.get("city"):
                    out["city"] = str(value["city"])[:200]
                country = value.get("country")
                if isinstance(country, str) and len(country.strip()) == 2:
                    out["country"] = country.strip().upper()
                props["address"] = value
            elif key not in ("id", "userId", "anonymousId"):
                props[key] = value
            continue
        if target == "birthday":
            out[target] = parse_date(value, field=f"{prefix}.{key}")
        elif target == "email":
            if not isinstance(value, str) or "@" not in value:
                raise ValidationError(
                    f"{prefix}.{key} is not an email address", field=f"{prefix}.{key}"
                )
            out[target] = normalize_email(value)
        elif target == "phone":
            out[target] = normalize_phone(str(value))
        elif target == "country":
            text = str(value).strip()
            if len(text) == 2:
                out[target] = text.upper()
            else:
                props["country_name"] = text
        elif target == "tags":
            if not isinstance(value, _list):
                raise ValidationError(f"{prefix}.{key} must be a list", field=f"{prefix}.{key}")
            out[target] = [str(t) for t in value]
        else:
            out[target] = str(value)[:200]
    if props:
        out["properties"] = props
    return out


def _keys_for(data: CustomerCreate) -> _list[IdentityKey]:
    keys = []
    if data.email:
        keys.append(IdentityKey.of(IdentityKind.EMAIL, data.email))
    if data.phone:
        keys.append(IdentityKey.of(IdentityKind.PHONE, data.phone))
    for ext in data.external_ids:
        keys.append(IdentityKey.of(IdentityKind.EXTERNAL, ext.id, ext.source))
    return keys


def create(session: Session, *, data: CustomerCreate, source_id: int | None = None) -> CustomerRead:
    """Create a profile. 409 naming the field if one of its identifiers is taken."""
    keys = _keys_for(data)
    taken = identity.lookup(session, keys)
    for key in keys:
        owner = taken.get((key.kind.value, key.source, key.value))
        if owner is not None:
            field = "external_ids" if key.kind is IdentityKind.EXTERNAL else key.kind.value
            raise Conflict(f"{field} {key.value!r} belongs to customer {owner}", field=field)
    now = utcnow()
    row = Customer(
        is_anonymous=False,
        email=data.email,
        phone=data.phone,
        **data.model_dump(include=set(identity.PROFILE_FIELDS) - {"email", "phone"}),
        tags=_list(dict.fromkeys(data.tags)),
        properties=data.properties,
        source_id=source_id,
        created_at=now,
        updated_at=now,
        orders_count=0,
        total_spent=0,
        channels=[],
    )
    session.add(row)
    session.flush()
    _add_identities(session, row.id, keys)
    return CustomerRead.model_validate(row)


def _add_identities(session: Session, customer_id: int, keys: _list[IdentityKey]) -> None:
    if not keys:
        return
    now = utcnow()
    try:
        with session.begin_nested():
            session.execute(
                insert(table_of(Identity)),
                [
                    {
                        "customer_id": customer_id,
                        "kind": k.kind.value,
                        "source": k.source,
                        "value": k.value,
                        "created_at": now,
                    }
                    for k in keys
                ],
            )
    except IntegrityError:
        raise Conflict("an identifier of this customer belongs to another customer") from None


def _get_row(session: Session, customer_id: int) -> Customer:
    row = session.get(Customer, customer_id)
    if row is None:
        raise NotFound(f"customer {customer_id} not found")
    if row.merged_into_id is not None:
        return identity._canonical(session, customer_id)
    return row


def get(session: Session, *, customer_id: int) -> CustomerRead:
    """The profile; a merged-away id answers with the profile it was merged into."""
    return CustomerRead.model_validate(_get_row(session, customer_id))


def get_many(session: Session, *, customer_ids: Sequence[int]) -> dict[int, CustomerRead]:
    """The profiles of these ids as stored (merged-away ones included), by id; unknown ids
    are left out. For lists that name a page of customers (a segment's history)."""
    out: dict[int, CustomerRead] = {}
    ids = sorted(set(customer_ids))
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        for row in session.scalars(select(Customer).where(Customer.id.in_(chunk))):
            out[row.id] = CustomerRead.model_validate(row)
    return out


def update(session: Session, *, customer_id: int, data: CustomerUpdate) -> CustomerRead:
    row = _get_row(session, customer_id)
    given = data.model_dump(exclude_unset=True)
    new_keys: _list[IdentityKey] = []
    for f in identity.PROFILE_FIELDS:
        if f in given:
            setattr(row, f, given[f])
    if given.get("email"):
        new_keys.append(IdentityKey.of(IdentityKind.EMAIL, given["email"]))
    if given.get("phone"):
        new_keys.append(IdentityKey.of(IdentityKind.PHONE, given["phone"]))
    for ext in data.external_ids:
        new_keys.append(IdentityKey.of(IdentityKind.EXTERNAL, ext.id, ext.source))
    if data.tags is not None:
        row.tags = _list(dict.fromkeys(data.tags))
    if data.properties is not None:
        props = dict(row.properties)
        for k, v in data.properties.items():
            if v is None:
                props.pop(k, None)
            else:
                props[k] = v
        row.properties = props
    if new_keys:
        owned = identity.lookup(session, new_keys)
        for key in new_keys:
            owner = owned.get((key.kind.value, key.source, key.value))
            if owner is not None and owner != row.id:
                raise Conflict(
                    f"{key.kind.value} {key.value!r} belongs to customer {owner}",
                    field="external_ids" if key.kind is IdentityKind.EXTERNAL else key.kind.value,
                )
        _add_identities(
            session,
            row.id,
            [k for k in new_keys if (k.kind.value, k.source, k.value) not in owned],
        )
        row.is_anonymous = False
    row.updated_at = utcnow()
    session.flush()
    return CustomerRead.model_validate(row)


def _prefix(session: Session, column: Any, text: str) -> ColumnElement[bool]:
    """Index-friendly prefix match: a byte-order range on the lower-cased column."""
    collation = "C" if session.get_bind().dialect.name == "postgresql" else "BINARY"
    expr = func.lower(column).collate(collation)
    return (expr >= text) & (expr < text + "\U0010ffff")


def list(  # noqa: A001 - the service verb
    session: Session,
    *,
    q: str | None = None,
    email: str | None = None,
    country: str | None = None,
    tag: str | None = None,
    include_anonymous: bool = False,
    min_orders: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> CustomerPage:
    """Newest first, keyset-paginated. `q` searches email, phone, name and external id."""
    limit = clamp_limit(limit)
    stmt = select(Customer).where(Customer.merged_into_id.is_(None))
    if not include_anonymous:
        stmt = stmt.where(Customer.is_anonymous.is_(False))
    if email:
        stmt = stmt.where(Customer.email == normalize_email(email))
    if country:
        stmt = stmt.where(Customer.country == country.upper())
    if min_orders is not None:
        stmt = stmt.where(Customer.orders_count >= min_orders)
    if tag:
        stmt = stmt.where(_has_tag(session, tag))
    if q:
        stmt = stmt.where(_search_condition(session, q.strip()))
    if cursor:
        created, cid = decode_cursor(cursor, arity=2)
        stmt = stmt.where(
            keyset_before(
                Customer.created_at,
                Customer.id,
                parse_datetime(created, field="cursor"),
                _int_cursor(cid),
            )
        )
    stmt = stmt.order_by(Customer.created_at.desc(), Customer.id.desc()).limit(limit + 1)
    rows = session.scalars(stmt).all()
    items = [CustomerRead.model_validate(r) for r in rows[:limit]]
    next_cursor = (
        encode_cursor([items[-1].created_at.isoformat(), items[-1].id])
        if len(rows) > limit
        else None
    )
    return CustomerPage(items=items, next_cursor=next_cursor)


def browse(
    session: Session,
    *,
    q: str | None = None,
    country: str | None = None,
    tag: str | None = None,
    within: Sequence[Select[Any]] = (),
    without: Sequence[Select[Any]] = (),
    sort: CustomerSort = CustomerSort.CREATED,
    descending: bool = True,
    cursor: str | None = None,
    limit: int = 50,
) -> CustomerBrowsePage:
    """The customer list of the web app: `list`'s search and filters, sorted by any
    `CustomerSort` column either way, keyset-paginated forwards and backwards.

    `within` / `without`: selects of one column of customer ids (an RFM group, a segment's
    members, a churn tier) the customers must / must not be in."""
    conditions: _list[ColumnElement[bool]] = []
    if country:
        conditions.append(Customer.country == country.strip().upper())
    if tag:
        conditions.append(_has_tag(session, tag.strip()))
    text = (q or "").strip()
    search, few = _browse.search_condition(session, text) if text else (None, False)
    few = few or any(_browse.is_small(session, ids) for ids in within)
    base = _browse.base_query(search=search, conditions=conditions, within=within, without=without)
    return _browse.browse(
        session, base=base, sort=CustomerSort(sort), descending=descending, cursor=cursor,
        limit=limit, few=few, filtered=bool(search is not None or conditions or within or without),
    )  # fmt: skip


def _int_cursor(value: Any) -> int:
    if not isinstance(value, int):
        raise ValidationError("cursor is not valid", field="cursor")
    return value


def _has_tag(session: Session, tag: str) -> ColumnElement[bool]:
    if session.get_bind().dialect.name == "postgresql":
        return Customer.tags.op("@>")(func.jsonb_build_array(tag))
    each = func.json_each(Customer.tags).table_valued("value")
    return select(literal(1)).select_from(each).where(each.c.value == tag).exists()


def _search_condition(session: Session, q: str) -> ColumnElement[bool]:
    ids_by_identity = select(Identity.customer_id).where(
        Identity.kind == IdentityKind.EXTERNAL.value, Identity.value == q
    )
    conditions: _list[ColumnElement[bool]] = [Customer.id.in_(ids_by_identity)]
    if "@" in q:
        conditions.append(_prefix(session, Customer.email, q.lower()))
    digits = normalize_phone(q)
    if len(digits.lstrip("+")) >= 5 and len(digits) >= len(q.replace(" ", "").replace("-", "")) - 2:
        conditions.append(Customer.phone == digits)
        conditions.append(Customer.phone == "+" + digits.lstrip("+"))
    if q.isdigit():
        conditions.append(Customer.id == int(q))
    words = q.lower().split()
    if words and "@" not in q:
        if len(words) == 1:
            conditions.append(_prefix(session, Customer.first_name, words[0]))
            conditions.append(_prefix(session, Customer.last_name, words[0]))
            conditions.append(_prefix(session, Customer.email, words[0]))
        else:
            conditions.append(
                (func.lower(Customer.first_name) == words[0])
                & _prefix(session, Customer.last_name, " ".join(words[1:]))
            )
    return or_(*conditions)


def identities(session: Session, *, customer_id: int) -> _list[IdentityRead]:
    rows = session.scalars(
        select(Identity).where(Identity.customer_id == customer_id).order_by(Identity.id)
    )
    return [IdentityRead.model_validate(r) for r in rows]


def merges(session: Session, *, customer_id: int) -> _list[MergeRead]:
    rows = session.scalars(
        select(Merge)
        .where(or_(Merge.winner_id == customer_id, Merge.loser_id == customer_id))
        .order_by(Merge.id.desc())
    )
    return [MergeRead.model_validate(r) for r in rows]


def profile_360(
    session: Session,
    *,
    customer_id: int,
    currency: str,
    kinds: Sequence[str] | None = None,
    channels: Sequence[str] | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """The customer 360 as a JSON-ready dict (the shape of `Customer360`).

    The hot read of the product: four indexed Core queries and no ORM objects or model
    validation, so it stays in single-digit milliseconds at a million customers.
    """
    table = table_of(Customer)
    row = session.execute(select(table).where(table.c.id == customer_id)).mappings().first()
    hops = 0
    while row is not None and row["merged_into_id"] is not None and hops < 50:
        nxt = select(table).where(table.c.id == row["merged_into_id"])
        row = session.execute(nxt).mappings().first()
        hops += 1
    if row is None:
        raise NotFound(f"customer {customer_id} not found")
    out = {k: v for k, v in row.items() if k != "merged_into_id"}
    cid = out["id"]
    out["aov_minor"] = out["total_spent"] // out["orders_count"] if out["orders_count"] else 0
    out["currency"] = currency
    ident = table_of(Identity)
    out["identities"] = [
        dict(r)
        for r in session.execute(
            select(ident.c.id, ident.c.kind, ident.c.source, ident.c.value, ident.c.created_at)
            .where(ident.c.customer_id == cid)
            .order_by(ident.c.id)
        ).mappings()
    ]
    m = Merge.__table__
    out["merges"] = [
        dict(r)
        for r in session.execute(
            select(
                m.c.id,
                m.c.winner_id,
                m.c.loser_id,
                m.c.reason,
                m.c.evidence,
                m.c.created_at,
                m.c.undone_at,
            )  # fmt: skip
            .where(or_(m.c.winner_id == cid, m.c.loser_id == cid))
            .order_by(m.c.id.desc())
        ).mappings()
    ]
    for key, extension in _EXTENSIONS.items():
        out[key] = extension.read(session, cid)
    out["timeline"] = _timeline_rows(
        session, customer_id=cid, kinds=kinds, channels=channels, cursor=cursor, limit=limit
    )
    return out


def profile_360_json(
    session: Session,
    *,
    customer_id: int,
    currency: str,
    kinds: Sequence[str] | None = None,
    channels: Sequence[str] | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> bytes:
    """The customer 360 serialised (UTC times with "Z"): one statement on PostgreSQL, on the
    session's connection (so it sees the session's own writes)."""
    page: dict[str, Any] = {"kinds": kinds, "channels": channels, "cursor": cursor,
                            "limit": limit}  # fmt: skip
    if session.get_bind().dialect.name == "postgresql":
        driver = session.connection().connection.driver_connection
        body = view360.profile_360_pg(driver, customer_id=customer_id, currency=currency, **page)
        if body is not None:
            return body
    doc = profile_360(session, customer_id=customer_id, currency=currency, **page)
    return orjson.dumps(doc, option=orjson.OPT_UTC_Z)


def read_profile_360_json(
    *,
    customer_id: int,
    kinds: Sequence[str] | None = None,
    channels: Sequence[str] | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> bytes:
    """The customer 360 for the API, as its own read of committed data (ADR 26): on
    PostgreSQL one statement on a pooled autocommit connection with no Session around it;
    on SQLite, or for a merged profile, a read-only session (`profile_360_json`)."""
    currency = store_service.cached_settings().base_currency
    page: dict[str, Any] = {"kinds": kinds, "channels": channels, "cursor": cursor,
                            "limit": limit}  # fmt: skip
    if dialect_name() == "postgresql":
        with autocommit_connection() as driver:
            body = view360.profile_360_pg(
                driver, customer_id=customer_id, currency=currency, **page
            )
        if body is not None:
            return body
    with unit_of_work(readonly=True) as session:
        return profile_360_json(session, customer_id=customer_id, currency=currency, **page)


def _timeline_rows(
    session: Session,
    *,
    customer_id: int,
    kinds: Sequence[str] | None,
    channels: Sequence[str] | None,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    limit = clamp_limit(limit)
    t = table_of(TimelineEntry)
    stmt = select(
        t.c.id, t.c.occurred_at, t.c.kind, t.c.channel, t.c.title, t.c.ref_type, t.c.ref_id,
        t.c.data,
    ).where(t.c.customer_id == customer_id)  # fmt: skip
    if kinds:
        stmt = stmt.where(t.c.kind.in_(kinds))
    if channels:
        stmt = stmt.where(t.c.channel.in_(channels))
    if cursor:
        at, eid = decode_cursor(cursor, arity=2)
        at_dt = parse_datetime(at, field="cursor")
        stmt = stmt.where(keyset_before(t.c.occurred_at, t.c.id, at_dt, _int_cursor(eid)))
    stmt = stmt.order_by(t.c.occurred_at.desc(), t.c.id.desc()).limit(limit + 1)
    rows = [dict(r) for r in session.execute(stmt).mappings()]
    nxt = None
    if len(rows) > limit:
        rows = rows[:limit]
        nxt = encode_cursor([rows[-1]["occurred_at"].isoformat(), rows[-1]["id"]])
    return {"items": rows, "next_cursor": nxt}


# --- timeline ---------------------------------------------------------------------------


def add_timeline_entries(session: Session, entries: Sequence[TimelineEntryIn]) -> None:
    """Explicit, set-based timeline writes (never ORM listeners)."""
    if not entries:
        return
    insert_rows(
        session,
        table_of(TimelineEntry),
        ("customer_id", "occurred_at", "kind", "channel", "title", "ref_type", "ref_id", "data"),
        [
            (e.customer_id, e.occurred_at, e.kind.value, e.channel, e.title[:300], e.ref_type,
             e.ref_id, e.data)
            for e in entries
        ],
    )  # fmt: skip


def timeline(
    session: Session,
    *,
    customer_id: int,
    kinds: Sequence[str] | None = None,
    channels: Sequence[str] | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> TimelinePage:
    """Everything on the customer's timeline, newest first, keyset-paginated."""
    page = _timeline_rows(
        session, customer_id=customer_id, kinds=kinds, channels=channels, cursor=cursor, limit=limit
    )
    return TimelinePage.model_validate(page)


# --- stats ------------------------------------------------------------------------------


def apply_stats(session: Session, stats: Sequence[CustomerStats]) -> None:
    """Store derived stats computed by the orders domain (one executemany)."""
    if not stats:
        return
    stmt = (
        sa.update(Customer)
        .where(Customer.id == bindparam("b_id"))
        .values(
            orders_count=bindparam("b_count"),
            total_spent=bindparam("b_spent"),
            first_order_at=bindparam("b_first", type_=Customer.first_order_at.type),
            last_order_at=bindparam("b_last", type_=Customer.last_order_at.type),
            channels=bindparam("b_channels", type_=Customer.channels.type),
        )
        .execution_options(synchronize_session=False)
    )
    session.connection().execute(
        stmt,
        by_id(
            [
                {
                    "b_id": s.customer_id,
                    "b_count": s.orders_count,
                    "b_spent": s.total_spent,
                    "b_first": s.first_order_at,
                    "b_last": s.last_order_at,
                    "b_channels": s.channels,
                }
                for s in stats
            ]
        ),
    )


def channels_of(session: Session, *, customer_ids: Sequence[int]) -> dict[int, _list[str]]:
    rows = session.execute(
        select(Customer.id, Customer.channels).where(Customer.id.in_(customer_ids))
    )
    return {cid: chans or [] for cid, chans in rows}


# --- 360 extensions -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProfileExtension:
    """A section a higher domain adds to the customer 360 (wired in patron.wiring, so
    customers never imports it). `key` is the section's name on the document; `pg_json` a
    SQL expression over the customers row `c` that builds the section as json (NULL when
    absent) inside the one-statement PostgreSQL read (ADR 9; times through
    `json_timestamp_sql`); `read` the portable path's equal dict, or None."""

    key: str
    pg_json: str
    read: Callable[[Session, int], dict[str, Any] | None]


_EXTENSIONS: dict[str, ProfileExtension] = {}


def register_profile_extension(extension: ProfileExtension) -> None:
    _EXTENSIONS[extension.key] = extension
    view360.add_extension(extension.key, extension.pg_json)


def json_timestamp_sql(expr: str) -> str:
    """SQL rendering a timestamptz exactly as the 360's JSON does (UTC, "Z")."""
    return view360.json_timestamp(expr)


def touch_seen(session: Session, *, customer_id: int, at: datetime) -> None:
    session.execute(
        sa.update(Customer)
        .where(Customer.id == customer_id)
        .where(or_(Customer.last_seen_at.is_(None), Customer.last_seen_at < at))
        .values(last_seen_at=at)
    )


def customers_table() -> Table:
    """The customers table (Core), for other domains' read-only aggregate SQL."""
    return table_of(Customer)
