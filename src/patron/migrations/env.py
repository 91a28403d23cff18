"""Alembic environment: runs on the engine handed over by patron.migrate (or the default)."""

from __future__ import annotations

from alembic import context

from patron.db import get_engine
from patron.orders import day_marks
from patron.tables import Base

config = context.config
engine = config.attributes.get("engine") or get_engine()

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        # Triggers are not in the models Alembic compares: kept in code, installed after
        # every upgrade (idempotent; ADR 25).
        if connection.dialect.has_table(connection, "order_day_marks"):
            day_marks.install(connection)
    connection.commit()
