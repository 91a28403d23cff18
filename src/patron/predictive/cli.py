"""`patron models ...`: backtest, train, score and list the prediction models."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import typer
from rich.table import Table

from patron.clitools import console, fail, handles_errors
from patron.db import unit_of_work
from patron.predictive import service, tasks

models_app = typer.Typer(help="Predictions: CLV, churn risk, next order.", no_args_is_help=True)


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"expected a date YYYY-MM-DD, got {value!r}", field=option) from None


def _print(doc: Any) -> None:
    """One JSON document on stdout (not through Rich: no wrapping, no markup)."""
    print(json.dumps(doc, default=str, separators=(",", ":")))


@models_app.command("backtest")
@handles_errors
def backtest_command(
    calibration_end: str = typer.Option(..., "--calibration-end", help="YYYY-MM-DD, inclusive"),
    holdout_end: str = typer.Option(..., "--holdout-end", help="YYYY-MM-DD, inclusive"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object on stdout"),
) -> None:
    """Fit every model on history up to --calibration-end, score the holdout, write a card."""
    cal = _date(calibration_end, "--calibration-end")
    ho = _date(holdout_end, "--holdout-end")
    if cal is None or ho is None:  # both options are required
        raise fail("both dates are required", field="--calibration-end")
    if ho <= cal:
        raise fail("must be after --calibration-end", field="--holdout-end")
    with unit_of_work(readonly=True) as ro:
        card = service.backtest(ro, calibration_end=cal, holdout_end=ho, save=False)
    with unit_of_work() as session:
        card = service.save_backtest(session, card=card)
    if as_json:
        _print(card)
        return
    table = Table("model", "count MAE", "RMSE", "aggregate", "spend MAE", "churn AUC", "Brier")
    for name, m in card["models"].items():
        table.add_row(
            name,
            str(m["count_mae"]),
            str(m["count_rmse"]),
            str(m["aggregate_error"]),
            str(m["spend_mae"]),
            str(m["churn_roc_auc"]),
            str(m["churn_brier"]),
        )
    console.print(
        f"{card['customers']} customers, calibration {card['calibration_start']} .. "
        f"{card['calibration_end']}, holdout to {card['holdout_end']}"
    )
    console.print(table)
    console.print(f"chosen: {card['chosen']['why']}", markup=False)


@models_app.command("train")
@handles_errors
def train_command(
    as_of: str = typer.Option(None, "--as-of", help="YYYY-MM-DD (default today, UTC)"),
    horizon_months: int = typer.Option(12, "--horizon-months", min=1, max=60),
    discount: float = typer.Option(0.10, "--annual-discount-rate", min=0.0, max=1.0),
    score: bool = typer.Option(True, "--score/--no-score", help="score customers after"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Pick models by a backtest on recent history, fit them on all of it, store a version."""
    day = _date(as_of, "--as-of")
    with unit_of_work() as session:
        card, run = tasks.train_and_score(
            session, as_of=day, score=score, horizon_months=horizon_months,
            annual_discount_rate=discount,
        )  # fmt: skip
    if as_json:
        _print(
            {"model": card.model_dump(mode="json"), "score": run and run.model_dump(mode="json")}
        )
        return
    console.print(f"trained {card.kind} version {card.version}: {card.card['chosen']['why']}")
    if run is not None:
        console.print(f"scored {run.scored} customers ({run.tier_changes} churn tier changes)")


@models_app.command("score")
@handles_errors
def score_command(
    as_of: str = typer.Option(None, "--as-of", help="YYYY-MM-DD (default today, UTC)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Score every customer with the active model now."""
    day = _date(as_of, "--as-of")
    with unit_of_work(readonly=True) as ro:  # compute without holding SQLite's write lock
        plan = service.plan_scores(ro, as_of=day)
    with unit_of_work() as session:
        run = service.apply_scores(session, plan=plan)
    if as_json:
        _print(run.model_dump(mode="json"))
        return
    console.print(
        f"scored {run.scored} customers with model version {run.model_version} in "
        f"{run.seconds} s ({run.tier_changes} churn tier changes, {run.removed} removed)"
    )


@models_app.command("list")
@handles_errors
def list_command(as_json: bool = typer.Option(False, "--json")) -> None:
    """Trained models and backtest cards, newest first."""
    with unit_of_work(readonly=True) as session:
        cards = service.list_models(session)
    if as_json:
        _print([c.model_dump(mode="json") for c in cards])
        return
    table = Table("kind", "version", "active", "created", "customers", "chosen")
    for c in cards:
        chosen = c.card.get("chosen", {})
        table.add_row(
            c.kind,
            str(c.version),
            "yes" if c.active else "",
            c.created_at.isoformat(timespec="seconds"),
            str(c.card.get("customers", "")),
            f"counts {chosen.get('counts')}, churn {chosen.get('churn')}" if chosen else "",
        )
    console.print(table)
