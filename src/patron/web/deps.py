"""Who is signed in, what they may do, and CSRF: the dependencies of every page route.

A browser authenticates with the `patron_session` cookie (HttpOnly, SameSite=Lax, Secure
behind HTTPS). Every state-changing request (POST, PUT, PATCH, DELETE) must echo the
session's CSRF token, as the form field `csrf_token` or the `X-CSRF-Token` header (htmx
sends the header, see static/app.js); a missing or wrong token is refused with 403 before
the route runs.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from patron.auth import service as auth_service
from patron.auth.schemas import Permission, WebUser
from patron.db import new_session, unit_of_work

COOKIE = "patron_session"
LOCALE_COOKIE = "patron_locale"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequired(Exception):
    """No live session: the page answers with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PageForbidden(Exception):
    """Signed in, but the role may not open this page or do this action (403 page)."""

    def __init__(self, permission: Permission | None, reason: str = "") -> None:
        super().__init__(reason or (permission.value if permission else "forbidden"))
        self.permission = permission
        self.reason = reason


def _lookup(token: str) -> WebUser | None:
    with unit_of_work() as session:
        return auth_service.web_user(session, token=token)


async def optional_user(request: Request) -> WebUser | None:
    """The signed-in user, or None. Cached on the request (several dependencies ask)."""
    if "patron_web_user" in request.scope:
        cached: WebUser | None = request.scope["patron_web_user"]
        return cached
    token = request.cookies.get(COOKIE, "")
    user = await run_in_threadpool(_lookup, token) if token else None
    request.scope["patron_web_user"] = user
    return user


async def check_csrf(request: Request, user: WebUser) -> None:
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get("x-csrf-token", "")
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()  # Starlette caches the parsed form for the route
        value = form.get("csrf_token", "")
        sent = value if isinstance(value, str) else ""
    if not sent or not hmac.compare_digest(sent, user.csrf_token):
        raise PageForbidden(None, "csrf")


def page(permission: Permission | None = None) -> Callable[..., Awaitable[WebUser]]:
    """A dependency: the signed-in user, who holds `permission`; CSRF-checked on writes."""

    async def guard(request: Request) -> WebUser:
        user = await optional_user(request)
        if user is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(target)
        await check_csrf(request, user)
        if permission is not None and not user.can(permission):
            raise PageForbidden(permission)
        return user

    return guard


def _reader() -> Iterator[Session]:
    session = new_session(readonly=True)
    try:
        yield session
    finally:
        session.close()


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


# The page owns the transaction, as an API request does: reads never commit; writes commit
# after the route returns and before the response goes out.
ReadDb = Annotated[Session, Depends(_reader, scope="function")]
WriteDb = Annotated[Session, Depends(_writer, scope="function")]
