"""Times are timezone-aware UTC in storage; local only at the edges."""

from __future__ import annotations

from datetime import UTC, date, datetime

from patron.core.errors import ValidationError


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Aware datetimes are converted to UTC; naive ones are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_datetime(value: object, *, field: str) -> datetime:
    """Parse ISO 8601 (with `Z`), epoch seconds or a datetime; raise naming `field`."""
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            raise ValidationError(f"{field} is not a valid timestamp", field=field) from None
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            return as_utc(datetime.fromisoformat(text))
        except ValueError:
            pass
    raise ValidationError(f"{field} must be an ISO 8601 date-time, got {value!r}", field=field)


def parse_date(value: object, *, field: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise ValidationError(f"{field} must be a date (YYYY-MM-DD), got {value!r}", field=field)
