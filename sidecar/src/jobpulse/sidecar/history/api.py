"""``/api/monitor/dead-letters``: the rows history storage refused, and why."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import FromQuery

from jobpulse.sidecar.api.paging import Limit
from jobpulse.sidecar.auth.roles import VIEWER, access
from jobpulse.sidecar.history.service import History
from jobpulse.sidecar.timestamps import to_datetime


class DeadLetter(msgspec.Struct):
    """A job state (``kind`` job) or log line (``kind`` log) history storage refused for its data.

    ``payload`` is what was refused, as JSON; integers beyond 64 bits, infinities and NaN are strings.
    """

    id: int
    at: datetime
    job_id: str
    kind: Literal["job", "log"]
    error: str
    payload: Any


class DeadLetterPage(msgspec.Struct):
    """Set-aside rows, newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""

    items: list[DeadLetter]
    total: int
    next_cursor: str | None


def _dead_letter(row: dict[str, Any]) -> DeadLetter:
    return DeadLetter(
        id=row["id"],
        at=to_datetime(row["at_ns"]),
        job_id=row["job_id"],
        kind=row["kind"],
        error=row["error"],
        payload=msgspec.json.decode(row["payload"]),
    )


class DeadLettersController(Controller):
    """Rows the history writer set aside instead of retrying them forever."""

    path = "/api/monitor/dead-letters"
    tags = ["monitor"]
    opt = access(VIEWER)

    @get("/", summary="Rows history storage refused, newest first")
    async def dead_letters(
        self,
        history: NamedDependency[History],
        limit: Limit = 50,
        cursor: FromQuery[str | None] = None,
        job_id: FromQuery[str | None] = None,
    ) -> DeadLetterPage:
        before_id = None
        if cursor is not None:
            if not cursor.isdigit():
                raise ValidationException(detail=f"cursor: {cursor!r} is not a dead-letter cursor (an id)")
            before_id = int(cursor)
        rows, total = await history.dead_letter_page(limit + 1, before_id, job_id)
        items = [_dead_letter(row) for row in rows[:limit]]
        more = len(rows) > limit
        return DeadLetterPage(items=items, total=total, next_cursor=str(items[-1].id) if more else None)
