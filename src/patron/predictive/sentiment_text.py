"""Text to hashed features for the sentiment models (no vocabulary to ship, no pickle).

English and Indonesian: word unigrams and bigrams with negation scope (``not good`` gives
``!good``), plus character 3-5-grams inside words (marked too when the word is negated),
which carry over to spellings the training text never had (``baguuus``); informal
Indonesian spellings are mapped to the standard ones first (``gak`` -> ``tidak``, ``bgt`` ->
``banget``: `SPELLINGS`).
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
from functools import lru_cache

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

# Informal Indonesian spellings (chat, marketplace reviews) to the standard forms of the
# training text (SmSA is written out in full: "tidak", "yang", "banget"), so that a model
# trained on it reads "gak bagus bgt" as "tidak bagus banget".
SPELLINGS = {
    "id": {
        **dict.fromkeys("gak ga nggak ngga enggak engga kagak ndak tdk gk".split(), "tidak"),
        **dict.fromkeys("sdh udh udah sudh".split(), "sudah"),
        **dict.fromkeys("krn karna krna".split(), "karena"),
        **dict.fromkeys("klo kalo kl".split(), "kalau"),
        **dict.fromkeys("bgt bngt bangett".split(), "banget"),
        **dict.fromkeys("emg emang".split(), "memang"),
        **dict.fromkeys("byk bnyk".split(), "banyak"),
        **dict.fromkeys("gmn gimana".split(), "bagaimana"),
        **dict.fromkeys("bgs bgus".split(), "bagus"),
        "yg": "yang", "dgn": "dengan", "utk": "untuk", "blm": "belum", "blom": "belum",
        "jg": "juga", "aja": "saja", "bener": "benar", "bs": "bisa", "tp": "tapi",
        "tpi": "tapi", "sy": "saya", "org": "orang", "dr": "dari", "sm": "sama", "lg": "lagi",
        "bkn": "bukan", "jgn": "jangan", "trs": "terus", "skrg": "sekarang", "dpt": "dapat",
        "sampe": "sampai", "brg": "barang", "hrg": "harga", "cpt": "cepat", "jlk": "jelek",
        "mantul": "mantap", "lmyn": "lumayan",
    },
}  # fmt: skip


def normalise(text: str) -> str:
    """NFKC, lower case, URLs folded, letters repeated three or more times cut to two."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _URL.sub(" url ", text)
    return _REPEAT.sub(r"\1\1", text)


def tokens(text: str, language: str) -> list[str]:
    """Word tokens of normalised `text`, negated ones prefixed with ``!``."""
    spellings = SPELLINGS.get(language)
    words = _WORD.findall(text)
    if spellings:
        words = [spellings.get(w, w) for w in words]
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


def _char_grams(word: str, spec: FeatureSpec) -> list[str]:
    """Character n-grams inside one token (none for short or punctuation tokens). A negated
    word's pieces are features of their own: "not bad" must not carry the polarity of "bad"."""
    if len(word) < 3 or not word[-1].isalnum():
        return []
    prefix = "!c" if word[0] == "!" else "c"
    padded = f"<{word.lstrip('!')}>"
    out: list[str] = []
    for n in range(spec.char_min, spec.char_max + 1):
        out += [prefix + padded[i : i + n] for i in range(len(padded) - n + 1)]
    return out


def _word_features(words: list[str], spec: FeatureSpec) -> list[str]:
    feats: list[str] = []
    for n in range(1, spec.word_ngrams + 1):
        feats += ["w" + " ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
    return feats


def _chinese_features(text: str, spec: FeatureSpec) -> list[str]:
    compact = _SPACE.sub("", text)
    feats: list[str] = []
    for n in range(spec.char_min, spec.char_max + 1):
        feats += [compact[i : i + n] for i in range(len(compact) - n + 1)]
    return feats


def feature_strings(text: str, language: str, spec: FeatureSpec | None = None) -> list[str]:
    """The features of one text, before hashing (for tests and for explaining a score)."""
    spec = spec or DEFAULT_SPECS.get(language, DEFAULT_SPECS["en"])
    text = normalise(text)
    if language == "zh":
        return _chinese_features(text, spec)
    words = tokens(text, language)
    feats = _word_features(words, spec)
    if spec.char_max:
        for w in words:
            feats += _char_grams(w, spec)
    return feats


@lru_cache(maxsize=1 << 18)
def _char_buckets(word: str, spec: FeatureSpec) -> tuple[int, ...]:
    """The buckets of a token's character n-grams, cached: tokens repeat across texts, and
    these n-grams are most of an English or Indonesian text's features."""
    return tuple(zlib.crc32(f.encode()) & _MASK for f in _char_grams(word, spec))


def _buckets(text: str, language: str, spec: FeatureSpec) -> list[int]:
    """`bucket` of every feature of `feature_strings` (the same list, computed faster)."""
    crc = zlib.crc32
    text = normalise(text)
    if language == "zh":
        return [crc(f.encode()) & _MASK for f in _chinese_features(text, spec)]
    words = tokens(text, language)
    out = [crc(f.encode()) & _MASK for f in _word_features(words, spec)]
    if spec.char_max:
        for w in words:
            out += _char_buckets(w, spec)
    return out


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
    spec = spec or DEFAULT_SPECS.get(language, DEFAULT_SPECS["en"])
    indices: list[int] = []
    counts: list[int] = []
    offsets = [0]
    for text in texts:
        counter = Counter(_buckets(text, language, spec))
        indices.extend(counter.keys())
        counts.extend(counter.values())
        offsets.append(len(indices))
    return Batch(
        indices=np.asarray(indices, dtype=np.int64),
        counts=np.asarray(counts, dtype=np.float64),
        offsets=np.asarray(offsets, dtype=np.int64),
    )


def cjk_share(text: str) -> float:
    """The share of CJK ideographs among the letters of `text` (ideographs are letters)."""
    cjk = len(_CJK.findall(text))
    if cjk == 0:
        return 0.0
    return cjk / sum(1 for c in text if c.isalpha())
