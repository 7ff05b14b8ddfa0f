"""``/healthz`` (the process answers) and ``/readyz`` (it can do its work)."""

from __future__ import annotations

import os

import msgspec
from litestar import Request, Response, get
from litestar.openapi import ResponseSpec

from jobpulse.sidecar.auth.roles import OPEN, access
from jobpulse.sidecar.plugin import features_of


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
async def readyz(request: Request) -> Response[Health]:
    checks: dict[str, str] = {}
    # Which process answered: one of several workers may share the port (jobpulse sidecar --workers).
    details: dict[str, str] = {"process": f"pid {os.getpid()}"}
    for feature in features_of(request.app):
        if (result := await feature.ready()) is not None:
            checks[feature.name] = result
        if detail := feature.readiness_detail():
            details[feature.name] = detail
    ready = all(result == "ok" for result in checks.values())
    return Response(
        Health(status="ok" if ready else "unavailable", checks=checks, details=details),
        status_code=200 if ready else 503,
    )
