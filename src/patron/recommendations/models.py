"""Store-configured recommendation rules. Internal to the domain: use the service."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from patron.db import Base, UTCDateTime


class CategoryRule(Base):
    """Repeat policy of one category path (and its sub-categories, unless they have their own).

    Without a rule, the trained model decides from how often the category is bought again.
    """

    __tablename__ = "recommendation_category_rules"

    category_path: Mapped[str] = mapped_column(String(500), primary_key=True)
    policy: Mapped[str] = mapped_column(String(16))  # durable, consumable
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
