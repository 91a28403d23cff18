"""The Jinja2 environment and `render`: every page goes through here.

Autoescaping is on for every template and undefined names fail loudly. Translations come
from `i18n` through Jinja's i18n extension (`{{ _("...") }}`, `{% trans %}`), bound to the
locale of the request being rendered. Pages never put inline scripts or styles in markup:
the Content-Security-Policy below forbids them, so data for charts travels in data-*
attributes or JSON routes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session

from patron import __version__
from patron.auth.schemas import Permission, WebUser
from patron.store import service as store_service
from patron.web import i18n

STATIC_DIR = Path(__file__).parent / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark, do not translate"
    """Mark a message for extraction; it is translated where it is rendered."""
    return message


# Role names as the pages show them (`_(role|capitalize)`).
ROLE_LABELS = [N_("Owner"), N_("Marketer"), N_("Support"), N_("Analyst")]


@dataclass(frozen=True)
class NavItem:
    path: str
    label: str  # msgid, translated when rendered
    permission: Permission | None


# The main navigation; an item shows only to roles holding its permission.
NAV = [
    NavItem("/", N_("Dashboard"), Permission.ANALYTICS_READ),
    NavItem("/customers", N_("Customers"), Permission.CUSTOMERS_READ),
    NavItem("/segments", N_("Segments"), Permission.SEGMENTS_READ),
    NavItem("/settings", N_("Settings"), Permission.SETTINGS),
]


@lru_cache(maxsize=256)
def _fingerprint(path: str) -> str:
    return hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:10]


def static_url(path: str) -> str:
    """/static/<path>?v=<content hash>: cached for a year, busted when the file changes."""
    return f"/static/{path}?v={_fingerprint(path)}"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("patron.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=i18n.gettext, ngettext=i18n.ngettext, newstyle=True
    )
    env.filters.update(
        money=i18n.money,
        number=i18n.number,
        compact=i18n.compact,
        percent=i18n.percent,
        day=i18n.day,
        moment=i18n.moment,
    )
    env.globals.update(
        static_url=static_url,
        locales=i18n.LOCALES,
        version=__version__,
        Permission=Permission,
    )
    return env


ENV = _environment()


def activate_for(session: Session | None, user: WebUser | None, request: Request) -> str:
    """Bind this request's locale and time zone; returns the locale.

    A signed-in user's own choice wins, then the locale cookie (sign-in page), then the
    browser's Accept-Language, then the store's default locale."""
    zone, default = "UTC", i18n.DEFAULT_LOCALE
    if session is not None:
        settings = store_service.cached_settings(session)
        zone, default = settings.timezone, settings.default_locale
    choice = (
        (user.locale if user else None)
        or request.cookies.get("patron_locale")
        or i18n.from_accept_language(request.headers.get("accept-language"))
        or default
    )
    locale = i18n.supported(choice)
    i18n.activate(locale, zone)
    return locale


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    user: WebUser | None,
    session: Session | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render `template` for `user` in their locale (a full page, or a fragment for htmx)."""
    locale = activate_for(session, user, request)
    currency = "USD"
    if session is not None:
        currency = store_service.cached_settings(session).base_currency
    nav = [n for n in NAV if user is not None and (n.permission is None or user.can(n.permission))]
    values: dict[str, Any] = {
        "request": request,
        "user": user,
        "csrf_token": user.csrf_token if user else "",
        "locale": locale,
        "html_lang": i18n.HTML_LANG[locale],
        "nav": nav,
        "path": request.url.path,
        "currency": currency,
        "htmx": request.headers.get("hx-request") == "true",
    }
    values.update(context or {})
    html = ENV.get_template(template).render(values)
    return HTMLResponse(html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})
