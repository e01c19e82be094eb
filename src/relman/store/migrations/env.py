"""Alembic environment: relman passes a live connection in ``config.attributes``."""

from __future__ import annotations

from alembic import context

from relman.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - relman always passes one (relman db upgrade)
    raise RuntimeError("run migrations with `relman db upgrade`")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
