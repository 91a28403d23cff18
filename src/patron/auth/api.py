"""API keys and users over HTTP (owners only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from patron.auth import service
from patron.auth.guards import Reader, Writer, require
from patron.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    Permission,
    Principal,
    UserCreate,
    UserRead,
    WriteKeyCreate,
)
from patron.store import service as store_service

router = APIRouter(prefix="/api", tags=["auth"])
Keys = Annotated[Principal, Depends(require(Permission.KEYS))]


@router.get("/keys", response_model=list[ApiKeyRead])
def list_keys(session: Reader, _: Keys) -> list[ApiKeyRead]:
    return service.list_api_keys(session)


@router.post("/keys", response_model=ApiKeyCreated, status_code=201)
def create_key(body: ApiKeyCreate, session: Writer, _: Keys) -> ApiKeyCreated:
    return service.create_api_key(session, name=body.name, role=body.role)


@router.post("/write-keys", response_model=ApiKeyCreated, status_code=201)
def create_write_key(body: WriteKeyCreate, session: Writer, _: Keys) -> ApiKeyCreated:
    source = store_service.ensure_source(session, key=body.source)
    return service.create_write_key(session, name=body.name, source_id=source.id)


@router.delete("/keys/{key_id}", response_model=ApiKeyRead)
def revoke_key(key_id: int, session: Writer, _: Keys) -> ApiKeyRead:
    return service.revoke_api_key(session, key_id=key_id)


@router.get("/users", response_model=list[UserRead])
def list_users(session: Reader, _: Keys) -> list[UserRead]:
    return service.list_users(session)


@router.post("/users", response_model=UserRead, status_code=201)
def create_user(body: UserCreate, session: Writer, _: Keys) -> UserRead:
    return service.create_user(session, data=body)
