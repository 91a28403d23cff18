"""The durable job queue (outbox)."""

from __future__ import annotations
