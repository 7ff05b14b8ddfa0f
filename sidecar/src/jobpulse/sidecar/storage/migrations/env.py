"""Alembic environment: migrations run on the connection the sidecar hands over (see storage.migrate)."""

from alembic import context

# Each feature's tables join the shared metadata when their module is imported: import them all, so
# autogenerate compares the whole schema.
from jobpulse.sidecar.alerting import tables as alerting_tables  # noqa: F401
from jobpulse.sidecar.auth import tables as auth_tables  # noqa: F401
from jobpulse.sidecar.config import tables as config_tables  # noqa: F401
from jobpulse.sidecar.control import tables as control_tables  # noqa: F401
from jobpulse.sidecar.history import tables as history_tables  # noqa: F401
from jobpulse.sidecar.schedules import tables as schedules_tables  # noqa: F401
from jobpulse.sidecar.storage.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("jobpulse migrations run through jobpulse.sidecar.storage.migrate.migrate()")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
