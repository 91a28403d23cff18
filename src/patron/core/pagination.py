"""Opaque keyset cursors: base64url of a small JSON list. Stable under inserts."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from patron.core.errors import ValidationError


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, arity: int, field: str = "cursor") -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValidationError("cursor is not valid", field=field) from None
    if not isinstance(values, list) or len(values) != arity:
        raise ValidationError("cursor is not valid", field=field)
    return values


def clamp_limit(limit: int, *, maximum: int = 200) -> int:
    if limit < 1 or limit > maximum:
        raise ValidationError(f"limit must be between 1 and {maximum}", field="limit")
    return limit
