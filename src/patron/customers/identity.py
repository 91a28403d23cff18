"""Identity resolution: find or create the profile behind a set of identifiers; merge; undo.

Internal to the customers domain; other domains call it through `customers.service`.
Bulk resolution is set-based: one SELECT for every key of a batch, one multi-row INSERT
for the new profiles and one for the new identities. Only batches that join two existing
profiles fall back to one merge at a time (rare: an anonymous visitor who logs in).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Row, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from patron.core.errors import Conflict, NotFound
from patron.core.time import utcnow
from patron.customers.models import Customer, Identity, Merge, TimelineEntry
from patron.customers.schemas import (
    EXCLUSIVE_KINDS,
    KIND_STRENGTH,
    IdentityKey,
    IdentityKind,
    MergeRead,
    ResolveRequest,
)
from patron.db import by_id, insert_rows_with_ids, table_of

PROFILE_FIELDS = (
    "email",
    "phone",
    "first_name",
    "last_name",
    "birthday",
    "gender",
    "locale",
    "timezone",
    "country",
    "city",
)
_KNOWN_KINDS = {IdentityKind.EXTERNAL, IdentityKind.EMAIL, IdentityKind.PHONE}
_CHUNK = 500  # keys per IN (...) query: well under SQLite's variable limit


class MergeHook(Protocol):
    """A higher domain whose rows follow a customer through a merge and back (a port)."""

    name: str

    def move(self, session: Session, *, loser_id: int, winner_id: int) -> list[int]: ...

    def restore(self, session: Session, *, ids: list[int], loser_id: int) -> None: ...

    def refresh(self, session: Session, *, customer_ids: list[int]) -> None: ...


_hooks: list[MergeHook] = []


def register_merge_hook(hook: MergeHook) -> None:
    if all(h.name != hook.name for h in _hooks):
        _hooks.append(hook)


def _insert(session: Session):  # type: ignore[no-untyped-def]
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _key_tuple(key: IdentityKey) -> tuple[str, str, str]:
    return (key.kind.value, key.source, key.value)


_PG_LOOKUP = text(
    "SELECT i.kind, i.source, i.value, i.customer_id FROM customer_identities i"
    " JOIN unnest(CAST(:k AS text[]), CAST(:s AS text[]), CAST(:v AS text[]))"
    " AS w(kind, source, value)"
    " ON i.kind = w.kind AND i.source = w.source AND i.value = w.value"
)


def lookup(session: Session, keys: Iterable[IdentityKey]) -> dict[tuple[str, str, str], int]:
    """Map each known (kind, source, value) to its customer id."""
    wanted = list({_key_tuple(k) for k in keys})
    found: dict[tuple[str, str, str], int] = {}
    if wanted and session.get_bind().dialect.name == "postgresql":
        # Three array parameters joined through unnest: one fixed statement text (psycopg
        # parses and PostgreSQL plans it once) and an index probe per key, where a row-value
        # IN list of 300 placeholders cost 30 ms per batch in parsing and planning alone.
        kinds, sources, values = (list(col) for col in zip(*wanted, strict=True))
        rows = session.execute(_PG_LOOKUP, {"k": kinds, "s": sources, "v": values})
        return {(kind, source, value): cid for kind, source, value, cid in rows}
    for i in range(0, len(wanted), _CHUNK):
        chunk = wanted[i : i + _CHUNK]
        rows = session.execute(
            select(Identity.kind, Identity.source, Identity.value, Identity.customer_id).where(
                tuple_(Identity.kind, Identity.source, Identity.value).in_(chunk)
            )
        )
        for kind, source, value, customer_id in rows:
            found[(kind, source, value)] = customer_id
    return found


def _profile_values(req: ResolveRequest, now: datetime) -> dict[str, Any]:
    traits = req.traits
    values: dict[str, Any] = {f: traits.get(f) for f in PROFILE_FIELDS}
    for key in req.keys:
        if key.kind is IdentityKind.EMAIL and not values["email"]:
            values["email"] = key.value
        if key.kind is IdentityKind.PHONE and not values["phone"]:
            values["phone"] = key.value
    seen = req.seen_at or now
    values.update(
        is_anonymous=not any(k.kind in _KNOWN_KINDS for k in req.keys),
        tags=list(traits.get("tags") or []),
        properties=dict(traits.get("properties") or {}),
        source_id=req.source_id,
        created_at=seen,
        updated_at=now,
        last_seen_at=seen,
        orders_count=0,
        total_spent=0,
        channels=[req.channel] if req.channel else [],
    )
    return values


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[Any, Any] = {}

    def find(self, x: Any) -> Any:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: Any, b: Any) -> None:
        self.parent[self.find(a)] = self.find(b)


def resolve_many(session: Session, requests: Sequence[ResolveRequest]) -> list[int]:
    """Return the customer id for each request, creating profiles and identities as needed.

    Requests whose keys match no profile are grouped by shared keys (within the batch) and
    each group becomes one new profile. Requests whose keys match two or more profiles
    merge them (see `_merge_for`), one at a time.
    """
    now = utcnow()
    all_keys = [k for r in requests for k in r.keys]
    known = lookup(session, all_keys)
    result: list[int | None] = [None] * len(requests)
    uf = _UnionFind()
    pending: list[int] = []
    for i, req in enumerate(requests):
        matched = {known[_key_tuple(k)] for k in req.keys if _key_tuple(k) in known}
        if len(matched) == 1:
            result[i] = matched.pop()
        elif len(matched) > 1:
            result[i] = _merge_for(session, req, sorted(matched))
            known.update(lookup(session, req.keys))
        else:
            pending.append(i)
            first = _key_tuple(req.keys[0]) if req.keys else ("request", "", str(i))
            for key in req.keys[1:]:
                uf.union(_key_tuple(key), first)
            uf.find(first)
    # One new profile per group of unmatched requests that share a key.
    groups: dict[Any, list[int]] = {}
    for i in pending:
        req = requests[i]
        root = uf.find(_key_tuple(req.keys[0]) if req.keys else ("request", "", str(i)))
        groups.setdefault(root, []).append(i)
    if groups:
        roots = list(groups)
        rows = []
        for root in roots:
            members = groups[root]
            merged = ResolveRequest(
                keys=[k for i in members for k in requests[i].keys],
                traits={k: v for i in members for k, v in requests[i].traits.items()},
                source_id=requests[members[0]].source_id,
                seen_at=min((requests[i].seen_at or now) for i in members),
                channel=requests[members[0]].channel,
            )
            rows.append(_profile_values(merged, now))
        # Through the driver with ids taken first (COPY on PostgreSQL): an INSERT ...
        # RETURNING of a few thousand new visitors cost 0.3 ms a row, most of an ingest.
        columns = tuple(rows[0])
        ids = insert_rows_with_ids(
            session, table_of(Customer), columns, [tuple(r[c] for c in columns) for r in rows]
        )
        for root, cid in zip(roots, ids, strict=True):
            for i in groups[root]:
                result[i] = cid
    # Attach every key not yet known to the profile it resolved to.
    new_identities: dict[tuple[str, str, str], int] = {}
    for i, req in enumerate(requests):
        owner = result[i]
        assert owner is not None
        for key in req.keys:
            t = _key_tuple(key)
            if t not in known and t not in new_identities:
                new_identities[t] = owner
    if new_identities:
        stmt = _insert(session)(table_of(Identity)).on_conflict_do_nothing(
            index_elements=["kind", "source", "value"]
        )
        session.execute(
            stmt,
            # In key order: concurrent writers then wait on the unique index in one order
            # instead of deadlocking on two (seen on PostgreSQL under 8 ingest clients).
            [
                {"kind": k, "source": s, "value": v, "customer_id": cid, "created_at": now}
                for (k, s, v), cid in sorted(new_identities.items())
            ],
        )
        # A concurrent writer may have claimed a key first: re-read and reconcile.
        actual = lookup(session, [IdentityKey(IdentityKind(k), v, s) for k, s, v in new_identities])
        for i, req in enumerate(requests):
            owners = {actual.get(_key_tuple(k), result[i]) for k in req.keys}
            owners.discard(None)
            if len(owners) > 1:
                result[i] = _merge_for(session, req, sorted(o for o in owners if o is not None))
    _touch_known(session, requests, result, now)
    return [r for r in result if r is not None]


def _touch_known(
    session: Session, requests: Sequence[ResolveRequest], ids: list[int | None], now: datetime
) -> None:
    """Apply traits (last write wins per field) and last_seen_at to resolved profiles."""
    latest: dict[int, dict[str, Any]] = {}
    for req, cid in zip(requests, ids, strict=True):
        if cid is None:
            continue
        patch = latest.setdefault(cid, {"_seen": None, "_channels": set(), "_keys": set()})
        for f in PROFILE_FIELDS:
            if req.traits.get(f) not in (None, ""):
                patch[f] = req.traits[f]
        if req.traits.get("properties"):
            patch.setdefault("_props", {}).update(req.traits["properties"])
        if req.traits.get("tags"):
            patch.setdefault("_tags", []).extend(req.traits["tags"])
        seen = req.seen_at or now
        if patch["_seen"] is None or seen > patch["_seen"]:
            patch["_seen"] = seen
        if req.channel:
            patch["_channels"].add(req.channel)
        patch["_keys"].update(k.kind for k in req.keys)
    if not latest:
        return
    current = {
        row.id: row
        for chunk in _chunks(list(latest), _CHUNK)
        for row in session.execute(
            select(
                Customer.id,
                Customer.properties,
                Customer.tags,
                Customer.channels,
                Customer.last_seen_at,
                Customer.is_anonymous,
                *[getattr(Customer, f) for f in PROFILE_FIELDS],
            ).where(Customer.id.in_(chunk))
        )
    }
    updates: list[dict[str, Any]] = []
    for cid, patch in latest.items():
        row = current.get(cid)
        if row is None:
            continue
        values = _profile_patch(row, patch)
        if values:
            values["b_id"] = cid
            updates.append(values)
    # Group by the set of changed columns so each executemany has one statement shape.
    by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for values in updates:
        by_shape.setdefault(tuple(sorted(values)), []).append(values)
    from sqlalchemy import bindparam

    for shape, batch in by_shape.items():
        cols = [c for c in shape if c != "b_id"]
        stmt = (
            update(Customer)
            .where(Customer.id == bindparam("b_id"))
            .values({c: bindparam(c) for c in cols})
            .execution_options(synchronize_session=False)
        )
        session.connection().execute(stmt, by_id(batch))


def _profile_patch(row: Row[Any], patch: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in PROFILE_FIELDS:
        if f in patch and getattr(row, f) != patch[f]:
            values[f] = patch[f]
    if "_props" in patch:
        props = dict(row.properties or {})
        props.update(patch["_props"])
        if props != row.properties:
            values["properties"] = props
    if "_tags" in patch:
        tags = list(dict.fromkeys([*(row.tags or []), *patch["_tags"]]))
        if tags != row.tags:
            values["tags"] = tags
    channels = sorted(set(row.channels or []) | patch["_channels"])
    if channels != sorted(row.channels or []):
        values["channels"] = channels
    if row.last_seen_at is None or patch["_seen"] > row.last_seen_at:
        values["last_seen_at"] = patch["_seen"]
    if row.is_anonymous and patch["_keys"] & _KNOWN_KINDS:
        values["is_anonymous"] = False
    if values:
        values["updated_at"] = utcnow()
    return values


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _exclusive_keys(session: Session, customer_id: int) -> set[tuple[str, str]]:
    rows = session.execute(
        select(Identity.kind, Identity.source).where(
            Identity.customer_id == customer_id,
            Identity.kind.in_([k.value for k in EXCLUSIVE_KINDS]),
        )
    )
    return {(kind, source) for kind, source in rows}


def _conflicting(session: Session, a: int, b: int) -> bool:
    """Two profiles are different people if each holds a different exclusive id of one kind."""
    return bool(_exclusive_keys(session, a) & _exclusive_keys(session, b))


def _merge_for(session: Session, req: ResolveRequest, candidates: list[int]) -> int:
    """Resolve a request whose keys match several profiles: merge those that may be merged."""
    known = lookup(session, req.keys)
    # The profile matched by the strongest key leads; ties go to the oldest profile.
    ranked = sorted(
        req.keys, key=lambda k: (-KIND_STRENGTH[k.kind], known.get(_key_tuple(k), 1 << 62))
    )
    lead = next(known[_key_tuple(k)] for k in ranked if _key_tuple(k) in known)
    lead = _canonical(session, lead).id
    for candidate in candidates:
        # An earlier merge (of this batch, or of a concurrent writer) may already have
        # made a candidate part of the lead: that is the outcome wanted, not a conflict.
        other = _canonical(session, candidate).id
        if other == lead:
            continue
        if _conflicting(session, lead, other):
            continue  # two people sharing a weaker key (a family phone): keep both
        shared = [
            {"kind": k.kind.value, "source": k.source, "value": k.value}
            for k in req.keys
            if known.get(_key_tuple(k)) in (lead, other)
        ]
        lead = merge(
            session,
            winner_id=lead,
            loser_id=other,
            reason="shared_identifier",
            evidence={"identifiers": shared},
        ).winner_id
    return lead


def _canonical(session: Session, customer_id: int) -> Customer:
    seen: set[int] = set()
    row = session.get(Customer, customer_id)
    while row is not None and row.merged_into_id is not None and row.id not in seen:
        seen.add(row.id)
        row = session.get(Customer, row.merged_into_id)
    if row is None:
        raise NotFound(f"customer {customer_id} not found", field="customer_id")
    return row


def _choose_winner(a: Customer, b: Customer) -> tuple[Customer, Customer]:
    """Known beats anonymous; otherwise the older profile wins."""
    if a.is_anonymous != b.is_anonymous:
        return (b, a) if a.is_anonymous else (a, b)
    return (a, b) if (a.created_at, a.id) <= (b.created_at, b.id) else (b, a)


def merge(
    session: Session,
    *,
    winner_id: int,
    loser_id: int,
    reason: str,
    evidence: dict[str, Any],
    keep_winner: bool = False,
) -> MergeRead:
    """Merge two profiles. Everything of the loser moves to the winner; the merge record
    keeps what moved so `unmerge` can put it back exactly."""
    a, b = _canonical(session, winner_id), _canonical(session, loser_id)
    if a.id == b.id:
        raise Conflict("the two profiles are already one", field="loser_id")
    winner, loser = (a, b) if keep_winner else _choose_winner(a, b)
    now = utcnow()
    moved: dict[str, Any] = {}
    moved["identities"] = list(
        session.scalars(
            update(Identity)
            .where(Identity.customer_id == loser.id)
            .values(customer_id=winner.id)
            .returning(Identity.id)
        )
    )
    moved["timeline"] = list(
        session.scalars(
            update(TimelineEntry)
            .where(TimelineEntry.customer_id == loser.id)
            .values(customer_id=winner.id)
            .returning(TimelineEntry.id)
        )
    )
    for hook in _hooks:
        moved[hook.name] = hook.move(session, loser_id=loser.id, winner_id=winner.id)
    filled = {}
    for f in PROFILE_FIELDS:
        if getattr(winner, f) in (None, "") and getattr(loser, f) not in (None, ""):
            filled[f] = getattr(loser, f)
            setattr(winner, f, getattr(loser, f))
    added_props = {k: v for k, v in (loser.properties or {}).items() if k not in winner.properties}
    added_tags = [t for t in (loser.tags or []) if t not in (winner.tags or [])]
    moved["filled_fields"] = [*filled]
    moved["added_properties"] = [*added_props]
    moved["added_tags"] = added_tags
    moved["winner_was_anonymous"] = winner.is_anonymous
    winner.properties = {**winner.properties, **added_props}
    winner.tags = [*(winner.tags or []), *added_tags]
    winner.channels = sorted(set(winner.channels or []) | set(loser.channels or []))
    winner.is_anonymous = winner.is_anonymous and loser.is_anonymous
    winner.created_at = min(winner.created_at, loser.created_at)
    if loser.last_seen_at and (
        winner.last_seen_at is None or loser.last_seen_at > winner.last_seen_at
    ):
        winner.last_seen_at = loser.last_seen_at
    winner.updated_at = now
    loser.merged_into_id = winner.id
    loser.updated_at = now
    record = Merge(
        winner_id=winner.id,
        loser_id=loser.id,
        reason=reason,
        evidence=evidence,
        moved=moved,
        created_at=now,
    )
    session.add(record)
    session.flush()
    session.add(
        TimelineEntry(
            customer_id=winner.id,
            occurred_at=now,
            kind="merge",
            channel=None,
            title=f"Merged profile #{loser.id} into this one",
            ref_type="merge",
            ref_id=record.id,
            data={"reason": reason, "loser_id": loser.id, **evidence},
        )
    )
    for hook in _hooks:
        hook.refresh(session, customer_ids=[winner.id])
    session.flush()
    return MergeRead.model_validate(record)


def unmerge(session: Session, *, merge_id: int) -> MergeRead:
    """Undo a merge: the loser gets back exactly what moved, the winner loses what it gained."""
    record = session.get(Merge, merge_id)
    if record is None:
        raise NotFound(f"merge {merge_id} not found", field="merge_id")
    if record.undone_at is not None:
        raise Conflict(f"merge {merge_id} was already undone", field="merge_id")
    later = session.scalar(
        select(Merge.id).where(
            Merge.loser_id == record.winner_id, Merge.undone_at.is_(None), Merge.id > record.id
        )
    )
    if later is not None:
        raise Conflict(
            f"undo merge {later} first: it merged this profile into another", field="merge_id"
        )
    winner = session.get(Customer, record.winner_id)
    loser = session.get(Customer, record.loser_id)
    assert winner is not None
    assert loser is not None
    moved = record.moved
    now = utcnow()
    if moved["identities"]:
        session.execute(
            update(Identity)
            .where(Identity.id.in_(moved["identities"]))
            .values(customer_id=loser.id)
            .execution_options(synchronize_session=False)
        )
    if moved["timeline"]:
        session.execute(
            update(TimelineEntry)
            .where(TimelineEntry.id.in_(moved["timeline"]))
            .values(customer_id=loser.id)
            .execution_options(synchronize_session=False)
        )
    for hook in _hooks:
        if moved.get(hook.name):
            hook.restore(session, ids=moved[hook.name], loser_id=loser.id)
    for f in moved["filled_fields"]:
        setattr(winner, f, None)
    winner.properties = {
        k: v for k, v in winner.properties.items() if k not in set(moved["added_properties"])
    }
    winner.tags = [t for t in winner.tags if t not in set(moved["added_tags"])]
    winner.is_anonymous = bool(moved.get("winner_was_anonymous", winner.is_anonymous))
    winner.updated_at = now
    loser.merged_into_id = None
    loser.updated_at = now
    record.undone_at = now
    for cid, other in ((winner.id, loser.id), (loser.id, winner.id)):
        session.add(
            TimelineEntry(
                customer_id=cid,
                occurred_at=now,
                kind="unmerge",
                title=f"Merge with profile #{other} undone",
                ref_type="merge",
                ref_id=record.id,
                data={"merge_id": record.id},
            )
        )
    session.flush()
    for hook in _hooks:
        hook.refresh(session, customer_ids=[winner.id, loser.id])
    session.flush()
    return MergeRead.model_validate(record)
