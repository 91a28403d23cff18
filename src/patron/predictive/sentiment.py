"""Sentiment of free text (tickets, reviews, survey comments) in English, Indonesian, Chinese.

Public like a service: `classify(session, texts=...)`, `models(session)`; training lives in
`sentiment_train`. Each language has one model: the store's active trained artifact (kind
``sentiment-<lang>``) if there is one, else the model shipped inside the package
(``predictive/sentiment_weights/sentiment-<lang>.npz``, built by
tools/build_sentiment_models.py; ADR 10).

A model is a linear classifier over hashed n-grams (`sentiment_model`); the English one is
stacked with the VADER lexicon (vaderSentiment, from PyPI), which carries it to phrasing its
training sentences never had. Where the multilingual sentence encoder is installed and on
(`sentiment_encoder`, ADR 27), a logistic-regression head over its embedding is blended in:
it knows phrasing no shop's training text had, in every language. ``fast=True`` skips it
(microseconds a text instead of milliseconds). The score is P(positive) - P(negative) in
[-1, 1]. Emoji and emoticons move the score in every language; a text the n-gram model knows
nothing of (and the encoder did not read) gets its emoji's polarity or 0 (neutral). Batches
are scored per language in one vectorised pass.
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
from patron.predictive import sentiment_encoder
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


def view(z: Floats) -> Floats:
    """What a blender reads of a model's logits (n x k): the positive-minus-negative margin
    of a two-class model (classes sorted: negative, positive), else the log-probabilities."""
    if z.shape[1] == 2:
        return (z[:, 1] - z[:, 0])[:, None]
    shifted = z - z.max(axis=1, keepdims=True)
    out: Floats = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return out


@dataclass
class EncoderHead:
    """A logistic regression over the sentence embedding and the blend that uses it:
    blend input is [n-gram view, VADER (English), corpus n-gram view (where trained with a
    corpus), head view] (`view`)."""

    encoder: str  # `sentiment_encoder.name()` it was trained on; used with no other
    weights: Floats  # (384, k)
    bias: Floats  # (k,)
    blend_weights: Floats  # (d, k)
    blend_bias: Floats  # (k,)
    l2: float = 0.0

    def logits(self, embedded: Floats) -> Floats:
        out: Floats = embedded @ self.weights + self.bias
        return out


@dataclass
class LanguageModel:
    """Everything needed to score one language; serialises to one ``.npz``."""

    language: str
    text: LinearModel
    spec: FeatureSpec
    # The blend without the encoder, over [text view, VADER compound, pos, neg (English),
    # corpus view (`corpus_text`)]: weights (d x k), bias; None when the text model is alone.
    blend_weights: list[list[float]] | None = None
    blend_bias: list[float] | None = None
    neutral_band: float = NEUTRAL_BAND
    card: dict[str, Any] = field(default_factory=dict)
    head: EncoderHead | None = None
    lexicon: bool = False  # VADER's three numbers are blend inputs (English)
    # The same n-gram recipe trained on the store's texts and the language's public corpus
    # (`sentiment_data.corpus`, ADR 28): what the store's texts alone never said.
    corpus_text: LinearModel | None = None

    @property
    def classes(self) -> list[str]:
        return self.text.classes

    def uses_encoder(self, *, fast: bool = False) -> bool:
        """Whether `score` reads the encoder: a head, trained on the encoder installed."""
        return not fast and self.head is not None and self.head.encoder == sentiment_encoder.name()

    def probabilities(
        self,
        texts: list[str],
        batch: Batch | None = None,
        *,
        fast: bool = False,
        embedded: Floats | None = None,
    ) -> Floats:
        """Class probabilities (n x k). `embedded`: the texts' embeddings, if the caller
        has them already (a benchmark scoring the same texts many times)."""
        batch = batch or hash_batch(texts, self.language, self.spec)
        z = self.text.logits(batch)
        views = [view(z)]
        if self.lexicon:
            views.append(vader_features(texts))
        if self.corpus_text is not None:
            views.append(view(self.corpus_text.logits(batch)))
        if self.head is not None and self.uses_encoder(fast=fast):
            if embedded is None:
                embedded = sentiment_encoder.embed(texts)
            dense = np.hstack([*views, view(self.head.logits(embedded))])
            z = dense @ self.head.blend_weights + self.head.blend_bias
        elif self.blend_weights is not None and self.blend_bias is not None:
            dense = np.hstack(views)
            z = dense @ np.asarray(self.blend_weights) + np.asarray(self.blend_bias)
        return softmax(z)

    def score(
        self, texts: list[str], *, fast: bool = False, embedded: Floats | None = None
    ) -> tuple[Floats, list[str], Floats]:
        """Per text: score, label (from the text alone, no emoji rule) and the share of its
        features the model knows (1 where the encoder read the text)."""
        batch = hash_batch(texts, self.language, self.spec)
        p = self.probabilities(texts, batch, fast=fast, embedded=embedded)
        classes = self.classes
        scores = p[:, classes.index("positive")] - p[:, classes.index("negative")]
        if "neutral" in classes:
            labels = [classes[i] for i in p.argmax(axis=1)]
        else:
            labels = [label_of(s, self.neutral_band) for s in scores]
        if self.uses_encoder(fast=fast):
            known = np.ones(len(texts))
        else:  # the corpus model knows every bucket the text model knows, and more
            known = (self.corpus_text or self.text).known_share(batch)
        return scores, labels, known

    def to_bytes(self) -> bytes:
        meta: dict[str, Any] = {
            "format": FORMAT,
            "language": self.language,
            "spec": self.spec.to_dict(),
            "blend_weights": self.blend_weights,
            "blend_bias": self.blend_bias,
            "lexicon": self.lexicon,
            "neutral_band": self.neutral_band,
            "card": self.card,
        }
        arrays: dict[str, Floats] = {}
        if self.head is not None:
            meta["encoder"] = self.head.encoder
            meta["encoder_l2"] = self.head.l2
            arrays = {
                "head_weights": self.head.weights,
                "head_bias": self.head.bias,
                "head_blend_weights": self.head.blend_weights,
                "head_blend_bias": self.head.blend_bias,
            }
        if self.corpus_text is not None:
            arrays.update(self.corpus_text.arrays("corpus_"))
        return self.text.to_bytes(meta, arrays)

    @classmethod
    def from_bytes(cls, payload: bytes) -> LanguageModel:
        text, meta, arrays = LinearModel.from_bytes(payload)
        if meta.get("format") != FORMAT:
            raise ValueError(f"not a sentiment model ({meta.get('format')!r})")
        head = None
        if meta.get("encoder"):
            head = EncoderHead(
                encoder=str(meta["encoder"]),
                weights=arrays["head_weights"],
                bias=arrays["head_bias"],
                blend_weights=arrays["head_blend_weights"],
                blend_bias=arrays["head_blend_bias"],
                l2=float(meta.get("encoder_l2", 0.0)),
            )
        corpus_text = None
        if "corpus_used" in arrays:
            corpus_text = LinearModel.from_arrays(text.classes, arrays, "corpus_")
        return cls(
            language=str(meta["language"]),
            text=text,
            spec=FeatureSpec(**meta["spec"]),
            blend_weights=meta.get("blend_weights"),
            blend_bias=meta.get("blend_bias"),
            neutral_band=float(meta.get("neutral_band", NEUTRAL_BAND)),
            card=dict(meta.get("card") or {}),
            head=head,
            # models written before corpora had a blend only where VADER was stacked
            lexicon=bool(meta.get("lexicon", meta.get("blend_weights") is not None)),
            corpus_text=corpus_text,
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
    fast: bool = False,
) -> list[Sentiment]:
    """Score `texts` (in order) with `models`; detection unless `language` is given;
    ``fast`` leaves the sentence encoder out."""
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
        s, lab, share = model.score(group, fast=fast)
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
    fast: bool = False,
) -> list[Sentiment]:
    """Sentiment of every text, in order. `session` finds the store's trained models (None:
    the shipped ones). An empty text is neutral with score 0 and language ``und``.
    ``fast`` scores with the n-gram models alone (no sentence encoder)."""
    return classify_with(
        resolve_models(session),
        texts,
        language=language,
        default_language=default_language,
        fast=fast,
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
