"""Users (argon2 passwords), API keys and write keys (SHA-256 of a 192-bit secret)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.auth.models import ApiKey, LoginFailure, User, WebSession
from patron.auth.schemas import (
    ApiKeyCreated,
    ApiKeyRead,
    Principal,
    Role,
    UserCreate,
    UserRead,
    UserUpdate,
    WebUser,
)
from patron.core.errors import Conflict, NotFound, Unauthorized, ValidationError
from patron.core.ids import normalize_email
from patron.core.time import utcnow

_hasher = PasswordHasher()
_PREFIX_LEN = 12
_KEY_PREFIXES = {"api": "pk_", "write": "wk_"}

# Verified keys are cached briefly so ingestion does not hit the database per request.
# Revocation clears this process's cache at once; other processes see it within the TTL.
_CACHE_TTL = 5.0
_cache: dict[str, tuple[float, Principal]] = {}
_cache_lock = threading.Lock()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def create_user(session: Session, *, data: UserCreate) -> UserRead:
    email = normalize_email(data.email)
    if "@" not in email:
        raise ValidationError("email is not a valid address", field="email")
    user = User(
        email=email,
        name=data.name,
        password_hash=hash_password(data.password),
        role=data.role.value,
        locale=data.locale,
        is_active=True,
        created_at=utcnow(),
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"a user with email {email} exists", field="email") from None
    return UserRead.model_validate(user)


def authenticate(session: Session, *, email: str, password: str) -> UserRead:
    user = session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None or not user.is_active:
        _hasher.hash(password)  # same cost whether or not the user exists
        raise Unauthorized("email or password is wrong")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise Unauthorized("email or password is wrong") from None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = utcnow()
    session.flush()
    return UserRead.model_validate(user)


# Wrong passwords are counted per email in the database, so the limit holds across worker
# processes and restarts: after MAX_LOGIN_FAILURES within the window, sign-in is refused.
MAX_LOGIN_FAILURES = 5
LOGIN_FAILURE_WINDOW = timedelta(minutes=15)


def _email_hash(email: str) -> str:
    return hashlib.sha256(normalize_email(email).encode()).hexdigest()


def login_throttled(session: Session, *, email: str) -> bool:
    """Whether `email` has had MAX_LOGIN_FAILURES wrong passwords within the window."""
    since = utcnow() - LOGIN_FAILURE_WINDOW
    recent = session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.email_hash == _email_hash(email), LoginFailure.failed_at > since)
    )
    return (recent or 0) >= MAX_LOGIN_FAILURES


def record_login_failure(session: Session, *, email: str) -> None:
    """Count a wrong password for `email`; failures older than the window are dropped."""
    now = utcnow()
    session.execute(
        delete(LoginFailure).where(LoginFailure.failed_at <= now - LOGIN_FAILURE_WINDOW)
    )
    session.add(LoginFailure(email_hash=_email_hash(email), failed_at=now))
    session.flush()


def clear_login_failures(session: Session, *, email: str) -> None:
    """Forget `email`'s wrong passwords (after it signed in)."""
    session.execute(delete(LoginFailure).where(LoginFailure.email_hash == _email_hash(email)))
    session.flush()


def get_user(session: Session, *, user_id: int) -> UserRead:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return UserRead.model_validate(user)


def list_users(session: Session) -> list[UserRead]:
    return [UserRead.model_validate(u) for u in session.scalars(select(User).order_by(User.id))]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _create_key(
    session: Session, *, name: str, kind: str, role: Role | None, source_id: int | None
) -> ApiKeyCreated:
    prefix = secrets.token_hex(_PREFIX_LEN // 2)
    secret = _KEY_PREFIXES[kind] + prefix + secrets.token_urlsafe(24)
    key = ApiKey(
        name=name,
        kind=kind,
        role=role.value if role else None,
        prefix=prefix,
        secret_hash=_digest(secret),
        source_id=source_id,
        created_at=utcnow(),
    )
    session.add(key)
    session.flush()
    return ApiKeyCreated(**ApiKeyRead.model_validate(key).model_dump(), secret=secret)


def create_api_key(session: Session, *, name: str, role: Role) -> ApiKeyCreated:
    return _create_key(session, name=name, kind="api", role=role, source_id=None)


def create_write_key(session: Session, *, name: str, source_id: int) -> ApiKeyCreated:
    return _create_key(session, name=name, kind="write", role=None, source_id=source_id)


def list_api_keys(session: Session) -> list[ApiKeyRead]:
    rows = session.scalars(select(ApiKey).order_by(ApiKey.id))
    return [ApiKeyRead.model_validate(k) for k in rows]


def revoke_api_key(session: Session, *, key_id: int) -> ApiKeyRead:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"API key {key_id} not found")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
    with _cache_lock:
        _cache.clear()
    return ApiKeyRead.model_validate(key)


def cached_principal(token: str) -> Principal | None:
    """The principal of a recently verified key, without touching the database."""
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(token)
    return hit[1] if hit is not None and hit[0] > now else None


def verify_key(session: Session, *, token: str, kind: str) -> Principal:
    """Check a presented key of `kind` ('api' or 'write'); raise Unauthorized otherwise."""
    lead = _KEY_PREFIXES[kind]
    if not token.startswith(lead) or len(token) < len(lead) + _PREFIX_LEN + 8:
        raise Unauthorized(f"invalid {'write' if kind == 'write' else 'API'} key")
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(token)
    if hit is not None and hit[0] > now:
        return hit[1]
    prefix = token[len(lead) : len(lead) + _PREFIX_LEN]
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix, ApiKey.kind == kind))
    if (
        key is None
        or key.revoked_at is not None
        or not hmac.compare_digest(key.secret_hash, _digest(token))
    ):
        raise Unauthorized(f"invalid {'write' if kind == 'write' else 'API'} key")
    principal = Principal(
        kind="write_key" if kind == "write" else "api_key",
        id=key.id,
        role=Role(key.role) if key.role else None,
        source_id=key.source_id,
    )
    with _cache_lock:
        _cache[token] = (now + _CACHE_TTL, principal)
    return principal


def touch_key(session: Session, *, key_id: int) -> None:
    """Record that a key was used (the guard calls this at most once a minute per key)."""
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utcnow()))


def update_user(session: Session, *, user_id: int, data: UserUpdate) -> UserRead:
    """Change a user's name, role, locale or active flag. The last active owner can be
    neither demoted nor deactivated (the store would be left with nobody to administer it).
    Deactivating a user ends their browser sessions."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    demoted = data.role is not None and data.role is not Role.OWNER
    if user.role == Role.OWNER.value and user.is_active and (demoted or data.is_active is False):
        owners = session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.role == Role.OWNER.value, User.is_active.is_(True))
        )
        if (owners or 0) <= 1:
            field = "role" if demoted else "is_active"
            raise Conflict("the store must keep at least one active owner", field=field)
    if data.name is not None:
        user.name = data.name
    if data.role is not None:
        user.role = data.role.value
    if data.locale is not None:
        user.locale = data.locale
    if data.is_active is not None:
        user.is_active = data.is_active
        if not data.is_active:
            session.execute(delete(WebSession).where(WebSession.user_id == user_id))
    session.flush()
    return UserRead.model_validate(user)


SESSION_LIFETIME = timedelta(days=7)
_SESSION_TOUCH = timedelta(minutes=5)


def start_web_session(session: Session, *, user_id: int) -> tuple[str, WebUser]:
    """Open a browser session for a user who just signed in: (cookie secret, the user)."""
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        raise Unauthorized("email or password is wrong")
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = WebSession(
        token_hash=_digest(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + SESSION_LIFETIME,
        last_seen_at=now,
    )
    session.add(row)
    session.flush()
    return token, _web_user(row, user)


def _web_user(row: WebSession, user: User) -> WebUser:
    return WebUser(
        session_id=row.id,
        user_id=user.id,
        email=user.email,
        name=user.name,
        role=Role(user.role),
        locale=user.locale,
        csrf_token=row.csrf_token,
    )


def web_user(session: Session, *, token: str) -> WebUser | None:
    """The user of a live browser session, or None (unknown, expired, user deactivated)."""
    if not token or len(token) > 100:
        return None
    found = session.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.token_hash == _digest(token))
    ).first()
    if found is None:
        return None
    row, user = found
    now = utcnow()
    if row.expires_at <= now or not user.is_active:
        return None
    if now - row.last_seen_at > _SESSION_TOUCH:  # a write at most every few minutes
        row.last_seen_at = now
        session.flush()
    return _web_user(row, user)


def end_web_session(session: Session, *, token: str) -> None:
    """Sign out: the cookie's session stops working at once. Expired rows go too."""
    session.execute(
        delete(WebSession).where(
            (WebSession.token_hash == _digest(token)) | (WebSession.expires_at <= utcnow())
        )
    )
