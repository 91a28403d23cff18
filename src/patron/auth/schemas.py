"""Roles, permissions and the authenticated principal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Role(StrEnum):
    OWNER = "owner"
    MARKETER = "marketer"
    SUPPORT = "support"
    ANALYST = "analyst"


class Permission(StrEnum):
    CUSTOMERS_READ = "customers:read"
    CUSTOMERS_WRITE = "customers:write"
    CATALOG_READ = "catalog:read"
    CATALOG_WRITE = "catalog:write"
    ORDERS_READ = "orders:read"
    ORDERS_WRITE = "orders:write"
    EVENTS_READ = "events:read"
    IMPORT = "import"
    EXPORT = "export"
    SETTINGS = "settings"
    KEYS = "keys"
    JOBS = "jobs"
    INGEST = "ingest"  # write keys only
    ANALYTICS_READ = "analytics:read"
    ANALYTICS_WRITE = "analytics:write"  # marketing spend, KPI targets, RFM refresh
    SEGMENTS_READ = "segments:read"  # segments, members, preview, export
    SEGMENTS_WRITE = "segments:write"  # create, change, refresh, static list members
    RECOMMENDATIONS_READ = "recommendations:read"
    RECOMMENDATIONS_CUSTOMER = "recommendations:customer"  # "for you" of one customer
    RECOMMENDATIONS_TRAIN = "recommendations:train"  # train, roll back, category rules
    PREDICTIONS_READ = "predictions:read"  # scores, model cards
    PREDICTIONS_TRAIN = "predictions:train"  # backtest, train, score


_READ = {
    Permission.CUSTOMERS_READ,
    Permission.CATALOG_READ,
    Permission.ORDERS_READ,
    Permission.EVENTS_READ,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(set(Permission) - {Permission.INGEST}),
    Role.MARKETER: frozenset(
        _READ
        | {
            Permission.CUSTOMERS_WRITE,
            Permission.CATALOG_WRITE,
            Permission.ORDERS_WRITE,
            Permission.IMPORT,
            Permission.EXPORT,
            Permission.ANALYTICS_READ,
            Permission.ANALYTICS_WRITE,
            Permission.SEGMENTS_READ,
            Permission.SEGMENTS_WRITE,
            Permission.RECOMMENDATIONS_READ,
            Permission.RECOMMENDATIONS_CUSTOMER,
            Permission.PREDICTIONS_READ,
        }
    ),
    Role.SUPPORT: frozenset(
        _READ | {Permission.CUSTOMERS_WRITE, Permission.RECOMMENDATIONS_CUSTOMER}
    ),
    Role.ANALYST: frozenset(
        _READ
        | {
            Permission.EXPORT,
            Permission.ANALYTICS_READ,
            Permission.SEGMENTS_READ,
            Permission.RECOMMENDATIONS_READ,
            Permission.RECOMMENDATIONS_CUSTOMER,
            Permission.RECOMMENDATIONS_TRAIN,
            Permission.PREDICTIONS_READ,
            Permission.PREDICTIONS_TRAIN,
        }
    ),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user, an API key (with a role) or a write key (ingestion only)."""

    kind: str  # user, api_key, write_key
    id: int
    role: Role | None
    source_id: int | None = None

    def can(self, permission: Permission) -> bool:
        if self.kind == "write_key":
            return permission is Permission.INGEST
        return self.role is not None and permission in ROLE_PERMISSIONS[self.role]


class UserCreate(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=10, max_length=1000)
    role: Role
    name: str = ""
    locale: str = "en"


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    role: Role
    locale: str
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None


class UserUpdate(BaseModel):
    """What an owner may change about a user (every field optional)."""

    name: str | None = Field(default=None, max_length=200)
    role: Role | None = None
    locale: str | None = Field(default=None, max_length=16)
    is_active: bool | None = None


@dataclass(frozen=True, slots=True)
class WebUser:
    """The signed-in person behind a browser session, as the web pages need them."""

    session_id: int
    user_id: int
    email: str
    name: str
    role: Role
    locale: str
    csrf_token: str

    @property
    def principal(self) -> Principal:
        return Principal(kind="user", id=self.user_id, role=self.role)

    def can(self, permission: Permission) -> bool:
        return self.principal.can(permission)


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: Role


class WriteKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    source: str = Field(default="web", min_length=1, max_length=64)


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: str
    role: Role | None
    prefix: str
    source_id: int | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    """Returned once, at creation: `secret` is never stored or shown again."""

    secret: str
