"""Tracking events: ingestion, dedupe by messageId, identity, projection."""

from __future__ import annotations

from patron.customers.service import MergeHook

# Merge hook for events (customers.identity.MergeHook), wired in patron.wiring.
MERGE_HOOKS: list[MergeHook] = []
