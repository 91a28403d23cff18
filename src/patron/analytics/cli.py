"""`patron kpis`, `patron rfm`, `patron cohorts`, `patron breakdown`, `patron spend ...`,
`patron targets ...`: Rich tables by default, one JSON object with --json, CSV with --csv."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime, timedelta

import typer
from rich.table import Table

from patron.analytics import export, service
from patron.analytics.schemas import BreakdownDimension, RfmGroup, SpendUpsert, Unit
from patron.clitools import console, fail, handles_errors
from patron.core.errors import ValidationError
from patron.core.money import normalize_currency, to_minor
from patron.core.time import parse_date
from patron.db import unit_of_work
from patron.store import service as store_service

spend_app = typer.Typer(
    help="Marketing spend per channel and month (for CAC).", no_args_is_help=True
)
targets_app = typer.Typer(help="KPI targets.", no_args_is_help=True)


def _date(value: str | None, option: str, default: date) -> date:
    if value is None:
        return default
    try:
        return parse_date(value, field=option)
    except ValidationError:
        raise fail(f"must be a date YYYY-MM-DD, got {value!r}", field=option) from None


def _emit_json(payload: str) -> None:
    sys.stdout.write(payload + "\n")


def _one_format(as_json: bool, as_csv: bool) -> None:
    if as_json and as_csv:
        raise fail("choose one of --json and --csv", field="--csv")


@handles_errors
def kpis_command(
    start: str = typer.Option(None, "--from", help="YYYY-MM-DD, inclusive (default: 30 days ago)"),
    end: str = typer.Option(None, "--to", help="YYYY-MM-DD, exclusive (default: tomorrow)"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object"),
    as_csv: bool = typer.Option(False, "--csv", help="CSV on stdout"),
) -> None:
    """Every KPI for a period, with the previous period, the trend and the target."""
    _one_format(as_json, as_csv)
    today = datetime.now(UTC).date()
    b = _date(end, "--to", today + timedelta(days=1))
    a = _date(start, "--from", b - timedelta(days=30))
    if b <= a:
        raise fail("must be after --from", field="--to")
    with unit_of_work(readonly=True) as session:
        report = service.kpis(session, start=a, end=b)
    if as_json:
        _emit_json(report.model_dump_json())
        return
    if as_csv:
        sys.stdout.write(export.kpis_csv(report))
        return
    table = Table(
        title=f"KPIs {report.period.start} to {report.period.end} (excl.), {report.currency},"
        f" vs {report.previous_period.start} to {report.previous_period.end}"
    )
    for col in ("metric", "value", "target", "trend"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for k in report.kpis:
        value = export.show(k.value, k.unit, report.currency)
        if k.value is None and k.reason:
            value = f"- ({k.reason})"
        target = export.show(k.target, k.unit, report.currency) if k.target is not None else ""
        if k.target_met is not None:
            target += " ✓" if k.target_met else " ✗"
        table.add_row(k.label, value, target, export.trend_text(k, report.currency))
    console.print(table)


@handles_errors
def rfm_command(
    refresh: bool = typer.Option(False, "--refresh", help="recompute the scores first"),
    queue: bool = typer.Option(False, "--queue", help="queue a refresh for the worker"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object"),
    as_csv: bool = typer.Option(False, "--csv", help="CSV on stdout"),
) -> None:
    """Customers and revenue per RFM group (Champions ... Prospects)."""
    _one_format(as_json, as_csv)
    if queue:
        with unit_of_work() as session:
            job = service.enqueue_rfm_refresh(session)
        console.print(f"RFM refresh queued (job {job}); it also runs daily on its schedule")
        return
    if refresh:
        with unit_of_work() as session:
            service.refresh_rfm(session)
    with unit_of_work(readonly=True) as session:
        summary = service.rfm_summary(session)
    if as_json:
        _emit_json(summary.model_dump_json())
        return
    if as_csv:
        sys.stdout.write(export.rfm_csv(summary))
        return
    when = summary.computed_at.isoformat(timespec="seconds") if summary.computed_at else "never"
    table = Table(title=f"RFM groups (computed {when}), {summary.currency}")
    for col in ("group", "customers", "share", "revenue", "revenue share", "avg R days"):
        table.add_column(col, justify="left" if col == "group" else "right")
    for g in summary.groups:
        table.add_row(
            g.label,
            f"{g.customers:,}",
            f"{g.customer_share * 100:.1f}%",
            export.show(g.revenue, Unit.MONEY, summary.currency),
            f"{g.revenue_share * 100:.1f}%",
            "-" if g.avg_recency_days is None else f"{g.avg_recency_days:.0f}",
        )
    console.print(table)
    if summary.computed_at is None:
        console.print("RFM has not been computed yet: run `patron rfm --refresh`")


@handles_errors
def cohorts_command(
    start: str = typer.Option(None, "--from", help="first cohort YYYY-MM (default: 11 months ago)"),
    end: str = typer.Option(None, "--to", help="last cohort YYYY-MM (default: this month)"),
    revenue: bool = typer.Option(False, "--revenue", help="cumulative revenue per customer"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object"),
    as_csv: bool = typer.Option(False, "--csv", help="CSV on stdout"),
) -> None:
    """Acquisition-month cohorts by months since the first order (retention or revenue)."""
    _one_format(as_json, as_csv)
    with unit_of_work(readonly=True) as session:
        try:
            report = service.cohorts(session, start=start, end=end)
        except ValidationError as exc:
            raise fail(exc.message, field=f"--{exc.field}" if exc.field else None) from None
    if as_json:
        _emit_json(report.model_dump_json())
        return
    if as_csv:
        sys.stdout.write(export.cohorts_csv(report))
        return
    width = max((len(c.active) for c in report.cohorts), default=0)
    what = f"cumulative revenue per customer ({report.currency})" if revenue else "retention"
    table = Table(title=f"Cohorts {report.start} to {report.end}: {what}")
    table.add_column("cohort")
    table.add_column("customers", justify="right")
    for k in range(width):
        table.add_column(f"M{k}", justify="right")
    for c in report.cohorts:
        if revenue:
            cells = [export.show(v, Unit.MONEY, report.currency).split(" ")[0]
                     for v in c.revenue_per_customer]  # fmt: skip
        else:
            cells = [f"{v * 100:.0f}%" for v in c.retention]
        table.add_row(c.cohort, f"{c.customers:,}", *cells)
    console.print(table)


@handles_errors
def breakdown_command(
    by: BreakdownDimension = typer.Option(..., "--by", help="channel, country or rfm_group"),
    start: str = typer.Option(None, "--from", help="YYYY-MM-DD, inclusive"),
    end: str = typer.Option(None, "--to", help="YYYY-MM-DD, exclusive"),
    as_json: bool = typer.Option(False, "--json"),
    as_csv: bool = typer.Option(False, "--csv"),
) -> None:
    """Orders, revenue and customers of a period by channel, country or RFM group."""
    _one_format(as_json, as_csv)
    b = _date(end, "--to", datetime.now(UTC).date() + timedelta(days=1))
    a = _date(start, "--from", b - timedelta(days=30))
    if b <= a:
        raise fail("must be after --from", field="--to")
    with unit_of_work(readonly=True) as session:
        report = service.breakdown(session, dimension=by, start=a, end=b)
    if as_json:
        _emit_json(report.model_dump_json())
        return
    if as_csv:
        sys.stdout.write(export.breakdown_csv(report))
        return
    table = Table(title=f"By {by.value}, {a} to {b} (excl.), {report.currency}")
    for col in (by.value, "orders", "revenue", "share", "customers", "new", "AOV", "CAC"):
        table.add_column(col, justify="left" if col == by.value else "right")
    m = Unit.MONEY
    for r in report.rows:
        table.add_row(
            r.key, f"{r.orders:,}", export.show(r.revenue, m, report.currency),
            f"{r.revenue_share * 100:.1f}%", f"{r.customers:,}", f"{r.new_customers:,}",
            export.show(r.aov, m, report.currency), export.show(r.cac, m, report.currency),
        )  # fmt: skip
    console.print(table)


@spend_app.command("set")
@handles_errors
def spend_set(
    channel: str = typer.Argument(..., help="e.g. google_ads, meta, web"),
    month: str = typer.Argument(..., help="YYYY-MM"),
    amount: str = typer.Argument(..., help="in major units, e.g. 1250.50"),
    currency: str = typer.Option(None, "--currency", help="default: the base currency"),
    note: str = typer.Option(None, "--note"),
) -> None:
    """Enter (or replace) the marketing spend of a channel in a month."""
    with unit_of_work() as session:
        code = normalize_currency(
            currency or store_service.get_settings(session).base_currency, field="--currency"
        )
        minor = to_minor(amount, code, field="amount")
        if minor < 0:
            raise fail("must not be negative", field="amount")
        try:
            data = SpendUpsert(channel=channel, month=month, amount=minor, currency=code, note=note)
        except ValueError as exc:
            field = str(exc).split("\n")[1].strip() if "\n" in str(exc) else "channel"
            raise fail("is not valid (channel: a-z0-9_.-; month: YYYY-MM)", field=field) from None
        row = service.set_spend(session, data=data)
    console.print(f"spend {row.channel} {row.month:%Y-%m}: {amount} {row.currency}", markup=False)


@spend_app.command("list")
@handles_errors
def spend_list(
    start: str = typer.Option(None, "--from", help="YYYY-MM"),
    end: str = typer.Option(None, "--to", help="YYYY-MM, inclusive"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Marketing spend entries."""
    with unit_of_work(readonly=True) as session:
        rows = service.list_spend(session, start=start, end=end)
    if as_json:
        _emit_json(json.dumps({"items": [r.model_dump(mode="json") for r in rows]}))
        return
    table = Table(title="Marketing spend")
    for col in ("id", "month", "channel", "amount", "note"):
        table.add_column(col)
    for r in rows:
        money = export.show(r.amount, Unit.MONEY, r.currency)
        table.add_row(str(r.id), f"{r.month:%Y-%m}", r.channel, money, r.note or "")
    console.print(table)


@targets_app.command("set")
@handles_errors
def target_set(
    metric: str = typer.Argument(..., help="a KPI key, e.g. retention_rate or aov"),
    value: float = typer.Argument(..., help="rates as fractions, money in minor units"),
) -> None:
    """Set the target of one KPI."""
    with unit_of_work() as session:
        t = service.set_target(session, metric=metric, value=value)
    console.print(f"target {t.metric} = {t.value}", markup=False)


@targets_app.command("list")
@handles_errors
def target_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """KPI targets."""
    with unit_of_work(readonly=True) as session:
        rows = service.list_targets(session)
    if as_json:
        _emit_json(json.dumps({"items": [r.model_dump(mode="json") for r in rows]}))
        return
    table = Table(title="KPI targets")
    for col in ("metric", "target"):
        table.add_column(col)
    for t in rows:
        table.add_row(t.label, str(t.value))
    console.print(table)


@targets_app.command("clear")
@handles_errors
def target_clear(metric: str = typer.Argument(...)) -> None:
    """Remove the target of one KPI."""
    with unit_of_work() as session:
        service.delete_target(session, metric=metric)
    console.print(f"target {metric} removed", markup=False)


__all__ = [
    "RfmGroup",
    "breakdown_command",
    "cohorts_command",
    "kpis_command",
    "rfm_command",
    "spend_app",
    "targets_app",
]
