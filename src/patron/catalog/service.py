"""Products and variants."""

from __future__ import annotations
