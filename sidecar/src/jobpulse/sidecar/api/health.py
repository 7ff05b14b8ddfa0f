"""``/healthz`` (the process answers) and ``/readyz`` (it can do its work)."""

from __future__ import annotations

import msgspec
from litestar import Response, get
from litestar.datastructures import State
from litestar.openapi import ResponseSpec

from jobpulse.sidecar.auth.roles import OPEN, access


class Health(msgspec.Struct):
    """Liveness or readiness, with the checks that decided it and details worth knowing that did not."""

    status: str
    checks: dict[str, str] = {}
    details: dict[str, str] = {}


@get("/healthz", tags=["health"], summary="Liveness", sync_to_thread=False, opt=access(OPEN))
def healthz() -> Health:
    return Health(status="ok")


@get(
    "/readyz",
    tags=["health"],
    summary="Readiness",
    responses={503: ResponseSpec(Health, description="A component does not work; checks names it")},
    opt=access(OPEN),
)
async def readyz(state: State) -> Response[Health]:
    checks: dict[str, str] = {name: await check() for name, check in state.readiness_checks.items()}
    ready = all(result == "ok" for result in checks.values())
    details = {name: text for name, detail in state.readiness_details.items() if (text := detail())}
    return Response(
        Health(status="ok" if ready else "unavailable", checks=checks, details=details),
        status_code=200 if ready else 503,
    )
