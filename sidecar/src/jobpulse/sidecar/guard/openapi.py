"""The OpenAPI document names the 429 every rate-limited operation may answer with."""

from __future__ import annotations

from collections.abc import Callable, Collection

from litestar import Litestar
from litestar.openapi.spec import OpenAPIHeader, OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Schema

from jobpulse.sidecar.api.openapi import ERROR
from jobpulse.sidecar.guard.ratelimit import RETRY_AFTER

TOO_MANY_REQUESTS = OpenAPIResponse(
    description="Over a rate limit; extra.limit names the setting (docs/security.md)",
    content={"application/json": OpenAPIMediaType(schema=ERROR)},
    headers={
        RETRY_AFTER: OpenAPIHeader(
            schema=Schema(type=OpenAPIType.INTEGER), description="Seconds until the budget's window closes"
        )
    },
)


def declare_rate_limits(exempt_paths: Collection[str]) -> Callable[[Litestar], None]:
    """An ``on_startup`` hook adding the 429 to every operation outside ``exempt_paths``."""

    def declare(app: Litestar) -> None:
        if app.openapi_config is None:
            return
        for path, item in (app.openapi_schema.paths or {}).items():
            if path in exempt_paths:
                continue
            for method in ("get", "put", "post", "delete", "patch"):
                operation = getattr(item, method)
                if operation is not None and operation.responses is not None:
                    operation.responses.setdefault("429", TOO_MANY_REQUESTS)

    return declare
