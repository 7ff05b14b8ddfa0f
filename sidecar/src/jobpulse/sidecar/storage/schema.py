"""The shared schema: every feature defines its tables on this one ``metadata``.

Each feature keeps its tables next to its code (``history/tables.py``, ``control/tables.py``,
``alerting/tables.py``); the Alembic migrations in ``migrations/versions`` create and change them all,
as one linear history. Timestamps are integer nanoseconds since the epoch, as the fold keeps them: they
compare, sort and bucket the same way on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import MetaData

metadata = MetaData()
