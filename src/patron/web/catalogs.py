"""What the web app says, and which of it each locale's catalogs translate (for the i18n
check in tests and `tools/i18n-missing`).

Besides src/patron/web, the web app shows messages that domain modules compose (the
segment language's errors, the segments service's): those modules mark their templates
with a no-op `N_` of their own (they never import the web layer), and DOMAIN_MESSAGES
names them with the area catalog that translates them."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.pofile import read_po

from patron.web.i18n import LOCALE_DIR

WEB_DIR = Path(__file__).parent
METHODS = [("templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true",
                                 "lstrip_blocks": "true"}}  # fmt: skip
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
# Area catalog -> domain modules (under src/patron) whose `N_("...")` messages it translates.
DOMAIN_MESSAGES: dict[str, tuple[str, ...]] = {
    "segments": (
        "segments/language.py",
        "segments/conditions.py",
        "segments/calls.py",
        "segments/compiler.py",
        "segments/service.py",
    ),
}
DOMAIN_KEYWORDS = {"N_": None}


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
    for messages in domain_messages().values():
        for msgid, where in messages.items():
            found.setdefault(msgid, where)
    return found


def domain_messages() -> dict[str, dict[str, str]]:
    """Area -> msgid -> first place it is marked, for the domain modules the web app shows
    messages of (DOMAIN_MESSAGES); places are relative to src/patron/web like the others."""
    out: dict[str, dict[str, str]] = {}
    for area, modules in DOMAIN_MESSAGES.items():
        found = out.setdefault(area, {})
        for module in modules:
            path = WEB_DIR.parent / module
            for lineno, message, _comments, _context in extract_from_file(
                "python", str(path), keywords=DOMAIN_KEYWORDS
            ):
                ids = message if isinstance(message, tuple) else (message,)
                for msgid in ids:
                    if msgid:
                        found.setdefault(msgid, f"../{module}:{lineno}")
    return out


def translated(locale: str, area: str | None = None) -> dict[str, str]:
    """msgid -> translation over every catalog file of `locale` (or only `area`'s), fuzzy
    and empty left out."""
    out: dict[str, str] = {}
    for po in sorted((LOCALE_DIR / locale / "LC_MESSAGES").glob(f"{area or '*'}.po")):
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
