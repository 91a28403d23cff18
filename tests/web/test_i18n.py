"""Every label of the web app is translated, and templates hold no hard-coded text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from patron.web import i18n
from patron.web.catalogs import extracted, missing
from patron.web.templating import ENV

TEMPLATES = Path(i18n.__file__).parent / "templates"
# Text a template may show as it is: the product name and typographic marks.
ALLOWED = re.compile(r"Patron|&[a-z]+;|&#\d+;|[\s·–—|/:()%,.+×#*-]")
TEXT_ATTRS = re.compile(r'\b(placeholder|title|aria-label|alt|value)="([^"{]*[A-Za-z][^"{]*)"')


@pytest.mark.parametrize("locale", ["id", "zh_Hans"])
def test_every_message_is_translated(locale):
    messages = extracted()
    assert len(messages) >= 30
    assert missing(locale, messages) == []


def _bare_text(source: str) -> list[str]:
    """Text a person would read that does not come from a translation call."""
    ENV.parse(source)  # the template must be valid
    static = re.sub(r"{{.*?}}|{%.*?%}|{#.*?#}", "", source, flags=re.S)
    static = re.sub(r"<!--.*?-->|<script[^>]*>.*?</script>", "", static, flags=re.S)
    found = [f'{a}="{v}"' for a, v in TEXT_ATTRS.findall(static) if a != "value"]
    for text in re.sub(r"<[^>]*>", "\n", static).split("\n"):
        if ALLOWED.sub("", text).strip():
            found.append(text.strip())
    return found


@pytest.mark.parametrize(
    "template", sorted(str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*.html"))
)
def test_templates_have_no_untranslated_text(template):
    assert _bare_text((TEMPLATES / template).read_text()) == []


def test_the_checker_finds_bare_text():
    source = (
        '<p title="{{ _("x") }}">Hello {{ _("World") }}</p>'
        '{% if a %}<input placeholder="Search">{% endif %}'
    )
    assert _bare_text(source) == ['placeholder="Search"', "Hello"]


def test_money_numbers_and_dates_follow_the_locale():
    from datetime import UTC, datetime

    when = datetime(2026, 3, 5, 14, 30, tzinfo=UTC)
    cases = {
        # CLDR shows rupiah without decimals; each locale groups digits its own way.
        "en": ("$1,234.50", "IDR1,250,000", "12.5%", "1,234,567", "Mar 5, 2026", "1.2M"),
        "id": ("US$1.234,50", "Rp1.250.000", "12,5%", "1.234.567", "5 Mar 2026", "1,2\xa0jt"),
        "zh_Hans": ("US$1,234.50", "IDR1,250,000", "12.5%", "1,234,567", "2026年3月5日", "123.5万"),
    }
    for locale, expected in cases.items():
        i18n.activate(locale, "Asia/Jakarta")
        got = (
            i18n.money(123450, "USD"),
            i18n.money(125000000, "IDR"),
            i18n.percent(0.125),
            i18n.number(1234567),
            i18n.day(when),
            i18n.compact(1234567),
        )
        assert got == expected, locale
    i18n.activate("en", "Asia/Jakarta")
    assert i18n.moment(when) == "Mar 5, 2026, 9:30:00\u202fPM"  # in the store's zone
    i18n.activate("zh_Hans", "Asia/Shanghai")
    assert i18n.moment(when) == "2026年3月5日 22:30:00"
    assert i18n.money(None, "USD") == "–"


def test_locale_matching():
    assert i18n.supported("zh-CN") == "zh_Hans"
    assert i18n.supported("id-ID") == "id"
    assert i18n.supported("fr") == "en"
    assert i18n.from_accept_language("fr-FR,id;q=0.8,en;q=0.5") == "id"
    assert i18n.from_accept_language("en-GB,zh;q=0.8") == "en"
    assert i18n.from_accept_language("fr-FR,de;q=0.5") is None  # the store's default applies
    assert i18n.from_accept_language(None) is None


def test_the_store_rejects_an_unknown_time_zone_or_locale(session):
    from patron.core.errors import ValidationError
    from patron.store import service as store_service
    from patron.store.schemas import StoreSettings

    for settings, field in [
        (StoreSettings(timezone="Mars/Olympus"), "timezone"),
        (StoreSettings(default_locale="fr"), "default_locale"),
    ]:
        with pytest.raises(ValidationError) as caught:
            store_service.update_settings(session, settings=settings)
        assert caught.value.field == field
    saved = store_service.update_settings(
        session, settings=StoreSettings(timezone="Asia/Jakarta", default_locale="id")
    )
    assert (saved.timezone, saved.default_locale) == ("Asia/Jakarta", "id")
