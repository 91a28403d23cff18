"""The Segment-compatible tracking API over HTTP, on both backends."""

import gzip
import json
from datetime import UTC, datetime

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.customers import service as customers_service
from patron.events import service
from patron.events.models import Event
from tests.shared_data import SHARED

SPEC = SHARED / "segment_spec"


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Event)) or 0


def drain(session: Session) -> int:
    """What the worker's inbox poller does (ADR 20): apply every accepted request."""
    applied = 0
    while (result := service.process_inbox(session)).batches:
        assert result.failed == 0
        applied += result.batches
    return applied


def batch(*messages: dict[str, object], sent_at: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {"batch": list(messages)}
    if sent_at:
        body["sentAt"] = sent_at
    return body


def test_a_replayed_batch_adds_nothing(
    client: TestClient, session: Session, basic: dict[str, str]
) -> None:
    body = batch(
        {"type": "track", "event": "Signed Up", "userId": "u1", "messageId": "m1"},
        {"type": "page", "name": "Home", "anonymousId": "a1", "messageId": "m2"},
        {"type": "track", "event": "Signed Up", "userId": "u1", "messageId": "m1"},
    )
    r = client.post("/v1/batch", json=body, headers=basic)
    assert (r.status_code, r.json()) == (200, {"success": True})
    assert count(session) == 0  # accepted, kept in the inbox until the worker applies it
    assert service.inbox_stats(session).queued_messages == 3
    assert drain(session) == 1
    assert count(session) == 2
    assert client.post("/v1/batch", json=body, headers=basic).status_code == 200
    assert drain(session) == 1
    assert count(session) == 2
    assert service.inbox_stats(session).queued_batches == 0
    page = service.list_events(session)
    assert [(e.message_id, e.type, e.name) for e in page.items] == [
        ("m2", "page", "Home"),
        ("m1", "track", "Signed Up"),
    ]


def test_clock_skew_is_corrected_and_the_three_times_are_kept(
    client: TestClient, session: Session, basic: dict[str, str]
) -> None:
    # The client's clock is 1 hour fast: it says it sent at 11:00:05 an event of 11:00:00
    body = batch(
        {"type": "track", "event": "Clicked", "userId": "u1", "messageId": "s1",
         "timestamp": "2026-03-01T11:00:00Z"},
        sent_at="2026-03-01T11:00:05Z",
    )  # fmt: skip
    before = datetime.now(UTC)
    assert client.post("/v1/batch", json=body, headers=basic).status_code == 200
    drain(session)
    (e,) = service.list_events(session).items
    assert e.original_timestamp == datetime(2026, 3, 1, 11, 0, tzinfo=UTC)
    assert e.sent_at == datetime(2026, 3, 1, 11, 0, 5, tzinfo=UTC)
    assert e.received_at >= before
    assert e.received_at - e.timestamp == e.sent_at - e.original_timestamp  # exactly 5 s


def test_bad_and_oversized_messages_are_named_and_nothing_is_stored(
    client: TestClient, session: Session, basic: dict[str, str]
) -> None:
    ok = {"type": "track", "event": "A", "userId": "u"}
    cases = [
        (batch(ok, {"type": "track", "userId": "u"}), "batch[1].event"),
        (batch(ok, {"type": "track", "event": "A"}), "batch[1].userId"),
        (batch({"type": "shout", "userId": "u"}), "batch[0].type"),
        (batch(ok, {**ok, "timestamp": "yesterday"}), "batch[1].timestamp"),
        (batch(ok, {**ok, "properties": {"pad": "x" * 33_000}}), "batch[1]"),
        ({"batch": "nope"}, "batch"),
    ]
    for body, field in cases:
        r = client.post("/v1/batch", json=body, headers=basic)
        assert (r.status_code, r.json()["field"]) == (400, field), r.text
    big = batch(*[{**ok, "properties": {"pad": "x" * 20_000}} for _ in range(30)])
    r = client.post("/v1/batch", json=big, headers=basic)
    assert (r.status_code, r.json()["field"]) == (400, "body")
    r = client.post("/v1/batch", content=b"{not json", headers=basic)
    assert (r.status_code, r.json()["field"]) == (400, "body")
    r = client.post("/v1/identify", json={**ok, "traits": {"email": "not an email"}}, headers=basic)
    assert (r.status_code, r.json()["field"]) == (400, "body.traits.email")
    assert service.inbox_stats(session).queued_batches == 0
    assert drain(session) == 0
    assert count(session) == 0


def test_write_keys_only_ingest_and_api_keys_cannot_ingest(
    client: TestClient, session: Session, basic: dict[str, str], owner: dict[str, str]
) -> None:
    msg = {"event": "A", "userId": "u"}
    assert client.post("/v1/track", json=msg).status_code == 401
    assert client.post("/v1/track", json=msg, headers=owner).status_code == 403
    assert client.get("/api/events", headers=basic).status_code == 403
    assert client.post("/v1/track", json=msg, headers=basic).status_code == 200
    inbox = client.get("/api/events/inbox", headers=owner).json()
    assert (inbox["queued_batches"], inbox["queued_messages"], inbox["dead_batches"]) == (1, 1, 0)
    assert client.get("/api/events/inbox", headers=basic).status_code == 403
    drain(session)
    assert len(client.get("/api/events", headers=owner).json()["items"]) == 1


def test_gzip_bodies_and_single_calls(
    client: TestClient, session: Session, basic: dict[str, str]
) -> None:
    body = gzip.compress(orjson.dumps(batch({"type": "screen", "name": "Cart", "userId": "u"})))
    headers = {**basic, "Content-Encoding": "gzip", "Content-Type": "application/json"}
    assert client.post("/v1/batch", content=body, headers=headers).status_code == 200
    for path, msg in [
        ("/v1/identify", {"userId": "u", "traits": {"email": "u@example.com"}}),
        ("/v1/group", {"userId": "u", "groupId": "g1"}),
        ("/v1/alias", {"userId": "u", "previousId": "anon-9"}),
    ]:
        assert client.post(path, json=msg, headers=basic).status_code == 200, path
    assert drain(session) == 4
    types = [e.type.value for e in service.list_events(session).items]
    assert types == ["alias", "group", "identify", "screen"]


def test_identify_stitches_the_anonymous_visitor_to_the_known_customer(
    client: TestClient, session: Session, basic: dict[str, str]
) -> None:
    client.post("/v1/page", json={"anonymousId": "anon-1", "name": "Shoes"}, headers=basic)
    client.post(
        "/v1/identify",
        json={"anonymousId": "anon-1", "userId": "user-7",
              "traits": {"email": "Ana@Example.com", "firstName": "Ana"}},
        headers=basic,
    )  # fmt: skip
    client.post("/v1/track", json={"userId": "user-7", "event": "Clicked"}, headers=basic)
    assert drain(session) == 3
    ids = {e.customer_id for e in service.list_events(session).items}
    assert len(ids) == 1
    (cid,) = ids
    profile = customers_service.get(session, customer_id=cid)  # type: ignore[arg-type]
    assert (profile.email, profile.first_name, profile.is_anonymous) == (
        "ana@example.com", "Ana", False,
    )  # fmt: skip
    titles = [t.title for t in customers_service.timeline(session, customer_id=cid).items]  # type: ignore[arg-type]
    assert titles == ["Clicked", "Identified", "Viewed page Shoes"]


@pytest.mark.parametrize(
    "capture", ["segment_captured_requests.json", "rudder_captured_requests.json"]
)
def test_requests_captured_from_the_official_clients_ingest(
    client: TestClient, session: Session, basic: dict[str, str], capture: str
) -> None:
    path = SPEC / capture
    if not path.exists():
        pytest.fail(f"{path} is missing: the shared data set is part of the test machine")
    captured = json.loads(path.read_text())
    for req in captured:
        headers = {
            k: v for k, v in req["headers"].items() if k.lower() in ("content-type", "user-agent")
        }
        r = client.post(
            req["path"], content=orjson.dumps(req["body"]), headers={**headers, **basic}
        )
        assert r.status_code == 200, r.text
    assert drain(session) == len(captured)
    stored = sorted((e.type.value, e.name or "") for e in service.list_events(session).items)
    assert stored == sorted(
        [("identify", ""), ("track", "Order Completed"), ("page", "Ecommerce Spec"),
         ("group", ""), ("alias", "")]
    )  # fmt: skip
