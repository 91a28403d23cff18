"""One row per trained artifact version. Internal to the domain: use the service."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from patron.db import Base, BigId, Json, UTCDateTime


class Artifact(Base):
    """A trained model (or any learned state) of one `kind`, numbered per kind.

    `payload` holds the serialised model (NumPy arrays via np.savez, JSON, ...: never pickle,
    so loading an artifact cannot run code). `card` is the model card: data size, period,
    metrics, the chosen method and why. At most one version per kind is active.
    """

    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("kind", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(32))  # npz, json, ...
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    card: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
