"""A write key for a web source, as a Basic auth header (Segment's clients send it so)."""

import base64

import pytest
from sqlalchemy.orm import Session

from patron.auth import service as auth_service
from patron.store import service as store_service


@pytest.fixture
def source_id(session: Session) -> int:
    return store_service.ensure_source(session, key="site").id


@pytest.fixture
def write_key(session: Session, source_id: int) -> str:
    key = auth_service.create_write_key(session, name="site", source_id=source_id)
    session.commit()
    return key.secret


@pytest.fixture
def basic(write_key: str) -> dict[str, str]:
    token = base64.b64encode(f"{write_key}:".encode()).decode()
    return {"Authorization": f"Basic {token}"}
