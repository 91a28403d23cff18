"""Orders, lines, refunds, carts and checkouts; customer stats."""

from __future__ import annotations

from patron.customers.service import MergeHook

# Merge hooks for orders and carts (customers.identity.MergeHook), wired in patron.wiring.
MERGE_HOOKS: list[MergeHook] = []
