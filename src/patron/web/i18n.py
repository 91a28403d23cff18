"""Translations (gettext catalogs read with Babel) and locale-aware formatting.

Catalogs are `locales/<locale>/LC_MESSAGES/<area>.po`, one file per area of the app so
that pages can be translated independently; every file of a locale is merged. English is
the source language (msgid), so it needs no catalog. The .po files are compiled in memory
the first time a locale is used: there is no build step and nothing to forget to run.
"""

from __future__ import annotations

import gettext as _gettext
from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_compact_decimal, format_currency, format_decimal, format_percent
from babel.support import Translations

from patron.core.money import exponent

LOCALES: dict[str, str] = {"en": "English", "id": "Bahasa Indonesia", "zh_Hans": "简体中文"}
DEFAULT_LOCALE = "en"
LOCALE_DIR = Path(__file__).parent / "locales"
# The <html lang> of each locale (BCP 47).
HTML_LANG = {"en": "en", "id": "id", "zh_Hans": "zh-Hans"}

_locale: ContextVar[str] = ContextVar("patron_web_locale", default=DEFAULT_LOCALE)
_zone: ContextVar[str] = ContextVar("patron_web_zone", default="UTC")


def supported(locale: str | None) -> str:
    """`locale` if Patron speaks it, else the closest supported one (zh, zh_CN -> zh_Hans)."""
    if not locale:
        return DEFAULT_LOCALE
    code = locale.replace("-", "_")
    if code in LOCALES:
        return code
    lang = code.split("_")[0].lower()
    if lang == "zh":
        return "zh_Hans"
    return lang if lang in LOCALES else DEFAULT_LOCALE


def from_accept_language(header: str | None) -> str | None:
    """The best supported locale of an Accept-Language header (first match wins), or None
    when the browser asks for none of them."""
    for part in (header or "").split(","):
        tag = part.split(";")[0].strip()
        if tag.lower().startswith("en"):
            return DEFAULT_LOCALE
        if tag and supported(tag) != DEFAULT_LOCALE:
            return supported(tag)
    return None


@lru_cache(maxsize=8)
def translations(locale: str) -> _gettext.NullTranslations:
    folder = LOCALE_DIR / locale / "LC_MESSAGES"
    if locale == DEFAULT_LOCALE or not folder.is_dir():
        return _gettext.NullTranslations()
    merged = Translations()
    for po in sorted(folder.glob("*.po")):
        with po.open("rb") as f:
            catalog = read_po(f, locale=locale)
        buf = BytesIO()
        write_mo(buf, catalog)  # fuzzy entries are left out
        buf.seek(0)
        merged.merge(Translations(buf))
    return merged


def activate(locale: str, zone: str = "UTC") -> None:
    """Use `locale` and time zone `zone` for the rest of this context (one request)."""
    _locale.set(supported(locale))
    _zone.set(zone)


def current() -> str:
    return _locale.get()


def gettext(message: str) -> str:
    return translations(_locale.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_locale.get()).ngettext(singular, plural, n)


def _babel() -> Locale:
    return Locale.parse(_locale.get())


def number(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=_babel())


def compact(value: float | int | None) -> str:
    """1,234,567 -> 1.2M (or the locale's own short form: 123万)."""
    if value is None:
        return "–"
    return format_compact_decimal(value, format_type="short", fraction_digits=1, locale=_babel())


def percent(ratio: float | None, digits: int = 1) -> str:
    if ratio is None:
        return "–"
    pattern = "#,##0" + ("." + "0" * digits if digits else "") + "%"
    return format_percent(ratio, format=pattern, locale=_babel())


def money(minor: int | None, currency: str) -> str:
    """Integer minor units of `currency` in the locale's form: Rp1.250.000, US$12.50."""
    if minor is None:
        return "–"
    amount = Decimal(minor).scaleb(-exponent(currency))
    return format_currency(amount, currency, locale=_babel())


def day(value: date | datetime | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, datetime):
        value = value.astimezone(ZoneInfo(_zone.get())).date()
    return format_date(value, format="medium", locale=_babel())


def moment(value: datetime | None) -> str:
    """A stored (UTC) time in the store's time zone and the user's locale."""
    if value is None:
        return "–"
    return format_datetime(value, format="medium", tzinfo=ZoneInfo(_zone.get()), locale=_babel())
