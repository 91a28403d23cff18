"""Every operation in the OpenAPI document refuses a caller without credentials (401 JSON),
so an endpoint added without its guard fails here."""

import re

from fastapi.testclient import TestClient


def test_every_documented_operation_answers_401_without_credentials(
    client: TestClient,
) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    operations = [(m.upper(), p) for p, ops in paths.items() for m in ops]
    answers = {}
    for method, path in operations:
        r = client.request(method, re.sub(r"\{[^}]+\}", "1", path))
        answers[(method, path)] = (r.status_code, r.json()["error"])
    assert len(operations) >= 90  # the whole API is listed, not an empty document
    assert {k: v for k, v in answers.items() if v != (401, "unauthorized")} == {}
