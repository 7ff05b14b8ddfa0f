"""Configuration's tables: the runtime changes every replica applies, and the audit trail of changes."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, String, Table, Text

from jobpulse.sidecar.storage.schema import metadata

# One row (id 1): the runtime layer as a JSON document, and its version. Replicas poll the version;
# writers update it only from the version they read (optimistic concurrency). The document holds
# secrets (channel URLs), as the settings file does: it is what replicas and restarts apply.
config_state = Table(
    "config_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
    Column("document", Text, nullable=False),
    Column("updated_ns", BigInteger, nullable=False),
    Column("updated_by", String(200)),
)

# Every accepted change and every rejected attempt, with secrets masked.
config_changes = Table(
    "config_changes",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at_ns", BigInteger, nullable=False),
    Column("who", String(200), nullable=False),
    Column("source", String(32), nullable=False),
    Column("accepted", Boolean, nullable=False),
    # The runtime layer's version after an accepted runtime change; None for file reloads and rejections.
    Column("version", BigInteger),
    Column("replica", String(300)),
    # JSON: [{"key", "old", "new"}] for accepted changes, [Problem] for rejected ones, the request body.
    Column("changes", Text),
    Column("errors", Text),
    Column("request", Text),
    Index("ix_config_changes_at", "at_ns"),
)
