"""`patron import ...`: files in (CSV, UCI Online Retail, CDNOW)."""

from __future__ import annotations

import typer

import_app = typer.Typer(
    help="Import customers, products or orders from a file.", no_args_is_help=True
)
