"""`patron worker` and `patron jobs ...`."""

from __future__ import annotations

import typer

jobs_app = typer.Typer(help="The durable job queue.", no_args_is_help=True)
