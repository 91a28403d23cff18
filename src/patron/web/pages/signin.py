"""Sign-in, sign-out and the language switch."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from patron.auth import service as auth_service
from patron.auth.schemas import UserUpdate, WebUser
from patron.core.errors import Unauthorized
from patron.web import i18n
from patron.web.deps import (
    COOKIE,
    LOCALE_COOKIE,
    PageForbidden,
    ReadDb,
    WriteDb,
    optional_user,
    page,
)
from patron.web.templating import activate_for, render

router = APIRouter()

LOGIN_CSRF_COOKIE = "patron_login_csrf"


def safe_next(target: str | None) -> str:
    """Only a path on this site (never //host or a scheme): no open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _login_page(
    request: Request, session: Session, *, next_path: str, email: str = "", error: str = "",
    status: int = 200,
) -> Response:  # fmt: skip
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "signin.html",
        {"next": next_path, "email": email, "error": error, "login_csrf": token},
        user=None,
        session=session,
        status=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request),
        max_age=3600, path="/login",
    )  # fmt: skip
    return response


@router.get("/login", include_in_schema=False)
def login_form(
    request: Request,
    session: ReadDb,
    user: Annotated[WebUser | None, Depends(optional_user)],
    next: str = "/",
) -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, session, next_path=safe_next(next))


@router.post("/login", include_in_schema=False)
def login(
    request: Request,
    session: WriteDb,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    target = safe_next(next)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        activate_for(session, None, request)
        error = i18n.gettext("The sign-in form expired. Please try again.")
        return _login_page(request, session, next_path=target, email=email, error=error, status=403)
    if auth_service.login_throttled(session, email=email):
        activate_for(session, None, request)
        error = i18n.gettext("Too many failed attempts. Wait 15 minutes and try again.")
        return _login_page(request, session, next_path=target, email=email, error=error, status=429)
    try:
        account = auth_service.authenticate(session, email=email, password=password)
    except Unauthorized:
        auth_service.record_login_failure(session, email=email)  # committed with the 401 page
        activate_for(session, None, request)
        error = i18n.gettext("Email or password is wrong.")
        return _login_page(request, session, next_path=target, email=email, error=error, status=401)
    auth_service.clear_login_failures(session, email=email)
    token, _ = auth_service.start_web_session(session, user_id=account.id)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="lax", secure=_secure(request),
        max_age=int(auth_service.SESSION_LIFETIME.total_seconds()), path="/",
    )  # fmt: skip
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request, session: WriteDb, _: Annotated[WebUser, Depends(page())]) -> Response:
    auth_service.end_web_session(session, token=request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.post("/locale", include_in_schema=False)
def choose_locale(
    request: Request,
    session: WriteDb,
    user: Annotated[WebUser | None, Depends(optional_user)],
    locale: Annotated[str, Form(max_length=16)] = "en",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Remember the language: on the user when signed in, in a cookie either way."""
    chosen = i18n.supported(locale)
    if user is not None:
        if not hmac.compare_digest(csrf_token, user.csrf_token):
            raise PageForbidden(None, "csrf")
        auth_service.update_user(session, user_id=user.user_id, data=UserUpdate(locale=chosen))
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        LOCALE_COOKIE, chosen, httponly=True, samesite="lax", secure=_secure(request),
        max_age=365 * 86400, path="/",
    )  # fmt: skip
    return response


@router.get("/account", include_in_schema=False)
def account(
    request: Request, session: ReadDb, user: Annotated[WebUser, Depends(page())]
) -> Response:
    """The signed-in user's own page: who they are, their role, their language."""
    return render(request, "account.html", {}, user=user, session=session)
