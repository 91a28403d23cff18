"""Save, activate and load versioned artifacts. Services flush; the caller commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from patron.artifacts.models import Artifact as ArtifactRow
from patron.artifacts.schemas import Artifact, ArtifactInfo
from patron.core.errors import NotFound, ValidationError
from patron.core.time import utcnow


def _info(row: ArtifactRow) -> ArtifactInfo:
    return ArtifactInfo(
        id=row.id,
        kind=row.kind,
        version=row.version,
        format=row.format,
        card=row.card,
        active=row.active,
        created_at=row.created_at,
        size_bytes=len(row.payload),
    )


def save(
    session: Session,
    *,
    kind: str,
    payload: bytes,
    format: str,
    card: dict[str, Any] | None = None,
    activate: bool = True,
) -> ArtifactInfo:
    """Store a new version of `kind` (1, 2, ...); by default it becomes the active one.

    Two concurrent saves of one kind cannot get the same version: (kind, version) is unique,
    so the loser's transaction fails and its job retries.
    """
    if not kind:
        raise ValidationError("kind must not be empty", field="kind")
    last = session.scalar(select(func.max(ArtifactRow.version)).where(ArtifactRow.kind == kind))
    row = ArtifactRow(
        kind=kind,
        version=(last or 0) + 1,
        format=format,
        payload=payload,
        card=card or {},
        active=False,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    if activate:
        return activate_version(session, kind=kind, version=row.version)
    return _info(row)


def activate_version(session: Session, *, kind: str, version: int) -> ArtifactInfo:
    """Make `version` the one `load_active` returns (for rollback to an earlier model)."""
    row = session.scalar(
        select(ArtifactRow).where(ArtifactRow.kind == kind, ArtifactRow.version == version)
    )
    if row is None:
        raise NotFound(f"no artifact {kind} version {version}", field="version")
    session.execute(
        update(ArtifactRow)
        .where(ArtifactRow.kind == kind, ArtifactRow.id != row.id)
        .values(active=False)
    )
    row.active = True
    session.flush()
    return _info(row)


def load_active(session: Session, *, kind: str) -> Artifact | None:
    """The active version of `kind` with its payload, or None if none was trained yet."""
    row = session.scalar(
        select(ArtifactRow).where(ArtifactRow.kind == kind, ArtifactRow.active.is_(True))
    )
    if row is None:
        return None
    return Artifact(**_info(row).model_dump(), payload=row.payload)


def load(session: Session, *, kind: str, version: int) -> Artifact:
    row = session.scalar(
        select(ArtifactRow).where(ArtifactRow.kind == kind, ArtifactRow.version == version)
    )
    if row is None:
        raise NotFound(f"no artifact {kind} version {version}", field="version")
    return Artifact(**_info(row).model_dump(), payload=row.payload)


def list_versions(session: Session, *, kind: str | None = None) -> list[ArtifactInfo]:
    """Every stored version (newest first), optionally of one kind; payloads are not read."""
    a = ArtifactRow
    stmt = select(
        a.id,
        a.kind,
        a.version,
        a.format,
        a.card,
        a.active,
        a.created_at,
        func.length(a.payload).label("size_bytes"),
    ).order_by(a.kind, a.version.desc())
    if kind is not None:
        stmt = stmt.where(a.kind == kind)
    return [ArtifactInfo.model_validate(r) for r in session.execute(stmt)]


def active_info(session: Session, *, kind: str) -> ArtifactInfo | None:
    """The active version of `kind` without its payload (a cheap "is there a newer model?")."""
    a = ArtifactRow
    row = session.execute(
        select(
            a.id,
            a.kind,
            a.version,
            a.format,
            a.card,
            a.active,
            a.created_at,
            func.length(a.payload).label("size_bytes"),
        ).where(a.kind == kind, a.active.is_(True))
    ).first()
    return None if row is None else ArtifactInfo.model_validate(row)
