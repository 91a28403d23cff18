"""App-wide behaviour: OpenAPI, JSON errors for routing failures, health."""

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session


def test_openapi_lists_the_api(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "Patron"
    assert {"/api/customers", "/api/customers/{customer_id}", "/api/keys"} <= set(spec["paths"])


def test_unknown_route_and_method_are_json(client: TestClient, owner: dict[str, str]) -> None:
    r = client.get("/api/nothing-here", headers=owner)
    assert (r.status_code, r.json()["error"]) == (404, "not_found")
    r = client.put("/api/customers", headers=owner)
    assert (r.status_code, r.json()["error"]) == (405, "method_not_allowed")


def test_malformed_json_body_is_422_not_500(client: TestClient, owner: dict[str, str]) -> None:
    r = client.post(
        "/api/customers",
        content=b"{not json",
        headers={**owner, "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["error"] == "invalid"


def test_health(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"


def test_a_served_app_freezes_its_start_up_heap(session: Session) -> None:
    """ADR 23: at start the app moves every object it holds out of the collector's reach,
    so a full collection walks what requests left behind, not the ~170,000 start-up
    objects (whose walk was the API's p99 tail)."""
    import gc

    from patron.app import create_app
    from patron.config import get_settings

    settings = get_settings()
    assert gc.get_freeze_count() == 0
    try:
        settings.freeze_heap = True
        with TestClient(create_app()) as c:
            frozen = gc.get_freeze_count()
            assert frozen > 100_000
            assert len(gc.get_objects()) < frozen // 10
            assert c.get("/health").status_code == 200
    finally:
        settings.freeze_heap = False
        gc.unfreeze()
    with TestClient(create_app()):
        assert gc.get_freeze_count() == 0  # PATRON_FREEZE_HEAP=0: nothing frozen


def test_contention_after_retries_is_a_503_with_retry_after(session: Session) -> None:
    """A deadlock that outlived the retries answers 503 + Retry-After (nothing was applied:
    the client sends it again), never a 500. The database error is built by hand here: a
    real three-way deadlock cannot be produced on demand."""
    from sqlalchemy.exc import OperationalError

    from patron.app import create_app

    class Deadlock(Exception):
        sqlstate = "40P01"

    app = create_app()

    @app.get("/test-contention")
    def contended() -> None:
        raise OperationalError("INSERT ...", {}, Deadlock("deadlock detected"))

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/test-contention")
    assert (r.status_code, r.headers["retry-after"], r.json()["error"]) == (503, "1", "busy")


def test_a_lost_database_connection_is_a_503_with_retry_after() -> None:
    """A connection that died mid-request (the server restarted; ADR 24) answers 503 +
    Retry-After, not a 500: the pool has dropped it and the next request gets a new one.
    tests/core/test_pool.py loses a real connection; here the error is built by hand."""
    from sqlalchemy.exc import OperationalError

    from patron.app import create_app

    app = create_app()

    @app.get("/test-lost")
    def lost() -> None:
        raise OperationalError(
            "SELECT 1", {}, Exception("server closed the connection"), connection_invalidated=True
        )

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/test-lost")
    assert (r.status_code, r.headers["retry-after"], r.json()["error"]) == (503, "1", "unavailable")
