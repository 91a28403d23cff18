"""`patron connect` as a script runs it: a subprocess on a real database, both backends."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tests.conftest import run_patron as run


def test_connect_prints_url_and_secret_last(database: str, tmp_path: Path) -> None:
    assert run(database, "init", cwd=tmp_path).returncode == 0
    r = run(database, "connect", "shopify", "--source", "shop-a", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[-2] == "webhook URL: http://localhost:8000/webhooks/shopify/shop-a"
    secret = lines[-1]
    assert len(secret) >= 32
    w = run(database, "connect", "woocommerce", "--source", "woo-b", "--secret", "given-secret",
            "--base-url", "https://crm.example.com/", cwd=tmp_path)  # fmt: skip
    url = "webhook URL: https://crm.example.com/webhooks/woocommerce/woo-b"
    assert w.stdout.strip().splitlines()[-2:] == [url, "given-secret"]
    dup = run(database, "connect", "shopify", "--source", "shop-a", cwd=tmp_path)
    assert (dup.returncode, dup.stderr.strip()) == (
        2, "error: source_key: source 'shop-a' is already connected")  # fmt: skip
    engine = sa.create_engine(database)
    with engine.connect() as c:
        rows = c.execute(sa.text(
            "SELECT platform, secret FROM integration_connections ORDER BY id")).all()  # fmt: skip
    engine.dispose()
    assert [tuple(x) for x in rows] == [("shopify", secret), ("woocommerce", "given-secret")]
