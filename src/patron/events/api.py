"""The Segment-compatible tracking API (/v1/*)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["tracking"])
