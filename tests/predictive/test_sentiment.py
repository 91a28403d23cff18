"""Sentiment with the models shipped in the package: labels of clear sentences per language,
language detection, short/mixed/emoji/empty input, and the model file round trip."""

from __future__ import annotations

from collections import Counter

import pytest

from patron.core.errors import ValidationError
from patron.predictive import sentiment
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
