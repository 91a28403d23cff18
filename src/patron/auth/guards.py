"""HTTP guards shared by every router: the request's session and the caller's permission.

Public like `service` and `schemas`: every domain's api.py uses `require(...)`, `Reader`
and `Writer`. The request owns the transaction: `Writer` commits after the endpoint returns
and before the response is sent (scope="function"); any exception rolls back.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from patron.auth import service
from patron.auth.schemas import Permission, Principal
from patron.core.errors import Forbidden, Unauthorized
from patron.db import new_session, unit_of_work


def _writer() -> Iterator[Session]:
    session = new_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _reader() -> Iterator[Session]:
    session = new_session(readonly=True)
    try:
        yield session
    finally:
        session.rollback()
        session.close()


Writer = Annotated[Session, Depends(_writer, scope="function")]
Reader = Annotated[Session, Depends(_reader, scope="function")]

_touched: dict[int, float] = {}
_touch_lock = threading.Lock()


def _touch(key_id: int) -> None:
    now = time.monotonic()
    with _touch_lock:
        if now - _touched.get(key_id, -1e9) < 60:
            return
        _touched[key_id] = now
    with unit_of_work() as session:
        service.touch_key(session, key_id=key_id)


def authenticate(request: Request) -> Principal:
    """Bearer API key, or HTTP Basic with a write key as the username (as Segment sends)."""
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer" and credentials:
        token, kind = credentials.strip(), "api"
        if token.startswith("wk_"):
            kind = "write"
    elif scheme == "basic" and credentials:
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("malformed Basic credentials") from None
        token = decoded.partition(":")[0]
        kind = "write" if token.startswith("wk_") else "api"
    else:
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    with unit_of_work(readonly=True) as session:
        principal = service.verify_key(session, token=token, kind=kind)
    if principal.kind != "user":
        _touch(principal.id)
    return principal


def require(permission: Permission) -> Callable[..., Principal]:
    """A dependency that authenticates the caller and checks one permission (401/403)."""

    def guard(request: Request) -> Principal:
        principal = authenticate(request)
        if not principal.can(permission):
            who = "write keys" if principal.kind == "write_key" else f"role {principal.role}"
            raise Forbidden(f"{who} may not do this (needs {permission.value})")
        return principal

    return guard
