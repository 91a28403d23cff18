"""The root `patron` command. Each domain mounts its own Typer app here."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import typer

from patron.analytics import cli as analytics_cli
from patron.auth import service as auth_service
from patron.auth.cli import keys_app, users_app
from patron.auth.schemas import Role, UserCreate
from patron.clitools import console, handles_errors
from patron.config import get_settings
from patron.db import get_engine, unit_of_work
from patron.demo import cli as demo_cli
from patron.integrations.cli import import_command, load_online_retail_demo
from patron.integrations.connect_cli import connect_app
from patron.jobs.cli import jobs_app, worker_command
from patron.migrate import upgrade
from patron.predictive.cli import models_app
from patron.predictive.sentiment_cli import sentiment_app
from patron.recommendations.cli import app as recommendations_app
from patron.segments.cli import segments_app
from patron.store import service as store_service
from patron.store.schemas import StoreSettings
from patron.wiring import wire

app = typer.Typer(
    help="Patron: the self-hosted CRM for online stores.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")
app.add_typer(jobs_app, name="jobs")
app.add_typer(segments_app, name="segments")
app.add_typer(recommendations_app, name="recommendations")
app.add_typer(models_app, name="models")
app.add_typer(sentiment_app, name="sentiment")
app.command("import")(import_command)
app.command("demo")(demo_cli.demo_command)
demo_cli.online_retail_loader = load_online_retail_demo
app.add_typer(connect_app, name="connect")
app.command("worker")(worker_command)
app.command("kpis")(analytics_cli.kpis_command)
app.command("rfm")(analytics_cli.rfm_command)
app.command("cohorts")(analytics_cli.cohorts_command)
app.command("breakdown")(analytics_cli.breakdown_command)
app.add_typer(analytics_cli.spend_app, name="spend")
app.add_typer(analytics_cli.targets_app, name="targets")


def init_database() -> None:
    upgrade(get_engine())


@app.command()
@handles_errors
def init(
    admin_email: str = typer.Option("admin@patron.local", "--admin-email"),
    admin_password: str = typer.Option("", "--admin-password", envvar="PATRON_ADMIN_PASSWORD"),
    currency: str = typer.Option("", "--currency", help="store base currency (ISO 4217)"),
    credentials_file: Path = typer.Option(
        Path("patron-credentials.txt"), "--credentials-file", help="where a new admin login goes"
    ),
) -> None:
    """Create or upgrade the database; create the first owner if there is none."""
    init_database()
    with unit_of_work() as session:
        if currency:
            settings = store_service.get_settings(session)
            settings.base_currency = currency
            store_service.update_settings(session, settings=settings)
        elif store_service.get_settings(session) == StoreSettings():
            store_service.update_settings(session, settings=StoreSettings())
        if auth_service.list_users(session):
            console.print("database is up to date")
            return
        password = admin_password or secrets.token_urlsafe(12)
        auth_service.create_user(
            session,
            data=UserCreate(email=admin_email, password=password, role=Role.OWNER, name="Admin"),
        )
        key = auth_service.create_api_key(session, name="admin", role=Role.OWNER)
    credentials_file.write_text(
        f"admin login: {admin_email}\npassword: {password}\nAPI key (owner): {key.secret}\n"
    )
    os.chmod(credentials_file, 0o600)
    console.print(f"database ready; admin login and an owner API key are in {credentials_file}")


def _stop_with_parent() -> None:
    """In the worker child: get SIGTERM when the server dies, however it dies (uvicorn ends
    its process by re-raising the signal it caught, so a `finally` there may never run)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@app.command()
def serve(
    port: int = typer.Option(None, "--port", help="default: $PATRON_PORT or 8000"),
    host: str = typer.Option(None, "--host"),
    workers: int = typer.Option(None, "--workers"),
    with_worker: bool = typer.Option(
        True, "--worker/--no-worker", help="also run a job worker (scheduled refreshes, ...)"
    ),
) -> None:
    """Apply migrations and serve the API; by default a job worker runs beside it, so one
    command gives a working store (run `patron worker` separately to scale out instead)."""
    import uvicorn

    settings = get_settings()
    init_database()
    job_worker = (
        subprocess.Popen(
            [sys.executable, "-m", "patron.cli", "worker"],
            stdin=subprocess.DEVNULL,
            preexec_fn=_stop_with_parent,  # noqa: PLW1509 - only calls prctl
        )
        if with_worker
        else None
    )
    try:
        uvicorn.run(
            "patron.app:create_app",
            factory=True,
            host=host or settings.host,
            port=port or settings.port,
            workers=workers or settings.workers,
            log_level=settings.log_level,
            access_log=False,
        )
    finally:
        if job_worker is not None:
            job_worker.terminate()  # SIGTERM: the worker finishes its current job first
            try:
                job_worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                job_worker.kill()  # its job's lease expires and another worker retakes it


def main() -> None:
    wire()
    app()


if __name__ == "__main__":
    main()
