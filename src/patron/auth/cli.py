"""`patron keys ...` and `patron users ...`: the new secret is the last line of output."""

from __future__ import annotations

import secrets

import typer

from patron.auth import service
from patron.auth.schemas import Role, UserCreate
from patron.clitools import console, fail, handles_errors
from patron.db import unit_of_work
from patron.store import service as store_service

keys_app = typer.Typer(
    help="API keys (REST) and write keys (tracking ingestion).", no_args_is_help=True
)
users_app = typer.Typer(help="Users who sign in to the web app.", no_args_is_help=True)


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise fail(f"must be one of {', '.join(r.value for r in Role)}", field="--role") from None


@keys_app.command("create")
@handles_errors
def create_key(
    name: str = typer.Option(..., "--name", help="what the key is for"),
    role: str = typer.Option(..., "--role", help="owner, marketer, support or analyst"),
) -> None:
    """Create an API key; it is printed once, as the last line."""
    with unit_of_work() as session:
        key = service.create_api_key(session, name=name, role=_role(role))
    console.print(f"API key #{key.id} '{key.name}' (role {key.role}); shown once:", markup=False)
    print(key.secret)  # noqa: T201 - the last line, for scripts


@keys_app.command("create-write-key")
@handles_errors
def create_write_key(
    name: str = typer.Option(..., "--name"),
    source: str = typer.Option("web", "--source", help="source key the events come from"),
) -> None:
    """Create a write key for the tracking API (HTTP Basic username, as Segment)."""
    with unit_of_work() as session:
        src = store_service.ensure_source(session, key=source)
        key = service.create_write_key(session, name=name, source_id=src.id)
    console.print(f"Write key #{key.id} '{key.name}' for source '{source}'; shown once:")
    print(key.secret)  # noqa: T201


@keys_app.command("list")
@handles_errors
def list_keys() -> None:
    with unit_of_work(readonly=True) as session:
        keys = service.list_api_keys(session)
    for k in keys:
        state = "revoked" if k.revoked_at else "active"
        console.print(f"#{k.id}\t{k.kind}\t{k.role or '-'}\t{k.name}\t{k.prefix}\t{state}")


@keys_app.command("revoke")
@handles_errors
def revoke_key(key_id: int = typer.Argument(...)) -> None:
    with unit_of_work() as session:
        key = service.revoke_api_key(session, key_id=key_id)
    console.print(f"revoked key #{key.id} '{key.name}'")


@users_app.command("create")
@handles_errors
def create_user(
    email: str = typer.Option(..., "--email"),
    role: str = typer.Option("owner", "--role"),
    password: str = typer.Option("", "--password", help="generated and printed when empty"),
    name: str = typer.Option("", "--name"),
) -> None:
    generated = not password
    password = password or secrets.token_urlsafe(12)
    if len(password) < 10:
        raise fail("must be at least 10 characters", field="--password")
    with unit_of_work() as session:
        user = service.create_user(
            session, data=UserCreate(email=email, password=password, role=_role(role), name=name)
        )
    console.print(f"user #{user.id} {user.email} ({user.role})")
    if generated:
        print(password)  # noqa: T201
