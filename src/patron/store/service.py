"""Sources and store settings (base currency, timezone, locale, exchange rates)."""

from __future__ import annotations

import time
import weakref
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from patron.core.errors import Conflict, NotFound, ValidationError
from patron.core.money import exponent, normalize_currency
from patron.core.time import utcnow
from patron.db import current_bind, unit_of_work
from patron.store.models import Source, StoreSetting
from patron.store.schemas import Channel, SourceCreate, SourceRead, StoreSettings

_SETTINGS_KEY = "store"


def _insert(session: Session):  # type: ignore[no-untyped-def]
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def ensure_source(
    session: Session, *, key: str, kind: str | None = None, channel: Channel | None = None
) -> SourceRead:
    """Return the source with `key`, creating it if it is new (safe under concurrency)."""
    row = session.scalar(select(Source).where(Source.key == key))
    if row is None:
        data = SourceCreate(key=key, name=key, kind=kind or key, channel=channel or Channel.WEB)
        stmt = (
            _insert(session)(Source)
            .values(
                key=data.key,
                name=data.name,
                kind=data.kind,
                channel=data.channel.value,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["key"])
        )
        session.execute(stmt)
        row = session.scalar(select(Source).where(Source.key == key))
        assert row is not None
    return SourceRead.model_validate(row)


def get_source(session: Session, *, source_id: int) -> SourceRead:
    row = session.get(Source, source_id)
    if row is None:
        raise NotFound(f"source {source_id} not found")
    return SourceRead.model_validate(row)


def list_sources(session: Session) -> list[SourceRead]:
    return [
        SourceRead.model_validate(s) for s in session.scalars(select(Source).order_by(Source.id))
    ]


def get_settings(session: Session) -> StoreSettings:
    row = session.get(StoreSetting, _SETTINGS_KEY)
    return StoreSettings.model_validate(row.value) if row else StoreSettings()


_CACHE_SECONDS = 5.0
_cache: weakref.WeakKeyDictionary[Any, tuple[float, StoreSettings]] = weakref.WeakKeyDictionary()


def cached_settings(session: Session | None = None) -> StoreSettings:
    """Settings for hot reads, at most 5 s old (per database; another process's change shows
    within 5 s, this process's own change at once). Do not mutate the result. Without a
    session, a miss reads them in a read-only session of its own."""
    key = session.get_bind() if session is not None else current_bind()
    hit = _cache.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < _CACHE_SECONDS:
        return hit[1]
    if session is None:
        with unit_of_work(readonly=True) as own:
            value = get_settings(own)
    else:
        value = get_settings(session)
    _cache[key] = (now, value)
    return value


# The languages Patron's pages and messages are written in.
LOCALES = ("en", "id", "zh_Hans")


def update_settings(session: Session, *, settings: StoreSettings) -> StoreSettings:
    settings.base_currency = normalize_currency(settings.base_currency, field="base_currency")
    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"timezone {settings.timezone!r} is not an IANA time zone (e.g. Asia/Jakarta)",
            field="timezone",
        ) from None
    if settings.default_locale not in LOCALES:
        raise ValidationError(
            f"default_locale must be one of {', '.join(LOCALES)}", field="default_locale"
        )
    for code, rate in settings.fx_rates.items():
        normalize_currency(code, field=f"fx_rates.{code}")
        try:
            if Decimal(rate) <= 0:
                raise ValueError
        except (ArithmeticError, ValueError):
            raise ValidationError(
                f"fx_rates.{code} must be a positive number", field=f"fx_rates.{code}"
            ) from None
    row = session.get(StoreSetting, _SETTINGS_KEY)
    if row is None:
        row = StoreSetting(key=_SETTINGS_KEY, value={}, updated_at=utcnow())
        session.add(row)
    row.value = settings.model_dump()
    row.updated_at = utcnow()
    session.flush()
    _cache.clear()
    return settings


class Converter:
    """Converts minor units of any currency to the store's base currency (half-even)."""

    def __init__(self, settings: StoreSettings) -> None:
        self.base = settings.base_currency
        self._rates = {c: Decimal(r) for c, r in settings.fx_rates.items()}

    def to_base(self, amount: int, currency: str) -> int:
        if currency == self.base:
            return amount
        rate = self._rates.get(currency)
        if rate is None:
            return 0  # unknown rate: excluded from base-currency totals, kept on the order
        major = Decimal(amount).scaleb(-exponent(currency)) * rate
        return int(major.scaleb(exponent(self.base)).quantize(Decimal(1), ROUND_HALF_EVEN))


def converter(session: Session) -> Converter:
    return Converter(get_settings(session))


def create_source(session: Session, *, data: SourceCreate) -> SourceRead:
    """Register a source (a shop, an app, a marketplace store, a physical shop)."""
    if session.scalar(select(Source.id).where(Source.key == data.key)) is not None:
        raise Conflict(f"source {data.key!r} exists", field="key")
    row = Source(
        key=data.key,
        name=data.name or data.key,
        kind=data.kind,
        channel=data.channel.value,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return SourceRead.model_validate(row)
