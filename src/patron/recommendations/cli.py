"""`patron recommendations ...`: every kind, training, models, evaluation, category rules.

Lists print a table (or one JSON object with --json); bad input exits with code 2 and a
message naming the option.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

import typer
from rich.table import Table

from patron.clitools import console, fail, handles_errors
from patron.core.errors import ValidationError
from patron.core.time import parse_date
from patron.db import unit_of_work
from patron.recommendations import service
from patron.recommendations.schemas import (
    MAX_LIMIT,
    CategoryRule,
    RecommendationList,
    RepeatPolicy,
)

app = typer.Typer(help="Recommendations: lists, training, evaluation.", no_args_is_help=True)
rules_app = typer.Typer(help="Repeat policy per category (durable / consumable).",
                        no_args_is_help=True)  # fmt: skip
app.add_typer(rules_app, name="rules")

LIMIT = typer.Option(10, "--limit", help=f"1 to {MAX_LIMIT}")
AS_JSON = typer.Option(False, "--json", help="one JSON object")


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise fail(f"must be between 1 and {MAX_LIMIT}", field="--limit")
    return limit


def _show(result: RecommendationList, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(result.model_dump_json() + "\n")
        return
    table = Table(title=f"{result.kind.value} (model v{result.model_version})")
    for col in ("#", "product", "title", "price", "reason"):
        table.add_column(col, justify="right" if col in ("#", "product", "price") else "left")
    for n, item in enumerate(result.items, start=1):
        price = "" if item.price is None else f"{item.price / 100:.2f} {item.currency or ''}"
        table.add_row(str(n), str(item.product_id), item.title, price, item.reason)
    console.print(table)
    if result.excluded:
        rules = ", ".join(f"{k} {v}" for k, v in sorted(result.excluded.items()))
        console.print(f"excluded by rules: {rules}", markup=False)


@app.command("together")
@handles_errors
def together_command(
    product: list[int] = typer.Option([], "--product", help="product id (repeatable)"),
    cart: int | None = typer.Option(None, "--cart", help="a cart id"),
    customer: int | None = typer.Option(None, "--customer", help="apply this customer's rules"),
    limit: int = LIMIT,
    as_json: bool = AS_JSON,
) -> None:
    """Frequently bought together with products or with a cart."""
    if not product and cart is None:
        raise fail("give --product (repeatable) or --cart", field="--product")
    with unit_of_work(readonly=True) as session:
        result = service.together(session, product_ids=product, cart_id=cart,
                                  customer_id=customer, limit=_limit(limit))  # fmt: skip
    _show(result, as_json)


@app.command("for-you")
@handles_errors
def for_you_command(
    customer: int = typer.Option(..., "--customer", help="customer id"),
    cart: int | None = typer.Option(None, "--cart", help="the cart being shown"),
    limit: int = LIMIT,
    as_json: bool = AS_JSON,
) -> None:
    """Personalised next purchases for a customer."""
    with unit_of_work(readonly=True) as session:
        result = service.for_you(session, customer_id=customer, cart_id=cart,
                                 limit=_limit(limit))  # fmt: skip
    _show(result, as_json)


@app.command("upsell")
@handles_errors
def upsell_command(
    product: int | None = typer.Option(None, "--product", help="product id"),
    customer: int | None = typer.Option(None, "--customer", help="for what this customer owns"),
    limit: int = LIMIT,
    as_json: bool = AS_JSON,
) -> None:
    """A higher tier of the same kind, for a product or for a customer's purchases."""
    if product is None and customer is None:
        raise fail("give --product or --customer", field="--product")
    with unit_of_work(readonly=True) as session:
        result = service.upsell(session, product_id=product, customer_id=customer,
                                limit=_limit(limit))  # fmt: skip
    _show(result, as_json)


@app.command("trending")
@handles_errors
def trending_command(
    category: str | None = typer.Option(None, "--category", help='e.g. "Home > Kitchen"'),
    country: str | None = typer.Option(None, "--country", help="2-letter ISO code"),
    customer: int | None = typer.Option(None, "--customer", help="apply this customer's rules"),
    limit: int = LIMIT,
    as_json: bool = AS_JSON,
) -> None:
    """Popular lately, overall, in a category or in a country."""
    if country is not None and (len(country) != 2 or not country.isalpha()):
        raise fail("must be a 2-letter ISO code", field="--country")
    with unit_of_work(readonly=True) as session:
        result = service.trending(session, category=category, country=country,
                                  customer_id=customer, limit=_limit(limit))  # fmt: skip
    _show(result, as_json)


@app.command("similar")
@handles_errors
def similar_command(
    product: int = typer.Option(..., "--product", help="product id"),
    customer: int | None = typer.Option(None, "--customer", help="apply this customer's rules"),
    limit: int = LIMIT,
    as_json: bool = AS_JSON,
) -> None:
    """Products like this one (category, brand, title): also for brand-new products."""
    with unit_of_work(readonly=True) as session:
        result = service.similar(session, product_id=product, customer_id=customer,
                                 limit=_limit(limit))  # fmt: skip
    _show(result, as_json)


@app.command("train")
@handles_errors
def train_command(
    queue: bool = typer.Option(False, "--queue", help="queue a job for the worker instead"),
    as_json: bool = AS_JSON,
) -> None:
    """Train every kind on the loaded data now (or queue it); the new version is active."""
    with unit_of_work() as session:
        if queue:
            job_id = service.request_training(session)
            out: dict[str, object] = {"job_id": job_id}
        else:
            result = service.train(session)
            out = {"version": result.version, **result.card}
    if as_json:
        sys.stdout.write(json.dumps(out) + "\n")
    elif queue:
        console.print(f"training job {out['job_id'] or 'already queued'}", markup=False)
    else:
        data = result.card["data"]
        console.print(
            f"model v{result.version}: {data['purchases']:,} purchases, {data['views']:,} views,"
            f" {data['products']:,} products in {result.card['seconds']['fit']} s",
            markup=False,
        )


@app.command("models")
@handles_errors
def models_command(as_json: bool = AS_JSON) -> None:
    """Stored model versions (the active one is marked)."""
    with unit_of_work(readonly=True) as session:
        rows = service.models(session)
    if as_json:
        sys.stdout.write(json.dumps([r.model_dump(mode="json") for r in rows]) + "\n")
        return
    table = Table(title="recommendation models")
    for col in ("version", "active", "created", "size", "purchases"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r.version),
            "yes" if r.active else "",
            r.created_at.isoformat(),
            f"{r.size_bytes:,}",
            str(r.card.get("data", {}).get("purchases", "")),
        )
    console.print(table)


@app.command("activate")
@handles_errors
def activate_command(version: int = typer.Argument(..., help="the version to serve")) -> None:
    """Serve an earlier (or later) stored version."""
    with unit_of_work() as session:
        info = service.activate(session, version=version)
    console.print(f"model v{info.version} is active", markup=False)


@app.command("evaluate")
@handles_errors
def evaluate_command(
    train_end: str = typer.Option(..., "--train-end", help="YYYY-MM-DD: train before, test after"),
    as_json: bool = AS_JSON,
) -> None:
    """Every method on a time split of the loaded data, next to a popularity baseline."""
    try:
        day = parse_date(train_end, field="--train-end")
    except ValidationError:
        raise fail(f"must be a date YYYY-MM-DD, got {train_end!r}", field="--train-end") from None
    if len(train_end.strip()) != 10:
        raise fail(f"must be a date YYYY-MM-DD, got {train_end!r}", field="--train-end")
    at = datetime(day.year, day.month, day.day, tzinfo=UTC)
    with unit_of_work(readonly=True) as session:
        try:
            report = service.evaluate(session, train_end=at)
        except ValidationError as exc:
            raise fail(exc.message, field="--train-end") from None
    if as_json:
        sys.stdout.write(json.dumps(report) + "\n")
        return
    for task, methods in report["tasks"].items():
        table = Table(title=task)
        for col in ("method", "recall@10", "precision@10", "ndcg@10", "hit_rate@10",
                    "coverage@10", "ndcg@20"):  # fmt: skip
            table.add_column(col, justify="left" if col == "method" else "right")
        for name, m in methods.items():
            table.add_row(name, *(str(m.get(c, "")) for c in (
                "recall@10", "precision@10", "ndcg@10", "hit_rate@10", "coverage@10",
                "ndcg@20")))  # fmt: skip
        console.print(table)


@rules_app.command("list")
@handles_errors
def rules_list_command(as_json: bool = AS_JSON) -> None:
    with unit_of_work(readonly=True) as session:
        rules = service.list_category_rules(session)
    if as_json:
        sys.stdout.write(json.dumps([r.model_dump(mode="json") for r in rules]) + "\n")
        return
    for r in rules:
        console.print(f"{r.category_path}: {r.policy.value}", markup=False)


@rules_app.command("set")
@handles_errors
def rules_set_command(
    category: str = typer.Option(..., "--category", help='category path, e.g. "Food > Tea"'),
    policy: str = typer.Option(..., "--policy", help="durable or consumable"),
) -> None:
    """Durable: never recommend again once bought; consumable: may be bought again."""
    try:
        chosen = RepeatPolicy(policy)
    except ValueError:
        raise fail("must be durable or consumable", field="--policy") from None
    if not category.strip():
        raise fail("must not be empty", field="--category")
    with unit_of_work() as session:
        rule = service.set_category_rule(
            session, rule=CategoryRule(category_path=category, policy=chosen)
        )
    console.print(f"{rule.category_path}: {rule.policy.value}", markup=False)


@rules_app.command("delete")
@handles_errors
def rules_delete_command(category: str = typer.Option(..., "--category")) -> None:
    with unit_of_work() as session:
        service.delete_category_rule(session, category_path=category)
    console.print(f"{category}: rule deleted (the data decides again)", markup=False)
