"""HTTP guards shared by every router: the request's session and the caller's permission.

Public like `service` and `schemas`: every domain's api.py uses `require(...)`, `Reader`
and `Writer`. The request owns the transaction: `Writer` commits after the endpoint returns
and before the response is sent (scope="function"); any exception rolls back.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
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


async def _reader() -> AsyncIterator[Session]:
    # Creating a session does no I/O and ending a read-only one is a local ROLLBACK, so this
    # runs on the event loop instead of costing two thread-pool hops per request.
    session = new_session(readonly=True)
    try:
        yield session
    finally:
        session.close()


Writer = Annotated[Session, Depends(_writer, scope="function")]
Reader = Annotated[Session, Depends(_reader, scope="function")]

_touched: dict[int, float] = {}
_touch_lock = threading.Lock()


def _due_for_touch(key_id: int) -> bool:
    now = time.monotonic()
    with _touch_lock:
        if now - _touched.get(key_id, -1e9) < 60:
            return False
        _touched[key_id] = now
    return True


def _touch_now(key_id: int) -> None:
    try:
        with unit_of_work() as session:
            service.touch_key(session, key_id=key_id)
    except Exception:  # noqa: BLE001 - best effort bookkeeping, never fails a request
        logging.getLogger("patron.auth").warning("could not record use of key %s", key_id)


def _credentials(request: Request) -> tuple[str, str]:
    """(token, kind) from Bearer, or from HTTP Basic with the key as username (Segment)."""
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
    return token, kind


def _verify(token: str, kind: str) -> Principal:
    with unit_of_work(readonly=True) as session:
        return service.verify_key(session, token=token, kind=kind)


def authenticate(request: Request) -> Principal:
    """Bearer API key, or HTTP Basic with a write key as the username (as Segment sends)."""
    token, kind = _credentials(request)
    return service.cached_principal(token) or _verify(token, kind)


async def authenticate_async(request: Request) -> Principal:
    """`authenticate` for the event loop: a cache miss waits for the database in a worker
    thread, never on the loop (which must stay free to release other requests' sessions)."""
    token, kind = _credentials(request)
    principal = service.cached_principal(token)
    if principal is None:
        principal = await run_in_threadpool(_verify, token, kind)
    return principal


def require(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates the caller and checks one permission (401/403)."""

    async def guard(request: Request) -> Principal:
        # Cached keys are checked without I/O; a cache miss costs one indexed lookup.
        principal = await authenticate_async(request)
        if principal.kind != "user" and _due_for_touch(principal.id):
            # In a worker thread: on SQLite the write may wait for the writer lock.
            await run_in_threadpool(_touch_now, principal.id)
        if not principal.can(permission):
            who = "write keys" if principal.kind == "write_key" else f"role {principal.role}"
            raise Forbidden(f"{who} may not do this (needs {permission.value})")
        return principal

    return guard
