"""Reading import files: plain or gzip, UTF-8 (BOM tolerated), delimiter sniffed.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first data row is
row 2. Every reader streams; nothing holds the whole file in memory.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from patron.core.errors import ValidationError

FILE_FIELD = "FILE"


def open_text(path: Path) -> TextIO:
    """Open `path` as text; `.gz` files are decompressed on the fly."""
    if not path.is_file():
        raise ValidationError(f"no such file: {path}", field=FILE_FIELD)
    raw = path.open("rb")
    head = raw.read(2)
    raw.seek(0)
    stream = gzip.GzipFile(fileobj=raw) if head == b"\x1f\x8b" else raw
    return io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")


def _dialect(sample: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        return csv.excel


def read_header(path: Path) -> list[str]:
    """The header row of a CSV file (stripped); ValidationError if the file is empty."""
    for _, row in _raw_rows(path):
        return [c.strip() for c in row]
    raise ValidationError(f"{path} is empty: a header row is required", field=FILE_FIELD)


def _raw_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    with open_text(path) as fh:
        try:
            sample = fh.read(64 * 1024)
        except UnicodeDecodeError:
            raise ValidationError(f"{path} is not UTF-8 text", field=FILE_FIELD) from None
        fh.seek(0)
        reader = csv.reader(fh, _dialect(sample))
        try:
            yield from enumerate(reader, start=1)
        except UnicodeDecodeError:
            raise ValidationError(
                f"{path} is not UTF-8 text (after row {reader.line_num})", field=FILE_FIELD
            ) from None
        except csv.Error as exc:
            raise ValidationError(
                f"{path}: row {reader.line_num}: {exc}", field=FILE_FIELD
            ) from None


def read_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) for every data row after the header; blank rows are skipped."""
    rows = _raw_rows(path)
    next(rows, None)
    for number, row in rows:
        if row and "".join(row).strip():  # some cell is not blank
            yield number, row


def read_whitespace_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(row number, fields) of a whitespace-separated file (CDNOW); a header line is skipped."""
    with open_text(path) as fh:
        try:
            for number, line in enumerate(fh, start=1):
                fields = line.split()
                if not fields or (number == 1 and not fields[0][:1].isdigit()):
                    continue
                yield number, fields
        except UnicodeDecodeError:
            raise ValidationError(f"{path} is not UTF-8 text", field=FILE_FIELD) from None
