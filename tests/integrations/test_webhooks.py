"""Inbound Shopify/WooCommerce webhooks over HTTP, on both backends."""

import base64
import hashlib
import hmac
import json

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.shared_data import SHARED

SHOPIFY = SHARED / "shopify_fixtures"
WOO = SHARED / "woocommerce_payloads" / "json"
TABLES = ["orders", "order_lines", "refunds", "customers", "customer_identities",
          "products", "carts", "webhook_deliveries"]  # fmt: skip


def connect(client: TestClient, owner: dict[str, str], platform: str, key: str) -> str:
    body = {"platform": platform, "source_key": key, "secret": f"s3cret-{key}"}
    r = client.post("/api/integrations", headers=owner, json=body)
    assert r.status_code == 201, r.text
    assert r.json()["webhook_path"] == f"/webhooks/{platform}/{key}"
    return r.json()["secret"]


def sig(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def shopify_post(client: TestClient, key: str, topic: str, payload: dict, wid: str | None,
                 secret: str | None = None):  # fmt: skip
    body = json.dumps(payload).encode()
    headers = {"X-Shopify-Topic": topic, "Content-Type": "application/json",
               "X-Shopify-Hmac-Sha256": sig(secret or f"s3cret-{key}", body)}  # fmt: skip
    if wid:
        headers["X-Shopify-Webhook-Id"] = wid
    return client.post(f"/webhooks/shopify/{key}", content=body, headers=headers)


def woo_post(client: TestClient, key: str, topic: str, payload: dict, wid: str | None):
    body = json.dumps(payload).encode()
    headers = {"X-WC-Webhook-Topic": topic, "X-WC-Webhook-Signature": sig(f"s3cret-{key}", body)}
    if wid:
        headers["X-WC-Webhook-Delivery-ID"] = wid
    return client.post(f"/webhooks/woocommerce/{key}", content=body, headers=headers)


def counts(session: Session) -> dict[str, int]:
    session.expire_all()
    return {t: session.scalar(text(f"SELECT count(*) FROM {t}")) for t in TABLES}


def order() -> dict:
    return json.loads((SHOPIFY / "order.json").read_text())["order"]


def test_signature_good_bad_missing(client: TestClient, owner: dict[str, str]) -> None:
    connect(client, owner, "shopify", "shop-a")
    assert shopify_post(client, "shop-a", "orders/create", order(), "w1").status_code == 200
    bad = shopify_post(client, "shop-a", "orders/create", order(), "w2", secret="wrong-one")
    assert (bad.status_code, bad.json()["error"]) == (401, "unauthorized")
    body = json.dumps(order()).encode()
    missing = client.post("/webhooks/shopify/shop-a", content=body,
                          headers={"X-Shopify-Topic": "orders/create"})  # fmt: skip
    assert missing.status_code == 401
    unknown = shopify_post(client, "nope", "orders/create", order(), "w3")
    assert unknown.status_code == 401


def test_order_webhook_applies_once(
    client: TestClient, owner: dict[str, str], session: Session
) -> None:
    connect(client, owner, "shopify", "shop-a")
    r = shopify_post(client, "shop-a", "orders/create", order(), "w1")
    assert r.json() == {"status": "processed", "topic": "orders/create", "delivery_id": "w1"}
    before = counts(session)
    assert (before["orders"], before["order_lines"], before["customers"]) == (1, 3, 1)
    again = shopify_post(client, "shop-a", "orders/create", order(), "w1")
    assert again.json()["status"] == "duplicate"
    assert counts(session) == before
    # a replay under a new delivery id is still the same order (upsert by external id)
    shopify_post(client, "shop-a", "orders/updated", order(), "w9")
    after = counts(session)
    assert (after["orders"], after["order_lines"], after["webhook_deliveries"]) == (1, 3, 2)
    o = client.get("/api/orders", headers=owner).json()["items"][0]
    assert (o["number"], o["total"], o["currency"], o["status"]) == (
        "#1001",
        40994,
        "USD",
        "placed",
    )


def test_unsupported_topic_is_acknowledged_and_recorded(
    client: TestClient, owner: dict[str, str], session: Session
) -> None:
    connect(client, owner, "shopify", "shop-a")
    r = shopify_post(client, "shop-a", "shop/update", {"id": 1}, "w1")
    assert (r.status_code, r.json()["status"]) == (200, "ignored")
    row = session.execute(text("SELECT topic, status FROM webhook_deliveries")).one()
    assert tuple(row) == ("shop/update", "ignored")


def test_bad_payload_is_422_naming_the_field_and_recorded_as_failed(
    client: TestClient, owner: dict[str, str], session: Session
) -> None:
    connect(client, owner, "shopify", "shop-a")
    r = shopify_post(client, "shop-a", "orders/create", order() | {"total_price": "x"}, "w1")
    assert (r.status_code, r.json()["field"]) == (422, "total_price")
    body = b"not json"
    r = client.post("/webhooks/shopify/shop-a", content=body,
                    headers={"X-Shopify-Topic": "orders/create",
                             "X-Shopify-Hmac-Sha256": sig("s3cret-shop-a", body)})  # fmt: skip
    assert (r.status_code, r.json()["field"]) == (422, "body")
    assert counts(session)["orders"] == 0
    rows = session.execute(text("SELECT status FROM webhook_deliveries ORDER BY id")).scalars()
    assert list(rows) == ["failed", "failed"]
    # the platform retries the failed delivery with a good body: it is applied
    assert shopify_post(client, "shop-a", "orders/create", order(), "w1").json()["status"] == (
        "processed")  # fmt: skip
    assert counts(session)["orders"] == 1


def test_same_customer_from_shopify_and_woocommerce_is_one_profile(
    client: TestClient, owner: dict[str, str], session: Session
) -> None:
    connect(client, owner, "shopify", "shop-a")
    connect(client, owner, "woocommerce", "woo-b")
    shop = json.loads((SHOPIFY / "customer.json").read_text())["customer"]
    woo = json.loads((WOO / "customers__retrieve_a_customer.json").read_text())
    woo["email"] = shop["email"]
    assert shopify_post(client, "shop-a", "customers/create", shop, "c1").status_code == 200
    assert woo_post(client, "woo-b", "customer.created", woo, "d1").status_code == 200
    assert counts(session)["customers"] == 1
    rows = session.execute(text(
        "SELECT source, value FROM customer_identities WHERE kind = 'external' ORDER BY source"
    )).all()  # fmt: skip
    assert [tuple(r) for r in rows] == [("shop-a", "207119551"), ("woo-b", "25")]


def test_order_updated_cancelled_refunded_ends_exact(
    client: TestClient, owner: dict[str, str], session: Session
) -> None:
    connect(client, owner, "shopify", "shop-a")
    body = order() | {"financial_status": "paid"}
    shopify_post(client, "shop-a", "orders/create", body, "w1")
    shopify_post(client, "shop-a", "orders/updated", body | {"total_price": "399.94"}, "w2")
    cancelled = body | {"total_price": "399.94", "cancelled_at": "2008-01-11T10:00:00Z"}
    assert shopify_post(client, "shop-a", "orders/cancelled", cancelled, "w3").status_code == 200
    refund = json.loads((SHOPIFY / "refund.json").read_text())["refund"]
    r = shopify_post(client, "shop-a", "refunds/create", refund, "w4")
    assert r.json()["status"] == "processed", r.text
    shopify_post(client, "shop-a", "refunds/create", refund, "w5")  # same refund, new delivery
    o = client.get("/api/orders", headers=owner).json()["items"][0]
    assert (o["status"], o["total"], o["refunded_total"]) == ("cancelled", 39994, 20900)
    assert counts(session)["refunds"] == 1


def test_woocommerce_order_and_checkout(
    client: TestClient, owner: dict[str, str], session: Session
) -> None:
    connect(client, owner, "woocommerce", "woo-b")
    body = json.loads((WOO / "orders__retrieve_an_order.json").read_text())
    assert woo_post(client, "woo-b", "order.created", body, "d1").json()["status"] == "processed"
    assert woo_post(client, "woo-b", "order.created", body, "d1").json()["status"] == "duplicate"
    o = client.get("/api/orders", headers=owner).json()["items"][0]
    assert (o["number"], o["total"], o["status"], len(o["lines"])) == ("727", 2935, "paid", 2)


def test_shopify_checkout_and_product(
    client: TestClient, owner: dict[str, str], session: Session
) -> None:
    connect(client, owner, "shopify", "shop-a")
    ck = json.loads((SHOPIFY / "checkouts.json").read_text())["checkouts"][0]
    assert shopify_post(client, "shop-a", "checkouts/create", ck, "k1").json()["status"] == (
        "processed")  # fmt: skip
    p = json.loads((SHOPIFY / "product.json").read_text())["product"]
    assert shopify_post(client, "shop-a", "products/create", p, "p1").status_code == 200
    assert shopify_post(client, "shop-a", "products/update", p, "p2").status_code == 200
    c = counts(session)
    assert (c["carts"], c["products"]) == (1, 1)


def test_connections_api(
    client: TestClient, owner: dict[str, str], analyst: dict[str, str]
) -> None:
    connect(client, owner, "shopify", "shop-a")
    listed = client.get("/api/integrations", headers=owner).json()
    assert [(c["platform"], c["source_key"]) for c in listed] == [("shopify", "shop-a")]
    assert "secret" not in listed[0]
    dup = client.post("/api/integrations", headers=owner,
                      json={"platform": "shopify", "source_key": "shop-a"})  # fmt: skip
    assert (dup.status_code, dup.json()["field"]) == (409, "source_key")
    assert client.get("/api/integrations", headers=analyst).status_code == 403
