"""`patron segments ...`: list, create, preview, refresh, members, export, import-list."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from patron.clitools import console, fail, handles_errors
from patron.db import unit_of_work
from patron.segments import service
from patron.segments.schemas import SegmentCreate, SegmentKind, SegmentUpdate

segments_app = typer.Typer(help="Segments: dynamic queries and static lists.", no_args_is_help=True)


def _dump(obj: Any) -> str:
    return json.dumps(obj, default=str, ensure_ascii=False)


@segments_app.command("list")
@handles_errors
def list_command(as_json: bool = typer.Option(False, "--json", help="one JSON object")) -> None:
    """Every segment with its member count."""
    items = []
    with unit_of_work(readonly=True) as session:
        cursor = None
        while True:
            page = service.list(session, cursor=cursor, limit=200)
            items += page.items
            cursor = page.next_cursor
            if cursor is None:
                break
    if as_json:
        console.print(_dump({"items": [s.model_dump(mode="json") for s in items]}), markup=False)
        return
    table = Table("id", "name", "kind", "members", "refreshed", "query")
    for s in items:
        table.add_row(
            str(s.id),
            s.name,
            s.kind.value,
            f"{s.member_count:,}",
            s.refreshed_at.isoformat(timespec="seconds") if s.refreshed_at else "-",
            s.query or "",
        )
    console.print(table)


@segments_app.command("create")
@handles_errors
def create_command(
    name: str = typer.Argument(..., help="the segment's name"),
    query: str = typer.Option("", "--query", "-q", help="the query (dynamic segments)"),
    static: bool = typer.Option(False, "--static", help="a static list (no query)"),
    description: str = typer.Option("", "--description"),
    refresh: bool = typer.Option(True, "--refresh/--no-refresh", help="compute members now"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Save a dynamic segment (with --query) or a static list (--static)."""
    if static and query:
        raise fail("a static list has no query", field="--query")
    if not static and not query.strip():
        raise fail("give the query of a dynamic segment, or --static", field="--query")
    kind = SegmentKind.STATIC if static else SegmentKind.DYNAMIC
    with unit_of_work() as session:
        seg = service.create(
            session,
            data=SegmentCreate(name=name, kind=kind, query=query or None, description=description),
            refresh_now=refresh and not static,
        )
    if as_json:
        console.print(_dump(seg.model_dump(mode="json")), markup=False)
    else:
        console.print(f"segment {seg.id} {seg.name!r}: {seg.member_count:,} members", markup=False)


@segments_app.command("update")
@handles_errors
def update_command(
    segment: str = typer.Argument(..., help="name or id"),
    query: str = typer.Option(None, "--query", "-q"),
    name: str = typer.Option(None, "--name"),
    refresh: bool = typer.Option(True, "--refresh/--no-refresh"),
) -> None:
    """Change a segment's name or query."""
    with unit_of_work() as session:
        seg = service.find(session, ref=segment)
        seg = service.update(
            session,
            segment_id=seg.id,
            data=SegmentUpdate(query=query, name=name),
            refresh_now=refresh,
        )
    console.print(f"segment {seg.id} {seg.name!r}: {seg.member_count:,} members", markup=False)


@segments_app.command("delete")
@handles_errors
def delete_command(segment: str = typer.Argument(..., help="name or id")) -> None:
    """Delete a segment (every member's exit is recorded)."""
    with unit_of_work() as session:
        seg = service.find(session, ref=segment)
        service.delete(session, segment_id=seg.id)
    console.print(f"segment {seg.id} {seg.name!r} deleted", markup=False)


@segments_app.command("preview")
@handles_errors
def preview_command(
    query: str = typer.Argument(..., help='e.g. "orders_count >= 2 AND last_order_at < -60d"'),
    sample: int = typer.Option(10, "--sample", min=0, max=100),
    as_json: bool = typer.Option(False, "--json", help="one JSON object {count, sample}"),
) -> None:
    """Count and sample members of a query without saving it."""
    with unit_of_work(readonly=True) as session:
        got = service.preview(session, query=query, sample=sample)
    if as_json:
        out = {"count": got.count, "sample": [m.model_dump(mode="json") for m in got.sample]}
        console.print(_dump(out), markup=False)
        return
    console.print(f"{got.count:,} customers ({got.elapsed_ms:.0f} ms)")
    _members_table([m.model_dump() for m in got.sample])


def _members_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    table = Table("customer", "email", "name", "orders", "spent", "last order")
    for r in rows:
        name = " ".join(p for p in (r["first_name"], r["last_name"]) if p)
        last = r["last_order_at"].date().isoformat() if r["last_order_at"] else "-"
        table.add_row(
            str(r["customer_id"]),
            r["email"] or "",
            name,
            str(r["orders_count"]),
            f"{r['total_spent']:,}",
            last,
        )
    console.print(table)


@segments_app.command("refresh")
@handles_errors
def refresh_command(
    segment: str = typer.Argument("", help="name or id; empty: every dynamic segment"),
    incremental: bool = typer.Option(False, "--incremental", help="only touched customers"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Recompute membership now (full by default)."""
    mode = "incremental" if incremental else "full"
    with unit_of_work() as session:
        if segment:
            seg = service.find(session, ref=segment)
            results = [service.refresh(session, segment_id=seg.id, mode=mode)]
        else:
            results = service.refresh_all(session, mode=mode)
    for r in results:
        if as_json:
            console.print(_dump(r.model_dump(mode="json")), markup=False)
        else:
            console.print(
                f"segment {r.segment_id}: {r.mode} refresh, +{r.entered:,} "
                f"-{r.exited:,}, {r.members:,} members in {r.elapsed_ms:.0f} ms"
            )


@segments_app.command("members")
@handles_errors
def members_command(
    segment: str = typer.Argument(..., help="name or id"),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    cursor: str = typer.Option(None, "--cursor"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """One page of members (by customer id)."""
    with unit_of_work(readonly=True) as session:
        seg = service.find(session, ref=segment)
        page = service.members(session, segment_id=seg.id, cursor=cursor, limit=limit)
    if as_json:
        console.print(_dump(page.model_dump(mode="json")), markup=False)
        return
    _members_table([m.model_dump() for m in page.items])
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}", markup=False)


@segments_app.command("export")
@handles_errors
def export_command(
    segment: str = typer.Argument(..., help="name or id"),
    output: Path = typer.Option(None, "--output", "-o", help="file (default: stdout)"),
) -> None:
    """Every member as CSV."""
    with unit_of_work(readonly=True) as session:
        seg = service.find(session, ref=segment)
        if output is None:
            for chunk in service.export_rows(session, segment_id=seg.id):
                sys.stdout.write(chunk)
            return
        with output.open("w", encoding="utf-8", newline="") as fh:
            for chunk in service.export_rows(session, segment_id=seg.id):
                fh.write(chunk)
    console.print(f"{seg.member_count:,} members written to {output}", markup=False)


@segments_app.command("import-list")
@handles_errors
def import_list_command(
    segment: str = typer.Argument(..., help="a static list: name or id"),
    file: Path = typer.Argument(..., help="CSV with a column email, customer_id or id"),
    create: bool = typer.Option(False, "--create", help="create the static list if missing"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Add the customers of a CSV to a static list."""
    if not file.is_file():
        raise fail(f"no such file: {file}", field="FILE")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise fail("the file is not UTF-8 text", field="FILE") from None
    from patron.core.errors import NotFound

    with unit_of_work() as session:
        try:
            seg = service.find(session, ref=segment)
        except NotFound:
            if not create:
                raise
            seg = service.create(session, data=SegmentCreate(name=segment, kind=SegmentKind.STATIC))
        result = service.import_list(session, segment_id=seg.id, text=text)
    if as_json:
        console.print(_dump(result.model_dump(mode="json")), markup=False)
        return
    console.print(
        f"{result.added:,} added, {result.unchanged:,} already members, "
        f"{result.not_found_count:,} not found",
        markup=False,
    )


@segments_app.command("builtins")
@handles_errors
def builtins_command(
    refresh: bool = typer.Option(True, "--refresh/--no-refresh"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Create or update the lifecycle segments (thresholds from the purchase cycle)."""
    with unit_of_work() as session:
        found = service.thresholds(session)
        segs = service.install_builtins(session, refresh_now=refresh)
    if as_json:
        console.print(
            _dump(
                {
                    "thresholds": found.model_dump(mode="json"),
                    "segments": [s.model_dump(mode="json") for s in segs],
                }
            ),
            markup=False,
        )
        return
    console.print(
        f"purchase cycle: {found.purchase_cycle_days} days (median of "
        f"{found.derived_from_orders:,} gaps between orders)",
        markup=False,
    )
    for s in segs:
        console.print(f"{s.name}: {s.member_count:,} members  [{s.query}]", markup=False)


@segments_app.command("tick")
@handles_errors
def tick_command(
    schedule: bool = typer.Option(False, "--schedule", help="enqueue the loop"),
) -> None:
    """Run one incremental/time-based pass now (or schedule the background loop)."""
    with unit_of_work() as session:
        if schedule:
            service.ensure_tick(session)
            console.print("a segments pass is queued (run `patron worker`)")
            return
        results = service.tick(session)
    for r in results:
        console.print(f"segment {r.segment_id}: {r.mode}, +{r.entered} -{r.exited}")
