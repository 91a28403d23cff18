"""Text to hashed features for the sentiment models (no vocabulary to ship, no pickle).

English and Indonesian: word unigrams and bigrams with negation scope (``not good`` gives
``!good``), plus character 3-5-grams inside words (marked too when the word is negated),
which carry over to spellings the training text never had (``baguuus``, ``mantul``).
Chinese: character 1-3-grams of the text with whitespace removed (no word segmenter
needed; ``不好`` is a bigram).
Each feature is hashed with CRC-32 into ``DIM`` buckets; a document is a list of
(bucket, count) pairs, and a batch is flattened into three NumPy arrays so that scoring and
training are vectorised.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

DIM_BITS = 20
DIM = 1 << DIM_BITS
_MASK = DIM - 1

_URL = re.compile(r"https?://\S+|www\.\S+")
_REPEAT = re.compile(r"(.)\1{2,}")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?|[!?]+|[^\w\s]", re.UNICODE)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_SPACE = re.compile(r"\s+")

NEGATIONS = {
    "en": frozenset(
        "not no never nothing nobody none nor neither cannot cant can't dont don't doesnt "
        "doesn't didnt didn't isnt isn't wasnt wasn't arent aren't werent weren't wont won't "
        "wouldnt wouldn't shouldnt shouldn't couldnt couldn't hardly barely without".split()
    ),
    "id": frozenset(
        "tidak tak bukan belum jangan nggak ngga gak ga enggak engga kagak ndak tdk gk g blm "
        "bkn jgn kurang tanpa".split()
    ),
}
_SCOPE_END = frozenset(".,;:!?")
_NEGATION_SCOPE = 3


def normalise(text: str) -> str:
    """NFKC, lower case, URLs folded, letters repeated three or more times cut to two."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _URL.sub(" url ", text)
    return _REPEAT.sub(r"\1\1", text)


def tokens(text: str, language: str) -> list[str]:
    """Word tokens of normalised `text`, negated ones prefixed with ``!``."""
    words = _WORD.findall(text)
    negations = NEGATIONS.get(language, frozenset())
    out: list[str] = []
    scope = 0
    for word in words:
        if word in _SCOPE_END or word[0] in "!?":
            scope = 0
            out.append(word)
        elif word in negations or word.endswith("n't"):
            scope = _NEGATION_SCOPE
            out.append(word)
        elif scope:
            scope -= 1
            out.append("!" + word)
        else:
            out.append(word)
    return out


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """Which n-grams a model uses (stored with the model, so scoring matches training)."""

    word_ngrams: int = 2  # 0 for none, 1 unigrams, 2 and bigrams, ...
    char_min: int = 3  # character n-grams inside words (en, id) or of the text (zh)
    char_max: int = 5  # 0 for none

    def to_dict(self) -> dict[str, int]:
        return {"word_ngrams": self.word_ngrams, "char_min": self.char_min,
                "char_max": self.char_max}  # fmt: skip


DEFAULT_SPECS = {
    "en": FeatureSpec(word_ngrams=2, char_min=3, char_max=5),
    "id": FeatureSpec(word_ngrams=2, char_min=3, char_max=5),
    "zh": FeatureSpec(word_ngrams=0, char_min=1, char_max=3),
}


def feature_strings(text: str, language: str, spec: FeatureSpec | None = None) -> list[str]:
    """The features of one text, before hashing (for tests and for explaining a score)."""
    spec = spec or DEFAULT_SPECS.get(language, DEFAULT_SPECS["en"])
    text = normalise(text)
    feats: list[str] = []
    if language == "zh":
        compact = _SPACE.sub("", text)
        for n in range(spec.char_min, spec.char_max + 1):
            feats += [compact[i : i + n] for i in range(len(compact) - n + 1)]
        return feats
    words = tokens(text, language)
    for n in range(1, spec.word_ngrams + 1):
        feats += ["w" + " ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
    if spec.char_max:
        for w in words:
            if len(w) < 3 or not w[-1].isalnum():
                continue
            # A negated word's pieces are features of their own: "not bad" must not carry
            # the polarity of "bad".
            prefix = "!c" if w[0] == "!" else "c"
            padded = f"<{w.lstrip('!')}>"
            for n in range(spec.char_min, spec.char_max + 1):
                feats += [prefix + padded[i : i + n] for i in range(len(padded) - n + 1)]
    return feats


def bucket(feature: str) -> int:
    return zlib.crc32(feature.encode()) & _MASK


@dataclass(frozen=True, slots=True)
class Batch:
    """Hashed features of many texts: document i owns entries offsets[i]:offsets[i+1]."""

    indices: npt.NDArray[np.int64]
    counts: npt.NDArray[np.float64]
    offsets: npt.NDArray[np.int64]

    @property
    def size(self) -> int:
        return len(self.offsets) - 1

    def rows(self) -> npt.NDArray[np.int64]:
        """The document number of every entry."""
        return np.repeat(np.arange(self.size, dtype=np.int64), np.diff(self.offsets))


def hash_batch(texts: Sequence[str], language: str, spec: FeatureSpec | None = None) -> Batch:
    indices: list[int] = []
    counts: list[int] = []
    offsets = [0]
    crc = zlib.crc32
    for text in texts:
        counter = Counter(crc(f.encode()) & _MASK for f in feature_strings(text, language, spec))
        indices.extend(counter.keys())
        counts.extend(counter.values())
        offsets.append(len(indices))
    return Batch(
        indices=np.asarray(indices, dtype=np.int64),
        counts=np.asarray(counts, dtype=np.float64),
        offsets=np.asarray(offsets, dtype=np.int64),
    )


def cjk_share(text: str) -> float:
    """The share of CJK ideographs among the non-space characters of `text`."""
    letters = [c for c in text if not c.isspace() and (c.isalpha() or _CJK.match(c))]
    if not letters:
        return 0.0
    return sum(1 for c in letters if _CJK.match(c)) / len(letters)
