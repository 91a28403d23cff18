"""Public shapes of text sentiment."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class SentimentLabel(StrEnum):
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


class SentimentLanguage(StrEnum):
    EN = "en"
    ID = "id"
    ZH = "zh"


class Sentiment(BaseModel):
    """One text's sentiment: `score` in [-1, 1] (negative to positive) and its label.

    `language` is the one detected (or given); ``und`` for a text without letters."""

    language: str
    label: SentimentLabel
    score: float = Field(ge=-1.0, le=1.0)


MAX_TEXTS = 1000
# The sentence encoder costs milliseconds a text (ADR 27): a request that uses it takes at
# most this many; more go with fast=true, or through `patron sentiment classify`.
MAX_ENCODED_TEXTS = 100
MAX_CHARS = 20_000


class SentimentRequest(BaseModel):
    texts: list[str] = Field(
        min_length=1,
        max_length=MAX_TEXTS,
        description=f"at most {MAX_ENCODED_TEXTS} unless fast, {MAX_TEXTS} with fast",
    )
    language: SentimentLanguage | None = Field(
        default=None, description="skip detection: every text is in this language"
    )
    fast: bool = Field(
        default=False,
        description="n-gram models only, without the sentence encoder: about 100x cheaper, "
        "a few points less accurate",
    )


class SentimentResponse(BaseModel):
    results: list[Sentiment]


class SentimentModelInfo(BaseModel):
    """Which model scores a language: the one shipped with Patron or a trained artifact."""

    language: str
    source: str  # "shipped" or "artifact"
    version: int | None = None
    card: dict[str, Any] = Field(default_factory=dict)
