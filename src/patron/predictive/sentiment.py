"""Sentiment of free text (tickets, reviews, survey comments) in English, Indonesian, Chinese.

Public like a service: `classify(session, texts=...)`, `models(session)`; training lives in
`sentiment_train`. Each language has one model: the store's active trained artifact (kind
``sentiment-<lang>``) if there is one, else the model shipped inside the package
(``predictive/sentiment_weights/sentiment-<lang>.npz``, built by
tools/build_sentiment_models.py; ADR 10).

A model is a linear classifier over hashed n-grams (`sentiment_model`); the English one is
stacked with the VADER lexicon (vaderSentiment, from PyPI), which carries it to phrasing its
training sentences never had. The score is P(positive) - P(negative) in [-1, 1]. Emoji and
emoticons move the score in every language; a text with no known word gets its emoji's
polarity or 0 (neutral). Batches are scored per language in one vectorised pass.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from patron.artifacts import service as artifacts_service
from patron.core.errors import ValidationError
from patron.predictive.sentiment_lang import LANGUAGES, UNDETERMINED, detect, emoji_polarity
from patron.predictive.sentiment_model import LinearModel, softmax
from patron.predictive.sentiment_schemas import (
    MAX_CHARS,
    Sentiment,
    SentimentLabel,
    SentimentModelInfo,
)
from patron.predictive.sentiment_text import Batch, FeatureSpec, hash_batch

Floats = npt.NDArray[np.float64]
FORMAT = "npz-sentiment-1"
NEUTRAL_BAND = 0.3  # |score| below this is neutral for models trained on two classes


def artifact_kind(language: str) -> str:
    return f"sentiment-{language}"


@lru_cache(maxsize=1)
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def vader_features(texts: list[str]) -> Floats:
    """VADER's compound, positive and negative shares per text (n x 3)."""
    analyzer = _vader()
    out = np.zeros((len(texts), 3))
    for i, text in enumerate(texts):
        s = analyzer.polarity_scores(text)
        out[i] = (s["compound"], s["pos"], s["neg"])
    return out


@dataclass
class LanguageModel:
    """Everything needed to score one language; serialises to one ``.npz``."""

    language: str
    text: LinearModel
    spec: FeatureSpec
    # Stacking over [text margin, VADER compound, pos, neg] (English): weights (4 x k), bias.
    blend_weights: list[list[float]] | None = None
    blend_bias: list[float] | None = None
    neutral_band: float = NEUTRAL_BAND
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        return self.text.classes

    def probabilities(self, texts: list[str], batch: Batch | None = None) -> Floats:
        batch = batch or hash_batch(texts, self.language, self.spec)
        z = self.text.logits(batch)
        if self.blend_weights is not None and self.blend_bias is not None:
            pos, neg = self.classes.index("positive"), self.classes.index("negative")
            margin = (z[:, pos] - z[:, neg])[:, None]
            dense = np.hstack([margin, vader_features(texts)])
            z = dense @ np.asarray(self.blend_weights) + np.asarray(self.blend_bias)
        return softmax(z)

    def score(self, texts: list[str]) -> tuple[Floats, list[str], Floats]:
        """Per text: score, label (from the text alone, no emoji rule) and the share of its
        features the model knows."""
        batch = hash_batch(texts, self.language, self.spec)
        p = self.probabilities(texts, batch)
        classes = self.classes
        scores = p[:, classes.index("positive")] - p[:, classes.index("negative")]
        if "neutral" in classes:
            labels = [classes[i] for i in p.argmax(axis=1)]
        else:
            labels = [label_of(s, self.neutral_band) for s in scores]
        return scores, labels, self.text.known_share(batch)

    def to_bytes(self) -> bytes:
        meta = {
            "format": FORMAT,
            "language": self.language,
            "spec": self.spec.to_dict(),
            "blend_weights": self.blend_weights,
            "blend_bias": self.blend_bias,
            "neutral_band": self.neutral_band,
            "card": self.card,
        }
        return self.text.to_bytes(meta)

    @classmethod
    def from_bytes(cls, payload: bytes) -> LanguageModel:
        text, meta = LinearModel.from_bytes(payload)
        if meta.get("format") != FORMAT:
            raise ValueError(f"not a sentiment model ({meta.get('format')!r})")
        return cls(
            language=str(meta["language"]),
            text=text,
            spec=FeatureSpec(**meta["spec"]),
            blend_weights=meta.get("blend_weights"),
            blend_bias=meta.get("blend_bias"),
            neutral_band=float(meta.get("neutral_band", NEUTRAL_BAND)),
            card=dict(meta.get("card") or {}),
        )


def label_of(score: float, band: float = NEUTRAL_BAND) -> str:
    if score >= band:
        return SentimentLabel.POSITIVE.value
    if score <= -band:
        return SentimentLabel.NEGATIVE.value
    return SentimentLabel.NEUTRAL.value


@lru_cache(maxsize=len(LANGUAGES))
def shipped_model(language: str) -> LanguageModel:
    """The model that ships inside the package for `language`."""
    path = resources.files("patron.predictive") / "sentiment_weights" / f"sentiment-{language}.npz"
    return LanguageModel.from_bytes(path.read_bytes())


_cache_lock = threading.Lock()
_artifact_cache: dict[str, tuple[str, LanguageModel]] = {}


def _active_artifacts(session: Session | None) -> dict[str, tuple[str, dict[str, Any]]]:
    """{language: (artifact key, card)} of the active trained models; {} without a database.

    The key is the row id with its creation time, so a cached model is never mistaken for
    a later artifact that reuses an id (SQLite reuses the ids of rolled-back rows)."""
    if session is None:
        return {}
    try:
        infos = artifacts_service.list_versions(session)
    except (OperationalError, ProgrammingError):  # a database not initialised yet
        session.rollback()
        return {}
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for info in infos:
        if info.active and info.kind.startswith("sentiment-"):
            key = f"{info.id}@{info.created_at.isoformat()}"
            out[info.kind.removeprefix("sentiment-")] = (key, info.card)
    return out


def resolve_models(session: Session | None) -> dict[str, LanguageModel]:
    """The model of each language: the active artifact if any, else the shipped one."""
    active = _active_artifacts(session)
    out: dict[str, LanguageModel] = {}
    for language in LANGUAGES:
        if language in active and session is not None:
            key = active[language][0]
            with _cache_lock:
                cached = _artifact_cache.get(language)
            if cached is None or cached[0] != key:
                artifact = artifacts_service.load_active(session, kind=artifact_kind(language))
                if artifact is None:  # deactivated in between
                    out[language] = shipped_model(language)
                    continue
                key = f"{artifact.id}@{artifact.created_at.isoformat()}"
                cached = (key, LanguageModel.from_bytes(artifact.payload))
                with _cache_lock:
                    _artifact_cache[language] = cached
            out[language] = cached[1]
        else:
            out[language] = shipped_model(language)
    return out


def classify_with(
    models: dict[str, LanguageModel],
    texts: list[str],
    *,
    language: str | None = None,
    default_language: str = "en",
) -> list[Sentiment]:
    """Score `texts` (in order) with `models`; detection unless `language` is given."""
    if language is not None and language not in models:
        raise ValidationError(
            f"must be one of {', '.join(sorted(models))}, not {language!r}", field="language"
        )
    for i, text in enumerate(texts):
        if len(text) > MAX_CHARS:
            raise ValidationError(f"longer than {MAX_CHARS} characters", field=f"texts.{i}")
    languages = [language or detect(t, default=default_language) for t in texts]
    scores = np.zeros(len(texts))
    labels = [SentimentLabel.NEUTRAL.value] * len(texts)
    known = np.zeros(len(texts))
    for lang in set(languages) - {UNDETERMINED}:
        rows = [i for i, x in enumerate(languages) if x == lang]
        group = [texts[i] for i in rows]
        model = models[lang]
        s, lab, share = model.score(group)
        scores[rows] = s
        known[rows] = share
        for i, label in zip(rows, lab, strict=True):
            labels[i] = label
    out: list[Sentiment] = []
    for i, text in enumerate(texts):
        emoji, count = emoji_polarity(text)
        score, label = float(scores[i]), labels[i]
        if known[i] == 0:  # nothing the model knows: emoji decide, or neutral
            score = emoji if count else 0.0
            label = label_of(score)
        elif count:
            score = (score + emoji) / 2
            label = label_of(score)
        score = round(min(1.0, max(-1.0, score)), 4)
        out.append(Sentiment(language=languages[i], label=SentimentLabel(label), score=score))
    return out


def classify(
    session: Session | None,
    *,
    texts: list[str],
    language: str | None = None,
    default_language: str = "en",
) -> list[Sentiment]:
    """Sentiment of every text, in order. `session` finds the store's trained models (None:
    the shipped ones). An empty text is neutral with score 0 and language ``und``."""
    return classify_with(
        resolve_models(session), texts, language=language, default_language=default_language
    )


def models(session: Session | None) -> list[SentimentModelInfo]:
    """Which model scores each language, with its card (metrics, data, when)."""
    active = _active_artifacts(session)
    out: list[SentimentModelInfo] = []
    for language in LANGUAGES:
        if language in active and session is not None:
            artifact = artifacts_service.load_active(session, kind=artifact_kind(language))
            if artifact is not None:
                out.append(
                    SentimentModelInfo(
                        language=language,
                        source="artifact",
                        version=artifact.version,
                        card=artifact.card,
                    )
                )
                continue
        out.append(
            SentimentModelInfo(
                language=language, source="shipped", card=shipped_model(language).card
            )
        )
    return out
