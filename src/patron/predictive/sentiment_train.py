"""Train sentiment models from labelled text and store them as versioned artifacts.

`fit_language` is the one recipe used for the shipped models, for a store's own
`patron sentiment train --data DIR`, and by bench/sentiment_eval.py. English stacks the
n-gram model with VADER; where the sentence encoder is installed (ADR 27) every language
also gets a logistic-regression head over its embedding, blended with the n-gram model
(and VADER). What a blender reads of each model is taken out of fold (5 folds), so it
learns how far to trust each on text that model has not seen. Without the encoder the
model is the n-gram one (with VADER for English), and so is the fallback of every model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from patron.artifacts import service as artifacts_service
from patron.core.errors import ValidationError
from patron.core.time import utcnow
from patron.predictive import sentiment_data, sentiment_encoder
from patron.predictive.sentiment import (
    FORMAT,
    EncoderHead,
    Floats,
    LanguageModel,
    artifact_kind,
    vader_features,
    view,
)
from patron.predictive.sentiment_data import Example, macro_f1
from patron.predictive.sentiment_lang import LANGUAGES
from patron.predictive.sentiment_model import LinearModel, fit
from patron.predictive.sentiment_text import DEFAULT_SPECS, Batch, FeatureSpec, hash_batch

# L2 strength per language (mean log-loss + l2/2 |w|^2), chosen by cross-validation on the
# training part only (bench/sentiment_eval.py --tune), never on a test split.
L2 = {"en": 1e-4, "id": 3e-5, "zh": 3e-6}
# L2 of the encoder head, chosen the same way (cross-validation on training parts).
HEAD_L2 = {"en": 3e-5, "id": 1e-5, "zh": 3e-6}
BLEND_L2 = 1e-4
STACK_FOLDS = 5


@dataclass(frozen=True, slots=True)
class TrainReport:
    language: str
    version: int
    train_size: int
    test_size: int
    macro_f1: float
    card: dict[str, Any]


def _classes(examples: list[Example]) -> list[str]:
    present = {ex.label for ex in examples}
    return [label for label in sentiment_data.LABELS if label in present]


def _fit_text(
    language: str,
    examples: list[Example],
    spec: FeatureSpec,
    l2: float,
    classes: list[str] | None = None,
) -> LinearModel:
    batch = hash_batch([ex.text for ex in examples], language, spec)
    return fit(batch, [ex.label for ex in examples], classes=classes or _classes(examples), l2=l2)


def _fit_dense(
    x: Floats, labels: list[str], classes: list[str], l2: float
) -> tuple[Floats, Floats]:
    """A logistic regression over dense features only: (weights (d x k), bias (k))."""
    n = len(labels)
    empty = Batch(
        indices=np.zeros(0, dtype=np.int64),
        counts=np.zeros(0),
        offsets=np.zeros(n + 1, dtype=np.int64),
    )
    model = fit(empty, labels, classes=classes, extra=x, l2=l2)
    return model.extra_weights, model.bias


def fit_language(
    language: str,
    examples: list[Example],
    *,
    spec: FeatureSpec | None = None,
    l2: float | None = None,
    stack_lexicon: bool | None = None,
    encoder: bool | None = None,
    embedded: Floats | None = None,
    corpus: list[Example] | None = None,
) -> LanguageModel:
    """The Patron recipe for one language on `examples` (needs positive and negative).

    `encoder`: None uses the sentence encoder if it is on, True requires it, False leaves it
    out. `embedded` (n x 384) are the examples' embeddings if the caller has them already.
    `corpus`: public labelled text of the language (`sentiment_data.corpus`, ADR 28); a
    second n-gram model learns from the examples and the corpus texts that are not among
    them, and the blends read it beside the first."""
    if language not in LANGUAGES:
        raise ValidationError(f"must be one of {', '.join(LANGUAGES)}", field="language")
    classes = _classes(examples)
    if "positive" not in classes or "negative" not in classes:
        raise ValidationError(
            f"{language}: training needs positive and negative examples", field="data"
        )
    spec = spec or DEFAULT_SPECS[language]
    l2 = L2[language] if l2 is None else l2
    stack = (language == "en") if stack_lexicon is None else stack_lexicon
    encoder_name = None if encoder is False else sentiment_encoder.name()
    if encoder and encoder_name is None:
        raise ValidationError(
            "the sentence encoder is off (PATRON_SENTIMENT_ENCODER) or not installed",
            field="encoder",
        )
    extra = [ex for ex in sentiment_data.unseen(corpus or [], examples) if ex.label in classes]
    text_model = _fit_text(language, examples, spec, l2, classes)
    model = LanguageModel(language=language, text=text_model, spec=spec, lexicon=stack)
    if extra:
        model.corpus_text = _fit_text(language, examples + extra, spec, l2, classes)
    if not stack and not extra and encoder_name is None:
        return model
    texts = [ex.text for ex in examples]
    labels = [ex.label for ex in examples]
    if encoder_name is None:
        embedded = None  # given or not, a model without the encoder has no head
    elif embedded is None:
        embedded = sentiment_encoder.embed(texts)
    head_l2 = HEAD_L2[language]
    # What each blender reads of the n-gram model and of the head, out of fold.
    n = len(examples)
    folds = np.random.default_rng(0).permutation(n) % STACK_FOLDS
    width = 1 if len(classes) == 2 else len(classes)
    text_oof = np.zeros((n, width))
    corpus_oof = np.zeros((n, width if extra else 0))
    head_oof = np.zeros((n, width))
    for k in range(STACK_FOLDS):
        inside, held = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
        fold_examples = [examples[i] for i in inside]
        fold_model = _fit_text(language, fold_examples, spec, l2, classes)
        batch = hash_batch([texts[i] for i in held], language, spec)
        text_oof[held] = view(fold_model.logits(batch))
        if extra:  # the corpus is in every fold: it is never what a fold is scored on
            fold_corpus = _fit_text(language, fold_examples + extra, spec, l2, classes)
            corpus_oof[held] = view(fold_corpus.logits(batch))
        if embedded is not None:
            w, b = _fit_dense(embedded[inside], [labels[i] for i in inside], classes, head_l2)
            head_oof[held] = view(embedded[held] @ w + b)
    lexicon = vader_features(texts) if stack else np.zeros((n, 0))
    if stack or extra:
        w, b = _fit_dense(np.hstack([text_oof, lexicon, corpus_oof]), labels, classes, BLEND_L2)
        model.blend_weights = w.tolist()
        model.blend_bias = b.tolist()
    if encoder_name is not None and embedded is not None:  # both or neither
        head_w, head_b = _fit_dense(embedded, labels, classes, head_l2)
        blend_w, blend_b = _fit_dense(
            np.hstack([text_oof, lexicon, corpus_oof, head_oof]), labels, classes, BLEND_L2
        )
        model.head = EncoderHead(
            encoder=encoder_name,
            weights=head_w,
            bias=head_b,
            blend_weights=blend_w,
            blend_bias=blend_b,
            l2=head_l2,
        )
    return model


def describe(model: LanguageModel) -> dict[str, Any]:
    """What a model's card says of the model itself (the caller adds data and metrics)."""
    method = "hashed n-gram logistic regression"
    if model.lexicon:
        method += " stacked with VADER"
    if model.corpus_text is not None:
        method += ", with a second one trained on the shipped corpus too"
    if model.head is not None:
        method += f", blended with a head over {model.head.encoder}"
    return {
        "language": model.language,
        "method": method,
        "encoder": model.head.encoder if model.head else None,
        "features": model.spec.to_dict(),
        "l2": L2[model.language],
        "classes": model.classes,
    }


def evaluate(
    model: LanguageModel,
    examples: list[Example],
    *,
    fast: bool = False,
    embedded: Floats | None = None,
) -> dict[str, float]:
    """Macro-F1 on `examples`. On a two-class set the decision is the sign of the score (a
    binary set has no neutral truth); `neutral_share` says how many the product would call
    neutral."""
    texts = [ex.text for ex in examples]
    truth = [ex.label for ex in examples]
    scores, labels, _ = model.score(texts, fast=fast, embedded=embedded)
    if "neutral" in {ex.label for ex in examples} or "neutral" in model.classes:
        predicted = labels
    else:
        predicted = ["positive" if s >= 0 else "negative" for s in scores]
    return {
        "macro_f1": round(macro_f1(truth, predicted), 4),
        "neutral_share": round(sum(1 for x in labels if x == "neutral") / max(len(labels), 1), 4),
        "size": float(len(examples)),
    }


def holdout(language: str, examples: list[Example]) -> tuple[list[Example], list[Example]]:
    """The source's own validation part if it has one (SmSA), else a stratified 20% split."""
    valid = [ex for ex in examples if ex.part == "valid"]
    if valid:
        return [ex for ex in examples if ex.part != "valid"], valid
    return sentiment_data.split(examples, test_share=0.2, seed=0)


def train(
    session: Session,
    *,
    data_dir: Path,
    languages: list[str] | None = None,
    activate: bool = True,
    encoder: bool | None = None,
    corpus: bool = True,
) -> list[TrainReport]:
    """Train each language found under `data_dir` (or only `languages`), measure it on a
    held-out part, and store it as the next version of ``sentiment-<lang>``. `corpus`: learn
    from the language's shipped public corpus too, where one ships (ADR 28)."""
    if not data_dir.is_dir():
        raise ValidationError(f"{data_dir} is not a directory", field="data")
    for language in languages or []:
        if language not in LANGUAGES:
            raise ValidationError(f"must be one of {', '.join(LANGUAGES)}", field="language")
    try:
        found = sentiment_data.load(data_dir)
    except (ValueError, KeyError, UnicodeDecodeError) as exc:
        raise ValidationError(str(exc), field="data") from None
    wanted = [lang for lang in LANGUAGES if lang in found and (not languages or lang in languages)]
    if not wanted:
        raise ValidationError(
            f"no labelled data for {', '.join(languages or LANGUAGES)} under {data_dir} "
            "(expected en/*_labelled.txt, id/*.tsv or zh/*.csv)",
            field="data",
        )
    reports: list[TrainReport] = []
    for language in wanted:
        train_part, test_part = holdout(language, found[language])
        # the held-out part is never learnt from, not even through the corpus
        public = sentiment_data.unseen(sentiment_data.corpus(language), test_part) if corpus else []
        model = fit_language(language, train_part, encoder=encoder, corpus=public)
        metrics = evaluate(model, test_part)
        model.card = {
            **describe(model),
            "data": str(data_dir),
            "corpus_size": len(sentiment_data.unseen(public, train_part)),
            "train_size": len(train_part),
            "test_size": len(test_part),
            "test_macro_f1": metrics["macro_f1"],
            "test_macro_f1_fast": evaluate(model, test_part, fast=True)["macro_f1"],
            "trained_at": utcnow().isoformat(),
        }
        info = artifacts_service.save(
            session,
            kind=artifact_kind(language),
            payload=model.to_bytes(),
            format=FORMAT,
            card=model.card,
            activate=activate,
        )
        reports.append(
            TrainReport(
                language=language,
                version=info.version,
                train_size=len(train_part),
                test_size=len(test_part),
                macro_f1=metrics["macro_f1"],
                card=model.card,
            )
        )
    return reports
