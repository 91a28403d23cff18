"""Settings: the store, users and roles, API and write keys, KPI targets, marketing spend.

Who sees what (the same permissions as the HTTP API's routes for the same data):

- Store (currency, time zone, default locale): `settings` (owner).
- Users and roles, API keys and write keys: `keys` (owner), as /api/users and /api/keys.
- KPI targets and marketing spend: read with `analytics:read` (owner, marketer, analyst),
  changed with `analytics:write` (owner, marketer), as /api/targets and /api/spend.
- Support agents have none of these, so every settings page refuses them (403).

The main navigation shows "Settings" to owners only; /settings itself lists the sections a
role may open, so a marketer reaches targets and spend at /settings (linked from the
dashboard) without seeing the store-wide sections.

Every form posts with the session's CSRF token and redirects (303) to its page with
`?done=<what>`, which the page shows as a confirmation. A new key's secret is the one
exception: it is shown on the response to the POST, once, and never stored or shown again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Annotated, Any
from zoneinfo import available_timezones

from babel.dates import format_skeleton
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError as PydanticError
from sqlalchemy.orm import Session

from patron.analytics import service as analytics_service
from patron.analytics.schemas import SpendUpsert, Unit
from patron.auth import service as auth_service
from patron.auth.schemas import Permission, Role, UserCreate, UserUpdate, WebUser
from patron.core.errors import NotFound, PatronError
from patron.core.money import KNOWN_CURRENCIES, exponent, to_minor
from patron.db import spool_unit_of_work
from patron.events import service as events_service
from patron.store import service as store_service
from patron.web import i18n
from patron.web.deps import PageForbidden, ReadDb, WriteDb, page
from patron.web.templating import N_, render

router = APIRouter()

Form_ = Annotated[str, Form(max_length=2000)]
Secret = Annotated[str, Form(max_length=1000)]


@dataclass(frozen=True)
class Section:
    key: str
    path: str
    label: str  # msgid
    permission: Permission
    description: str  # msgid


SECTIONS = [
    Section("store", "/settings/store", N_("Store"), Permission.SETTINGS,
            N_("Base currency, time zone and the default language.")),
    Section("users", "/settings/users", N_("Users and roles"), Permission.KEYS,
            N_("Who can sign in, and what each person may do.")),
    Section("keys", "/settings/keys", N_("API keys"), Permission.KEYS,
            N_("Keys for the API and write keys for sending events.")),
    Section("targets", "/settings/targets", N_("KPI targets"), Permission.ANALYTICS_READ,
            N_("The figures the dashboard compares each KPI with.")),
    Section("spend", "/settings/spend", N_("Marketing spend"), Permission.ANALYTICS_READ,
            N_("What each channel cost per month, for acquisition cost and ROI.")),
]  # fmt: skip

# The confirmation a page shows after a successful form (?done=<key>).
DONE = {
    "store": N_("Store settings saved."),
    "user": N_("User created. They can sign in now."),
    "role": N_("Role changed."),
    "deactivated": N_("User deactivated. Their open sessions have ended."),
    "reactivated": N_("User reactivated."),
    "revoked": N_("Key revoked. Requests that use it are refused from now on."),
    "inbox-retried": N_("Queued again. The worker applies them on its next pass."),
    "target": N_("Target saved."),
    "target-deleted": N_("Target removed."),
    "spend": N_("Spend saved."),
    "spend-deleted": N_("Spend entry removed."),
}

# KPI labels as the pages show them (the analytics domain's English labels are the msgids;
# the dashboard's catalog translates them).
METRIC_LABELS = [
    N_("Revenue (net)"), N_("Orders"), N_("Average order value"), N_("Customers who ordered"),
    N_("New customers"), N_("Returning customers"), N_("Revenue from new customers"),
    N_("Revenue from returning customers"), N_("Returning customers' share of revenue"),
    N_("Revenue per customer"), N_("Purchase frequency (orders per customer)"),
    N_("Repeat purchase rate"), N_("Retention rate"), N_("Churn rate"),
    N_("Average time between orders"), N_("Historic customer lifetime value"),
    N_("Conversion rate (sessions with an order)"), N_("Marketing spend"),
    N_("Customer acquisition cost"), N_("Marketing ROI"), N_("Customer satisfaction (CSAT)"),
    N_("Net promoter score (NPS)"),
]  # fmt: skip

KEY_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")  # source keys and spend channels


@lru_cache(maxsize=1)
def time_zones() -> list[str]:
    return sorted(z for z in available_timezones() if "/" in z or z == "UTC")


def month_label(value: date) -> str:
    """March 2026 as the reader's locale writes a month (2026年3月)."""
    return format_skeleton("yMMM", value, locale=i18n.current())


def _redirect(path: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?done={done}", status_code=303)


# Error messages are msgids (N_): the templates translate them, once `render` has bound the
# reader's locale (nothing is translated in a route before that).


def _view(
    request: Request,
    session: Session,
    user: WebUser,
    template: str,
    current: str,
    context: dict[str, Any],
    *,
    done: str = "",
    status: int = 200,
) -> Response:
    sections = [s for s in SECTIONS if user.can(s.permission)]
    values = {
        "sections": sections,
        "current": current,
        "done": DONE.get(done, ""),
        "errors": {},
        "error": "",
        **context,
    }
    return render(request, template, values, user=user, session=session, status=status)


def _fail(session: Session) -> None:
    """A form was refused: nothing it may have written stays."""
    session.rollback()


def _pydantic_errors(exc: PydanticError) -> list[str]:
    return [str(e["loc"][0]) if e["loc"] else "" for e in exc.errors()]


# --- overview -----------------------------------------------------------------------------


@router.get("/settings", include_in_schema=False)
def overview(
    request: Request, session: ReadDb, user: Annotated[WebUser, Depends(page())]
) -> Response:
    if not any(user.can(s.permission) for s in SECTIONS):
        raise PageForbidden(Permission.SETTINGS)
    return _view(request, session, user, "settings/index.html", "", {})


# --- store --------------------------------------------------------------------------------

CanSet = Annotated[WebUser, Depends(page(Permission.SETTINGS))]


def _store_page(
    request: Request,
    session: Session,
    user: WebUser,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    done: str = "",
    status: int = 200,
) -> Response:
    settings = store_service.get_settings(session)
    values = form or {
        "base_currency": settings.base_currency,
        "timezone": settings.timezone,
        "default_locale": settings.default_locale,
    }
    context = {
        "form": values,
        "errors": errors or {},
        "currencies": sorted(KNOWN_CURRENCIES | {settings.base_currency}),
        "zones": time_zones(),
        "fx_rates": sorted(settings.fx_rates.items()),
    }
    return _view(
        request, session, user, "settings/store.html", "store", context, done=done, status=status
    )


@router.get("/settings/store", include_in_schema=False)
def store_form(request: Request, session: ReadDb, user: CanSet, done: str = "") -> Response:
    return _store_page(request, session, user, done=done)


@router.post("/settings/store", include_in_schema=False)
def store_save(
    request: Request,
    session: WriteDb,
    user: CanSet,
    base_currency: Form_ = "",
    timezone: Form_ = "",
    default_locale: Form_ = "",
) -> Response:
    form = {
        "base_currency": base_currency.strip().upper(),
        "timezone": timezone.strip(),
        "default_locale": default_locale.strip(),
    }
    errors: dict[str, str] = {}
    if form["base_currency"] not in KNOWN_CURRENCIES:
        errors["base_currency"] = N_(
            "Choose a currency: a three-letter ISO 4217 code such as USD or IDR."
        )
    if form["timezone"] not in time_zones():
        errors["timezone"] = N_("Choose a time zone from the list, such as Asia/Jakarta.")
    if form["default_locale"] not in i18n.LOCALES:
        errors["default_locale"] = N_("Choose one of the languages in the list.")
    if not errors:
        current = store_service.get_settings(session)
        try:
            store_service.update_settings(
                session, settings=current.model_copy(update=form, deep=True)
            )
        except PatronError as exc:  # an exchange rate the store kept is no longer valid
            errors[exc.field or "base_currency"] = exc.message
    if errors:
        _fail(session)
        return _store_page(request, session, user, form=form, errors=errors, status=422)
    return _redirect("/settings/store", "store")


# --- users and roles ----------------------------------------------------------------------

CanAdminister = Annotated[WebUser, Depends(page(Permission.KEYS))]
LAST_OWNER = N_("The store must keep at least one active owner.")


def _users_page(
    request: Request,
    session: Session,
    user: WebUser,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    error: str = "",
    done: str = "",
    status: int = 200,
) -> Response:
    context = {
        "users": auth_service.list_users(session),
        "roles": list(Role),
        "form": form or {"email": "", "name": "", "role": Role.MARKETER.value},
        "errors": errors or {},
        "error": error,
    }
    return _view(
        request, session, user, "settings/users.html", "users", context, done=done, status=status
    )


@router.get("/settings/users", include_in_schema=False)
def users(request: Request, session: ReadDb, user: CanAdminister, done: str = "") -> Response:
    return _users_page(request, session, user, done=done)


@router.post("/settings/users", include_in_schema=False)
def create_user(
    request: Request,
    session: WriteDb,
    user: CanAdminister,
    email: Form_ = "",
    name: Form_ = "",
    role: Form_ = "",
    password: Secret = "",
) -> Response:
    form = {"email": email.strip(), "name": name.strip(), "role": role}
    errors: dict[str, str] = {}
    messages = {
        "email": N_("Enter the person's email address."),
        "password": N_("The password needs at least 10 characters."),
        "role": N_("Choose a role."),
        "name": N_("The name is too long (at most 200 characters)."),
    }
    try:
        data = UserCreate(
            email=form["email"],
            name=form["name"],
            role=role,  # pydantic checks it is a Role
            password=password,
            locale=store_service.get_settings(session).default_locale,
        )
        if len(form["name"]) > 200:
            errors["name"] = messages["name"]
    except PydanticError as exc:
        for field in _pydantic_errors(exc):
            errors[field] = messages.get(field, messages["email"])
        data = None
    if data is not None and not errors:
        try:
            auth_service.create_user(session, data=data)
        except PatronError as exc:
            errors["email"] = (
                N_("A user with this email exists already.")
                if exc.status == 409
                else messages["email"]
            )
    if errors:
        _fail(session)
        return _users_page(request, session, user, form=form, errors=errors, status=422)
    return _redirect("/settings/users", "user")


def _update_user(
    request: Request, session: Session, user: WebUser, user_id: int, data: UserUpdate, done: str
) -> Response:
    try:
        auth_service.update_user(session, user_id=user_id, data=data)
    except NotFound:
        raise
    except PatronError as exc:
        _fail(session)
        message = LAST_OWNER if exc.status == 409 else exc.message
        return _users_page(request, session, user, error=message, status=exc.status)
    if user_id == user.user_id and (data.role not in (None, Role.OWNER) or data.is_active is False):
        return RedirectResponse("/", status_code=303)  # they gave up their own access
    return _redirect("/settings/users", done)


@router.post("/settings/users/{user_id}/role", include_in_schema=False)
def change_role(
    request: Request, session: WriteDb, user: CanAdminister, user_id: int, role: Form_ = ""
) -> Response:
    if role not in {r.value for r in Role}:
        _fail(session)
        error = N_("Choose a role.")
        return _users_page(request, session, user, error=error, status=422)
    return _update_user(request, session, user, user_id, UserUpdate(role=Role(role)), "role")


@router.post("/settings/users/{user_id}/active", include_in_schema=False)
def set_active(
    request: Request, session: WriteDb, user: CanAdminister, user_id: int, active: Form_ = ""
) -> Response:
    if active not in ("0", "1"):
        _fail(session)
        return _users_page(request, session, user, error=N_("Something went wrong"), status=422)
    on = active == "1"
    done = "reactivated" if on else "deactivated"
    return _update_user(request, session, user, user_id, UserUpdate(is_active=on), done)


# --- API keys and write keys --------------------------------------------------------------


def _keys_page(
    request: Request,
    session: Session,
    user: WebUser,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    done: str = "",
    status: int = 200,
) -> Response:
    sources = store_service.list_sources(session)
    keys = sorted(auth_service.list_api_keys(session), key=lambda k: -k.id)  # newest first
    with spool_unit_of_work(readonly=True) as spool:  # the tracking API's inbox (ADR 20)
        inbox = events_service.inbox_stats(spool)
    context = {
        "keys": keys,
        "inbox": inbox,
        "sources": sources,
        "source_keys": {s.id: s.key for s in sources},
        "roles": list(Role),
        "form": form or {"name": "", "role": Role.ANALYST.value, "source": "web"},
        "errors": errors or {},
    }
    return _view(
        request, session, user, "settings/keys.html", "keys", context, done=done, status=status
    )


@router.get("/settings/keys", include_in_schema=False)
def keys(request: Request, session: ReadDb, user: CanAdminister, done: str = "") -> Response:
    return _keys_page(request, session, user, done=done)


def _key_name(name: str, errors: dict[str, str], field: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        errors[field] = N_("Give the key a name (at most 200 characters).")
    return name


def _created(request: Request, session: Session, user: WebUser, key: Any, source: str) -> Response:
    """The only page that ever shows the key's secret."""
    context = {"key": key, "source": source}
    return _view(request, session, user, "settings/key_created.html", "keys", context)


@router.post("/settings/keys", include_in_schema=False)
def create_key(
    request: Request, session: WriteDb, user: CanAdminister, name: Form_ = "", role: Form_ = ""
) -> Response:
    errors: dict[str, str] = {}
    clean = _key_name(name, errors, "name")
    if role not in {r.value for r in Role}:
        errors["role"] = N_("Choose a role.")
    if errors:
        _fail(session)
        form = {"name": clean, "role": role, "source": "web"}
        return _keys_page(request, session, user, form=form, errors=errors, status=422)
    key = auth_service.create_api_key(session, name=clean, role=Role(role))
    return _created(request, session, user, key, "")


@router.post("/settings/write-keys", include_in_schema=False)
def create_write_key(
    request: Request,
    session: WriteDb,
    user: CanAdminister,
    write_name: Form_ = "",
    source: Form_ = "",
) -> Response:
    errors: dict[str, str] = {}
    clean = _key_name(write_name, errors, "write_name")
    source_key = source.strip().lower()
    if not KEY_NAME.match(source_key) or len(source_key) > 64:
        errors["source"] = N_(
            "A source is a short name in lower-case letters, digits, dots, dashes or "
            "underscores, such as web or shopify."
        )
    if errors:
        _fail(session)
        form = {"name": "", "role": Role.ANALYST.value, "source": source, "write_name": clean}
        return _keys_page(request, session, user, form=form, errors=errors, status=422)
    found = store_service.ensure_source(session, key=source_key)
    key = auth_service.create_write_key(session, name=clean, source_id=found.id)
    return _created(request, session, user, key, found.key)


def _key(session: Session, key_id: int) -> Any:
    for key in auth_service.list_api_keys(session):
        if key.id == key_id:
            return key
    raise NotFound(f"API key {key_id} not found")


@router.post("/settings/inbox/retry", include_in_schema=False)
def retry_inbox(request: Request, session: WriteDb, user: CanAdminister) -> Response:
    """Queue the tracking requests that could not be applied again (ADR 20)."""
    with spool_unit_of_work() as spool:
        events_service.retry_dead(spool)
    return _redirect("/settings/keys", "inbox-retried")


@router.get("/settings/keys/{key_id}/revoke", include_in_schema=False)
def revoke_confirm(request: Request, session: ReadDb, user: CanAdminister, key_id: int) -> Response:
    sources = {s.id: s.key for s in store_service.list_sources(session)}
    context = {"key": _key(session, key_id), "source_keys": sources}
    return _view(request, session, user, "settings/key_revoke.html", "keys", context)


@router.post("/settings/keys/{key_id}/revoke", include_in_schema=False)
def revoke(request: Request, session: WriteDb, user: CanAdminister, key_id: int) -> Response:
    auth_service.revoke_api_key(session, key_id=key_id)
    return _redirect("/settings/keys", "revoked")


# --- KPI targets --------------------------------------------------------------------------

CanReadAnalytics = Annotated[WebUser, Depends(page(Permission.ANALYTICS_READ))]
CanWriteAnalytics = Annotated[WebUser, Depends(page(Permission.ANALYTICS_WRITE))]


def _targets_page(
    request: Request,
    session: Session,
    user: WebUser,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    done: str = "",
    status: int = 200,
) -> Response:
    metrics = [m for m in analytics_service.list_metrics() if m.higher_is_better is not None]
    context = {
        "targets": analytics_service.list_targets(session),
        "metrics": metrics,
        "form": form or {"metric": metrics[0].key, "value": ""},
        "errors": errors or {},
        "can_write": user.can(Permission.ANALYTICS_WRITE),
        "money_step": _step(store_service.cached_settings(session).base_currency),
    }
    return _view(
        request, session, user, "settings/targets.html", "targets", context, done=done,
        status=status,
    )  # fmt: skip


def _step(currency: str) -> str:
    digits = exponent(currency)
    return "1" if digits == 0 else "0." + "0" * (digits - 1) + "1"


@router.get("/settings/targets", include_in_schema=False)
def targets(request: Request, session: ReadDb, user: CanReadAnalytics, done: str = "") -> Response:
    return _targets_page(request, session, user, done=done)


def _target_value(unit: Unit, text: str, currency: str) -> float | None:
    """The stored value of what a person typed: money in the store currency's major units,
    rates in percent, the rest as they are. None if it is not a number of that kind."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    if unit is Unit.MONEY:
        return float(to_minor(str(value), currency, field="value"))
    if unit is Unit.RATIO:
        return float(value / 100)
    if unit is Unit.COUNT and value != value.to_integral_value():
        return None
    return float(value)


@router.post("/settings/targets", include_in_schema=False)
def set_target(
    request: Request, session: WriteDb, user: CanWriteAnalytics, metric: Form_ = "",
    value: Form_ = "",
) -> Response:  # fmt: skip
    form = {"metric": metric, "value": value}
    errors: dict[str, str] = {}
    units = {
        m.key: m.unit for m in analytics_service.list_metrics() if m.higher_is_better is not None
    }
    unit = units.get(metric)
    currency = store_service.get_settings(session).base_currency
    if unit is None:
        errors["metric"] = N_("Choose a KPI from the list.")
    else:
        number = _target_value(unit, value, currency)
        if number is None:
            errors["value"] = N_("Enter a number.")
        else:
            try:
                analytics_service.set_target(session, metric=metric, value=number)
            except PatronError as exc:
                errors[exc.field or "value"] = (
                    N_("A rate is a percentage between 0 and 100.")
                    if unit is Unit.RATIO
                    else N_("Enter a number.")
                )
    if errors:
        _fail(session)
        return _targets_page(request, session, user, form=form, errors=errors, status=422)
    return _redirect("/settings/targets", "target")


@router.post("/settings/targets/{metric}/delete", include_in_schema=False)
def delete_target(
    request: Request, session: WriteDb, user: CanWriteAnalytics, metric: str
) -> Response:
    try:
        analytics_service.delete_target(session, metric=metric)
    except PatronError as exc:
        raise NotFound(exc.message) from None
    return _redirect("/settings/targets", "target-deleted")


# --- marketing spend ----------------------------------------------------------------------


def _spend_page(
    request: Request,
    session: Session,
    user: WebUser,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    done: str = "",
    status: int = 200,
) -> Response:
    rows = analytics_service.list_spend(session)
    currency = store_service.cached_settings(session).base_currency
    context = {
        "rows": list(reversed(rows)),  # the latest month first
        "channels": sorted({r.channel for r in rows}),
        "form": form or {"channel": "", "month": "", "amount": "", "note": ""},
        "errors": errors or {},
        "can_write": user.can(Permission.ANALYTICS_WRITE),
        "month_label": month_label,
        "money_step": _step(currency),
    }
    return _view(
        request, session, user, "settings/spend.html", "spend", context, done=done, status=status
    )


@router.get("/settings/spend", include_in_schema=False)
def spend(request: Request, session: ReadDb, user: CanReadAnalytics, done: str = "") -> Response:
    return _spend_page(request, session, user, done=done)


@router.post("/settings/spend", include_in_schema=False)
def set_spend(
    request: Request,
    session: WriteDb,
    user: CanWriteAnalytics,
    channel: Form_ = "",
    month: Form_ = "",
    amount: Form_ = "",
    note: Form_ = "",
) -> Response:
    form = {"channel": channel.strip().lower(), "month": month.strip(), "amount": amount.strip(),
            "note": note.strip()}  # fmt: skip
    errors: dict[str, str] = {}
    if not KEY_NAME.match(form["channel"]) or len(form["channel"]) > 32:
        errors["channel"] = N_(
            "A channel is a short name in lower-case letters, digits, dots, dashes or "
            "underscores, such as google or facebook."
        )
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", form["month"]):
        errors["month"] = N_("Choose a month.")
    currency = store_service.get_settings(session).base_currency
    minor = -1
    try:
        minor = to_minor(form["amount"], currency) if form["amount"] else -1
    except PatronError:
        pass
    if minor < 0:
        errors["amount"] = N_("Enter the amount spent, zero or more.")
    if len(form["note"]) > 500:
        errors["note"] = N_("The note is too long (at most 500 characters).")
    if not errors:
        data = SpendUpsert(
            channel=form["channel"], month=form["month"], amount=minor, currency=currency,
            note=form["note"] or None,
        )  # fmt: skip
        try:
            analytics_service.set_spend(session, data=data)
        except PatronError as exc:
            errors[exc.field or "amount"] = exc.message
    if errors:
        _fail(session)
        return _spend_page(request, session, user, form=form, errors=errors, status=422)
    return _redirect("/settings/spend", "spend")


@router.post("/settings/spend/{spend_id}/delete", include_in_schema=False)
def delete_spend(
    request: Request, session: WriteDb, user: CanWriteAnalytics, spend_id: int
) -> Response:
    analytics_service.delete_spend(session, spend_id=spend_id)
    return _redirect("/settings/spend", "spend-deleted")
