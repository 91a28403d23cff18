"""Segment messages in, validated and normalised rows out (internal to events).

Clock skew: a client's clock is not trusted. As Segment does, when the client says when it
sent the message (`sentAt`), the event time is `receivedAt - (sentAt - timestamp)`: the
offset between the client's clock and ours is removed. Without `sentAt` the client's
`timestamp` is kept (a server-side library's clock is ours), or `receivedAt` if there is none.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from patron.core.errors import ValidationError
from patron.core.time import parse_datetime
from patron.events.schemas import MessageType

_CHANNELS = {"web", "app", "marketplace", "pos", "social", "email"}
_NAME_MAX = 200
_ID_MAX = 128


@dataclass(slots=True)
class Message:
    type: MessageType
    message_id: str
    name: str | None
    user_id: str | None
    anonymous_id: str | None
    previous_id: str | None
    group_id: str | None
    timestamp: datetime
    original_timestamp: datetime | None
    sent_at: datetime | None
    properties: dict[str, Any]
    traits: dict[str, Any]
    context: dict[str, Any]
    channel: str | None
    received_at: datetime


def _str_id(raw: dict[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValidationError(f"{where}.{key} must be a string", field=f"{where}.{key}")
    text = str(value)
    if len(text) > _ID_MAX:
        raise ValidationError(
            f"{where}.{key} is longer than {_ID_MAX} characters", field=f"{where}.{key}"
        )
    return text


def _object(raw: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError(f"{where}.{key} must be an object", field=f"{where}.{key}")
    return value


def _time(raw: dict[str, Any], key: str, where: str) -> datetime | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    return parse_datetime(value, field=f"{where}.{key}")


def _channel(raw: dict[str, Any], context: dict[str, Any]) -> str | None:
    for value in (raw.get("channel"), context.get("channel")):
        if isinstance(value, str) and value.lower() in _CHANNELS:
            return value.lower()
    if context.get("app") or (
        isinstance(context.get("device"), dict)
        and context["device"].get("type") in ("ios", "android")
    ):
        return "app"
    if context.get("page") or context.get("userAgent"):
        return "web"
    return None


def message_id_of(raw: dict[str, Any]) -> str:
    """A deterministic id for a message sent without one: a retry gets the same id."""
    digest = hashlib.sha256(orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return "h-" + digest[:40]


def normalize(
    raw: Any,
    *,
    where: str,
    received_at: datetime,
    batch_sent_at: datetime | None = None,
    forced_type: MessageType | None = None,
) -> Message:
    """Validate one message; errors name the field as `where.key` (e.g. `batch[3].event`)."""
    if not isinstance(raw, dict):
        raise ValidationError(f"{where} must be a JSON object", field=where)
    kind_raw = forced_type.value if forced_type else raw.get("type")
    try:
        kind = MessageType(str(kind_raw).lower())
    except ValueError:
        allowed = ", ".join(t.value for t in MessageType)
        raise ValidationError(
            f"{where}.type must be one of {allowed}", field=f"{where}.type"
        ) from None
    user_id = _str_id(raw, "userId", where)
    anonymous_id = _str_id(raw, "anonymousId", where)
    if user_id is None and anonymous_id is None:
        raise ValidationError(
            f"{where}: userId or anonymousId is required", field=f"{where}.userId"
        )
    name: str | None = None
    if kind is MessageType.TRACK:
        event = raw.get("event")
        if not isinstance(event, str) or not event.strip():
            raise ValidationError(f"{where}.event is required for track", field=f"{where}.event")
        name = event.strip()
    elif kind in (MessageType.PAGE, MessageType.SCREEN):
        value = raw.get("name") or (raw.get("properties") or {}).get("name")
        name = str(value) if value else None
    if name is not None and len(name) > _NAME_MAX:
        raise ValidationError(
            f"{where}: the name is longer than {_NAME_MAX} characters", field=f"{where}.event"
        )
    previous_id = _str_id(raw, "previousId", where)
    if kind is MessageType.ALIAS and (previous_id is None or user_id is None):
        raise ValidationError(
            f"{where}: alias needs previousId and userId", field=f"{where}.previousId"
        )
    group_id = _str_id(raw, "groupId", where)
    context = _object(raw, "context", where)
    properties = _object(raw, "properties", where)
    traits = _object(raw, "traits", where)
    if kind is MessageType.PAGE and raw.get("category"):
        properties = {**properties, "category": raw["category"]}
    if not traits and isinstance(context.get("traits"), dict):
        traits = context["traits"]
    original = _time(raw, "timestamp", where) or _time(raw, "originalTimestamp", where)
    sent_at = _time(raw, "sentAt", where) or batch_sent_at
    if original is not None and sent_at is not None:
        timestamp = received_at - (sent_at - original)
    else:
        timestamp = original or received_at
    message_id = _str_id(raw, "messageId", where) or message_id_of(raw)
    return Message(
        type=kind,
        message_id=message_id,
        name=name,
        user_id=user_id,
        anonymous_id=anonymous_id,
        previous_id=previous_id,
        group_id=group_id,
        timestamp=timestamp,
        original_timestamp=original,
        sent_at=sent_at,
        properties=properties,
        traits=traits,
        context=context,
        channel=_channel(raw, context),
        received_at=received_at,
    )
