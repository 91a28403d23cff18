"""Inbound shop webhooks: POST /webhooks/shopify/{source_key}, /webhooks/woocommerce/{...}.

Authenticated by the connection's HMAC signature, not by an API key.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from patron.auth.guards import Writer
from patron.core.errors import Unauthorized, ValidationError
from patron.integrations import service
from patron.integrations.schemas import DeliveryResult, Platform

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

MAX_BODY = 5 * 1024 * 1024


async def _receive(platform: Platform, source_key: str, request: Request, session: Writer):
    body = await request.body()
    if len(body) > MAX_BODY:
        return JSONResponse({"error": "too_large", "message": "body too large"}, status_code=413)
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        return service.receive(
            session, platform=platform, source_key=source_key, body=body, headers=headers
        )
    except Unauthorized as exc:
        return JSONResponse(exc.to_dict(), status_code=401)
    except ValidationError as exc:
        # The failed delivery stays recorded (the session commits); the platform may retry.
        return JSONResponse(exc.to_dict(), status_code=exc.status)


@router.post("/shopify/{source_key}", response_model=DeliveryResult)
async def shopify(source_key: str, request: Request, session: Writer):  # type: ignore[no-untyped-def]
    return await _receive(Platform.SHOPIFY, source_key, request, session)


@router.post("/woocommerce/{source_key}", response_model=DeliveryResult)
async def woocommerce(source_key: str, request: Request, session: Writer):  # type: ignore[no-untyped-def]
    return await _receive(Platform.WOOCOMMERCE, source_key, request, session)
