"""Alembic environment: migrations run on the connection the sidecar hands over (see db.migrate)."""

from alembic import context

from jobpulse.sidecar.history.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("jobpulse migrations run through jobpulse.sidecar.history.db.migrate()")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
