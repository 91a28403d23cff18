"""What the web app says, and which of it each locale's catalogs translate (for the i18n
check in tests and `tools/i18n-missing`)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from patron.web.i18n import LOCALE_DIR

WEB_DIR = Path(__file__).parent
METHODS = [("templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true",
                                 "lstrip_blocks": "true"}}  # fmt: skip
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def extracted() -> dict[str, str]:
    """msgid -> first place it is used (file:line), for every message of the web app."""
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(WEB_DIR), METHODS, keywords=KEYWORDS, options_map=OPTIONS
    ):
        ids = message if isinstance(message, tuple) else (message,)
        for msgid in ids:
            if msgid:
                found.setdefault(msgid, f"{filename}:{lineno}")
    return found


def translated(locale: str) -> dict[str, str]:
    """msgid -> translation over every catalog file of `locale` (fuzzy and empty left out)."""
    out: dict[str, str] = {}
    for po in sorted((LOCALE_DIR / locale / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as f:
            catalog = read_po(f, locale=locale)
        for message in catalog:
            if not message.id or message.fuzzy:
                continue
            ids = [message.id] if isinstance(message.id, str) else list(message.id)
            raw = message.string
            strings = [raw] if isinstance(raw, str) else list(raw or [])
            if strings and all(strings):
                for msgid in ids:
                    out[str(msgid)] = str(strings[0])
    return out


def missing(locale: str, messages: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(msgid, where) of every message `locale` does not translate yet."""
    have = translated(locale)
    return [(m, where) for m, where in (messages or extracted()).items() if m not in have]
