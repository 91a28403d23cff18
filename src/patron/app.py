"""create_app(): mounts every router, maps errors to JSON, wires adapters."""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from patron import __version__
from patron.analytics.api import router as analytics_router
from patron.auth.api import router as auth_router
from patron.catalog.api import router as catalog_router
from patron.config import get_settings
from patron.core.errors import PatronError
from patron.core.heap import freeze_startup_heap
from patron.customers.api import router as customers_router
from patron.db import is_contention
from patron.events.api import router as events_router
from patron.integrations.api import router as integrations_router
from patron.integrations.webhooks import router as webhooks_router
from patron.jobs.api import router as jobs_router
from patron.orders.api import router as orders_router
from patron.predictive import sentiment_encoder
from patron.predictive.api import router as predictions_router
from patron.predictive.sentiment_api import router as sentiment_router
from patron.recommendations.api import router as recommendations_router
from patron.segments.api import router as segments_router
from patron.store.api import router as store_router
from patron.web import router as web
from patron.wiring import wire

log = logging.getLogger("patron")


def _field_of(loc: tuple[object, ...] | list[object]) -> str:
    # The first element names where (body, query, path, header); a field may be "query".
    parts = [str(p) for p in (loc[1:] if loc and loc[0] in ("body", "query", "path", "header")
                              else loc)]  # fmt: skip
    return ".".join(parts) or ".".join(str(p) for p in loc)


# Imported on first use, so a `patron` command that never needs them starts without SciPy
# (0.4 s); a served process loads them before its first request and before it freezes its
# heap (no request waits for the import, and full collections skip what it allocated).
WARM_IMPORTS = (
    "patron.recommendations.serving",
    "patron.recommendations.training",
    "patron.recommendations.evaluation",
    "scipy.optimize",
    "scipy.special",
)


@asynccontextmanager
async def _lifespan(_: FastAPI) -> AsyncIterator[None]:
    for name in WARM_IMPORTS:
        importlib.import_module(name)
    # the sentence encoder takes about a second to load: beside start-up, not in a request
    threading.Thread(target=sentiment_encoder.warm, name="warm-encoder", daemon=True).start()
    # every router is mounted and every module imported: what exists now lives as long as
    # the process, so full collections stop walking it (ADR 23: the API's p99 tail)
    if get_settings().freeze_heap:
        log.debug("froze %d start-up objects", freeze_startup_heap())
    yield


def create_app() -> FastAPI:
    get_settings().check_safe()
    wire()
    app = FastAPI(
        title="Patron", version=__version__, docs_url="/docs", redoc_url=None, lifespan=_lifespan
    )

    @app.exception_handler(PatronError)
    async def _patron_error(request: Request, exc: PatronError) -> Response:
        if web.wants_html(request):
            return await web.error_page(request, exc.status, str(exc))
        return JSONResponse(exc.to_dict(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field_of(e.get("loc", ())), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "", "message": "invalid request"}
        body = {
            "error": "invalid",
            "message": f"{first['field']}: {first['message']}",
            "field": first["field"],
            "errors": errors,
        }
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if web.wants_html(request) and exc.status_code in (404, 405):
            return await web.error_page(request, exc.status_code, str(exc.detail))
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}
        body = {"error": code.get(exc.status_code, "error"), "message": str(exc.detail)}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:  # the database went away mid-request (ADR 24)
            log.warning("database connection lost on %s %s: %s", request.method,
                        request.url.path, exc.orig)  # fmt: skip
            body = {"error": "unavailable", "message": "the database connection was lost; "
                    "send the request again"}  # fmt: skip
            return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})
        if is_contention(exc):  # retried and still contended: nothing was applied
            log.warning("database contention on %s %s: %s", request.method, request.url.path,
                        exc.orig)  # fmt: skip
            body = {"error": "busy", "message": "the store is busy; send the request again"}
            return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        body = {"error": "internal", "message": "an internal error occurred; it has been logged"}
        return JSONResponse(body, status_code=500)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    # Routes are matched in order: the customer 360, the hottest read, is found first.
    for router in (
        customers_router,
        auth_router,
        catalog_router,
        orders_router,
        events_router,
        jobs_router,
        store_router,
        integrations_router,
        webhooks_router,
        analytics_router,
        segments_router,
        recommendations_router,
        predictions_router,
        sentiment_router,
    ):
        app.include_router(router)
    web.mount(app)
    return app
