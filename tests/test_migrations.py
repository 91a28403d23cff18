"""The migrations build exactly the schema the models describe, and go down and up again."""

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from patron import db
from patron.migrate import downgrade, upgrade
from patron.tables import Base
from tests.conftest import drop_database, new_database_url


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrations_match_models_and_round_trip(backend: str, tmp_path: Path) -> None:
    url = new_database_url(backend, tmp_path)
    engine = db.make_engine(url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
        downgrade(engine, "base")
        upgrade(engine)
    finally:
        engine.dispose()
        drop_database(url)
