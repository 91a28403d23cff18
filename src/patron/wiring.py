"""Wires ports to adapters once per process (API, CLI, worker): merge hooks, job handlers."""

from __future__ import annotations

_wired = False


def wire() -> None:
    global _wired
    if _wired:
        return
    _wired = True
