"""Alembic environment: runs against the engine pyosi hands over (no alembic.ini, no URL here)."""

from __future__ import annotations

from alembic import context

from pyosi.storage.schema import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
