"""`mount(app)`: the web app's routes, static files and HTML error pages."""

from __future__ import annotations

import time
from datetime import date
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from patron.web import i18n
from patron.web.deps import LoginRequired, PageForbidden, optional_user
from patron.web.pages import customers, dashboard, segments, settings, signin
from patron.web.templating import ENV, STATIC_DIR, render

# Page modules register here as they are built; each exposes `router`.
PAGE_ROUTERS = [signin.router, settings.router, segments.router, customers.router, dashboard.router]


class _Static(StaticFiles):
    """Fingerprinted URLs (?v=hash) never change content, so browsers keep them a year."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if scope.get("query_string", b"").startswith(b"v="):
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def wants_html(request: Request) -> bool:
    """A browser page (not the JSON API): errors there render as pages."""
    path = request.url.path
    if path.startswith(("/api/", "/v1/", "/webhooks/", "/static/", "/docs", "/openapi")):
        return False
    return (
        "text/html" in request.headers.get("accept", "")
        or request.headers.get("hx-request") == "true"
    )


async def error_page(request: Request, status: int, message: str) -> Response:
    user = await optional_user(request)
    return render(
        request, "error.html", {"status": status, "message": message}, user=user, status=status
    )


class ServerTiming:
    """ASGI middleware: `Server-Timing: app;dur=<ms>` on every response (time to the first
    byte of the response, inside the server), read by bench/web_pages.py and browsers'
    developer tools."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - started) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={ms:.1f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, timed_send)


_warmed = False


def warm() -> None:
    """Compile every template and load every locale's catalogs and CLDR data once per
    process, so that a process's first page view is as fast as the next (about 0.5 s of
    Jinja compilation and Babel locale loading otherwise lands on one unlucky request)."""
    global _warmed
    if _warmed:
        return
    for name in ENV.list_templates(extensions=["html"]):
        ENV.get_template(name)
    for locale in i18n.LOCALES:
        i18n.translations(locale)
        i18n.activate(locale)
        i18n.money(123456, "IDR")
        i18n.day(date(2026, 1, 31))
    i18n.activate(i18n.DEFAULT_LOCALE)
    _warmed = True


def mount(app: FastAPI) -> None:
    warm()
    app.add_middleware(ServerTiming)
    app.mount("/static", _Static(directory=STATIC_DIR), name="static")
    for router in PAGE_ROUTERS:
        app.include_router(router, include_in_schema=False)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        target = "/login" + ("" if exc.next_path == "/" else f"?next={_quote(exc.next_path)}")
        if request.headers.get("hx-request") == "true":
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(PageForbidden)
    async def _forbidden(request: Request, exc: PageForbidden) -> Response:
        return await error_page(request, 403, "csrf" if exc.reason == "csrf" else "role")


def _quote(path: str) -> str:
    return quote(path, safe="/")
