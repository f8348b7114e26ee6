"""Alembic environment: run by :func:`cds_service.store.migrate.upgrade` on a connection it already holds
(and has locked); ``config.attributes["connection"]`` carries it."""

from __future__ import annotations

from alembic import context

from cds_service.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
