"""Alembic environment: runs on the connection mlyard hands it (see mlyard.catalog.migrate)."""

from alembic import context

from mlyard.catalog.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
