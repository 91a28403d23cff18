"""Store settings and sources over HTTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from patron.auth.guards import Reader, Writer, require
from patron.auth.schemas import Permission, Principal
from patron.store import service
from patron.store.schemas import SourceCreate, SourceRead, StoreSettings

router = APIRouter(prefix="/api", tags=["store"])
CanRead = Annotated[Principal, Depends(require(Permission.CUSTOMERS_READ))]
CanSet = Annotated[Principal, Depends(require(Permission.SETTINGS))]


@router.get("/settings", response_model=StoreSettings)
def get_settings(session: Reader, _: CanRead) -> StoreSettings:
    return service.get_settings(session)


@router.put("/settings", response_model=StoreSettings)
def put_settings(body: StoreSettings, session: Writer, _: CanSet) -> StoreSettings:
    return service.update_settings(session, settings=body)


@router.get("/sources", response_model=list[SourceRead])
def list_sources(session: Reader, _: CanRead) -> list[SourceRead]:
    return service.list_sources(session)


@router.post("/sources", response_model=SourceRead, status_code=201)
def create_source(body: SourceCreate, session: Writer, _: CanSet) -> SourceRead:
    return service.create_source(session, data=body)
