"""POST /api/sentiment (up to 100 texts, 1,000 with fast); GET /api/sentiment/models."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from patron.auth.guards import Reader, require
from patron.auth.schemas import Permission, Principal
from patron.core.errors import ValidationError
from patron.predictive import sentiment
from patron.predictive.sentiment_schemas import (
    MAX_ENCODED_TEXTS,
    SentimentModelInfo,
    SentimentRequest,
    SentimentResponse,
)

router = APIRouter(prefix="/api", tags=["sentiment"])
# Every staff role reads customers' messages, so every staff role may score them.
CanRead = Annotated[Principal, Depends(require(Permission.CUSTOMERS_READ))]


@router.post("/sentiment", response_model=SentimentResponse)
def classify(body: SentimentRequest, session: Reader, _: CanRead) -> SentimentResponse:
    if not body.fast and len(body.texts) > MAX_ENCODED_TEXTS:
        raise ValidationError(
            f"at most {MAX_ENCODED_TEXTS} texts without fast=true ({len(body.texts)} sent)",
            field="texts",
        )
    results = sentiment.classify(
        session,
        texts=body.texts,
        language=body.language.value if body.language else None,
        fast=body.fast,
    )
    return SentimentResponse(results=results)


@router.get("/sentiment/models", response_model=list[SentimentModelInfo])
def list_models(session: Reader, _: CanRead) -> list[SentimentModelInfo]:
    return sentiment.models(session)
