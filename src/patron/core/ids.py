"""Identifier helpers: normalisation of the keys the identity graph matches on."""

from __future__ import annotations

import re
import secrets

_NON_DIGITS = re.compile(r"[^\d+]")


def normalize_email(value: str) -> str:
    return value.strip().lower()


def normalize_phone(value: str) -> str:
    """Keep digits and a leading '+': '+62 812-3456' -> '+628123456'."""
    cleaned = _NON_DIGITS.sub("", value.strip())
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    return cleaned


def new_token(nbytes: int = 24) -> str:
    return secrets.token_urlsafe(nbytes)
