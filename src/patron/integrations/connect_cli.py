"""`patron connect shopify|woocommerce --source KEY [--secret S]`: register a shop's webhooks."""

from __future__ import annotations

import typer

from patron.clitools import console, handles_errors
from patron.db import unit_of_work
from patron.integrations import service
from patron.integrations.schemas import ConnectionCreate, Platform

connect_app = typer.Typer(help="Connect a shop platform (Shopify, WooCommerce) by webhooks.")

_SOURCE = typer.Option(..., "--source", help="source key of the shop (created if new)")
_SECRET = typer.Option(None, "--secret", help="the webhook secret (default: generated)")
_BASE = typer.Option("http://localhost:8000", "--base-url", help="where Patron is reachable")


def _connect(platform: Platform, source: str, secret: str | None, base_url: str) -> None:
    with unit_of_work() as session:
        made = service.create_connection(
            session, data=ConnectionCreate(platform=platform, source_key=source, secret=secret)
        )
    console.print(f"connected {platform.value} source {made.source_key!r}", markup=False)
    console.print(f"webhook URL: {base_url.rstrip('/')}{made.webhook_path}", markup=False)
    print(made.secret)  # noqa: T201 - the secret alone on the last line, for scripts


@connect_app.command("shopify")
@handles_errors
def shopify(source: str = _SOURCE, secret: str | None = _SECRET, base_url: str = _BASE) -> None:
    """Connect a Shopify shop: prints the webhook URL and, last, the signing secret."""
    _connect(Platform.SHOPIFY, source, secret, base_url)


@connect_app.command("woocommerce")
@handles_errors
def woocommerce(source: str = _SOURCE, secret: str | None = _SECRET, base_url: str = _BASE) -> None:
    """Connect a WooCommerce shop: prints the webhook URL and, last, the signing secret."""
    _connect(Platform.WOOCOMMERCE, source, secret, base_url)
