"""Public shapes of stored artifacts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class ArtifactInfo(BaseModel):
    """An artifact without its payload (for listings and the API)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    version: int
    format: str
    card: dict[str, Any]
    active: bool
    created_at: datetime
    size_bytes: int


class Artifact(ArtifactInfo):
    payload: bytes
