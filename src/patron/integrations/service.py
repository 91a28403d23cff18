"""Shop-platform connections and inbound webhooks (Shopify, WooCommerce).

A connection ties a source to a platform and holds the secret its webhooks are signed with
(HMAC-SHA256 of the raw body, base64). A delivery is recorded once per (source, delivery
id): a redelivery is acknowledged and applies nothing; every upsert underneath is idempotent
by (source, external id) anyway. Processing is inline, in the request's transaction.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from patron.catalog import service as catalog_service
from patron.core.errors import Conflict, NotFound, PatronError, Unauthorized, ValidationError
from patron.core.money import normalize_currency
from patron.core.time import utcnow
from patron.customers import service as customers_service
from patron.integrations import shopify, woocommerce
from patron.integrations.models import Connection, WebhookDelivery
from patron.integrations.schemas import (
    ConnectionCreate,
    ConnectionCreated,
    ConnectionRead,
    DeliveryResult,
    Platform,
)
from patron.orders import service as orders_service
from patron.store import service as store_service
from patron.store.schemas import SourceRead

SIGNATURE_HEADER = {
    Platform.SHOPIFY: "x-shopify-hmac-sha256",
    Platform.WOOCOMMERCE: "x-wc-webhook-signature",
}
TOPIC_HEADER = {Platform.SHOPIFY: "x-shopify-topic", Platform.WOOCOMMERCE: "x-wc-webhook-topic"}
DELIVERY_HEADER = {
    Platform.SHOPIFY: "x-shopify-webhook-id",
    Platform.WOOCOMMERCE: "x-wc-webhook-delivery-id",
}


def _insert(session: Session):  # type: ignore[no-untyped-def]
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _read(row: Connection, source: SourceRead) -> ConnectionRead:
    return ConnectionRead(
        id=row.id,
        platform=Platform(row.platform),
        source_id=row.source_id,
        source_key=source.key,
        webhook_path=f"/webhooks/{row.platform}/{source.key}",
        created_at=row.created_at,
    )


def create_connection(session: Session, *, data: ConnectionCreate) -> ConnectionCreated:
    """Connect a source (created if new) to a platform; the secret is returned only here."""
    source = store_service.ensure_source(session, key=data.source_key, kind=data.platform.value)
    if session.scalar(select(Connection.id).where(Connection.source_id == source.id)):
        raise Conflict(f"source {source.key!r} is already connected", field="source_key")
    secret = data.secret or secrets.token_urlsafe(32)
    row = Connection(
        source_id=source.id, platform=data.platform.value, secret=secret, created_at=utcnow()
    )
    session.add(row)
    session.flush()
    return ConnectionCreated(**_read(row, source).model_dump(), secret=secret)


def list_connections(session: Session) -> list[ConnectionRead]:
    rows = session.scalars(select(Connection).order_by(Connection.id)).all()
    return [_read(r, store_service.get_source(session, source_id=r.source_id)) for r in rows]


def _connection(session: Session, platform: Platform, source_key: str) -> Connection:
    for source in store_service.list_sources(session):
        if source.key == source_key:
            row = session.scalar(select(Connection).where(Connection.source_id == source.id))
            if row is not None and row.platform == platform.value:
                return row
    raise NotFound(f"no {platform.value} connection for source {source_key!r}")


def sign(secret: str, body: bytes) -> str:
    """The base64 HMAC-SHA256 both platforms send."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(secret: str, body: bytes, signature: str | None) -> bool:
    if not signature:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), signature.strip().encode())


# --- processing -------------------------------------------------------------------------


def _shop_currency(session: Session) -> str:
    return store_service.get_settings(session).base_currency


def _orders(session: Session, source: SourceRead, orders: list[Any]) -> None:
    orders_service.upsert_orders(session, orders=orders, source_id=source.id)


def _shopify(session: Session, source: SourceRead, topic: str, body: dict[str, Any]) -> bool:
    if topic in ("orders/create", "orders/updated", "orders/paid", "orders/fulfilled",
                 "orders/partially_fulfilled", "orders/cancelled", "orders/edited"):  # fmt: skip
        _orders(session, source, [shopify.order(body, source.key)])
    elif topic == "refunds/create":
        order_id = body.get("order_id")
        if order_id is None:
            raise ValidationError("order_id is required", field="order_id")
        currency = next(
            (t["currency"] for t in body.get("transactions") or [] if t.get("currency")),
            _shop_currency(session),
        )
        refund = shopify.refund(body, normalize_currency(currency, field="currency"))
        orders_service.add_refunds(session, source_id=source.id, refunds=[(str(order_id), refund)])
    elif topic in ("customers/create", "customers/update", "customers/enable"):
        customers_service.resolve_many(session, [shopify.customer(body, source.key, source.id)])
    elif topic in ("products/create", "products/update"):
        product = shopify.product(body, _shop_currency(session))
        catalog_service.upsert_products(session, products=[product], source_id=source.id)
    elif topic in ("checkouts/create", "checkouts/update"):
        orders_service.upsert_carts(
            session, carts=[shopify.checkout(body, source.key)], source_id=source.id
        )
    else:
        return False
    return True


def _woocommerce(session: Session, source: SourceRead, topic: str, body: dict[str, Any]) -> bool:
    if topic in ("order.created", "order.updated", "order.restored"):
        _orders(session, source, [woocommerce.order(body, source.key)])
    elif topic in ("customer.created", "customer.updated"):
        customers_service.resolve_many(session, [woocommerce.customer(body, source.key, source.id)])
    elif topic in ("product.created", "product.updated", "product.restored"):
        product = woocommerce.product(body, _shop_currency(session))
        catalog_service.upsert_products(session, products=[product], source_id=source.id)
    else:
        return False
    return True


_HANDLERS: dict[Platform, Callable[[Session, SourceRead, str, dict[str, Any]], bool]] = {
    Platform.SHOPIFY: _shopify,
    Platform.WOOCOMMERCE: _woocommerce,
}


def receive(
    session: Session,
    *,
    platform: Platform,
    source_key: str,
    body: bytes,
    headers: dict[str, str],
) -> DeliveryResult:
    """Verify, dedupe, record and apply one webhook. Unauthorized on a bad signature;
    ValidationError (naming the field) on a bad body, recorded as a failed delivery that a
    redelivery may retry."""
    try:
        conn = _connection(session, platform, source_key)
    except NotFound:
        raise Unauthorized("unknown webhook connection") from None
    if not verify(conn.secret, body, headers.get(SIGNATURE_HEADER[platform])):
        raise Unauthorized("invalid webhook signature")
    topic = (headers.get(TOPIC_HEADER[platform]) or "").strip()[:64]
    delivery_id = (headers.get(DELIVERY_HEADER[platform]) or "").strip()[:128] or None
    now = utcnow()
    if delivery_id is not None:
        # Insert-or-find under the unique constraint: of two concurrent copies of one
        # delivery, the second waits for the first and then finds it already applied.
        inserted = session.execute(
            _insert(session)(WebhookDelivery)
            .values(
                source_id=conn.source_id,
                delivery_id=delivery_id,
                topic=topic,
                status="received",
                received_at=now,
            )  # fmt: skip
            .on_conflict_do_nothing(index_elements=["source_id", "delivery_id"])
            .returning(WebhookDelivery.id)
        ).scalar()
        row = session.scalar(
            select(WebhookDelivery)
            .where(
                WebhookDelivery.source_id == conn.source_id,
                WebhookDelivery.delivery_id == delivery_id,
            )
            .execution_options(populate_existing=True)
        )
        assert row is not None
        if inserted is None and row.status != "failed":
            return DeliveryResult(status="duplicate", topic=topic, delivery_id=delivery_id)
    else:
        row = WebhookDelivery(
            source_id=conn.source_id, delivery_id=None, topic=topic, status="received",
            received_at=now,
        )  # fmt: skip
        session.add(row)
        session.flush()
    row.received_at, row.topic, row.error = now, topic, None
    source = store_service.get_source(session, source_id=conn.source_id)
    savepoint = session.begin_nested()
    try:
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            raise ValidationError("body is not valid JSON", field="body") from None
        if not isinstance(payload, dict):
            raise ValidationError("body must be a JSON object", field="body")
        applied = _HANDLERS[platform](session, source, topic, payload)
        savepoint.commit()
    except PatronError as exc:
        savepoint.rollback()
        row.status, row.error = "failed", f"{exc.field or ''}: {exc}"[:2000]
        session.flush()
        raise
    row.status = "processed" if applied else "ignored"
    session.flush()
    return DeliveryResult(status=row.status, topic=topic, delivery_id=delivery_id)
