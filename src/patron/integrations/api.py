"""Shop-platform connections over HTTP: POST/GET /api/integrations (settings permission)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from patron.auth.guards import Reader, Writer, require
from patron.auth.schemas import Permission, Principal
from patron.integrations import service
from patron.integrations.schemas import ConnectionCreate, ConnectionCreated, ConnectionRead

router = APIRouter(prefix="/api", tags=["integrations"])
CanSet = Annotated[Principal, Depends(require(Permission.SETTINGS))]


@router.get("/integrations", response_model=list[ConnectionRead])
def list_connections(session: Reader, _: CanSet) -> list[ConnectionRead]:
    return service.list_connections(session)


@router.post("/integrations", response_model=ConnectionCreated, status_code=201)
def create_connection(body: ConnectionCreate, session: Writer, _: CanSet) -> ConnectionCreated:
    return service.create_connection(session, data=body)
