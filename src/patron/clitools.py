"""Shared pieces for every Typer command: one console, errors as exit code 2, no prompts."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from patron.core.errors import PatronError

console = Console(stderr=False, highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, *, field: str | None = None) -> typer.Exit:
    prefix = f"error: {field}: " if field else "error: "
    err_console.print(prefix + message, markup=False)
    return typer.Exit(code=2)


def handles_errors(fn: F) -> F:
    """Domain errors become a one-line message on stderr and exit code 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PatronError as exc:
            raise fail(exc.message, field=exc.field) from None

    return wrapper  # type: ignore[return-value]


def interactive() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()
