"""With authentication on, the OpenAPI document says which operations need a token and how they refuse.

The document requires the bearer scheme of every operation (the auth plugin sets it as its default):
an open one (health, readiness, ``/metrics`` unless it needs a token) clears that with
``security: []``; every other one lists the 401, and the 403 naming the role it needs.
"""

from __future__ import annotations

from collections.abc import Callable

from litestar import Litestar
from litestar.handlers import BaseRouteHandler
from litestar.openapi.spec import OpenAPIHeader, OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Schema
from litestar.routes import HTTPRoute

from jobpulse.sidecar.api.openapi import ERROR
from jobpulse.sidecar.auth.roles import OPEN, describe

UNAUTHORIZED = OpenAPIResponse(
    description="No token, or one that is unknown, revoked or expired (docs/security.md)",
    content={"application/json": OpenAPIMediaType(schema=ERROR)},
    headers={
        "WWW-Authenticate": OpenAPIHeader(
            schema=Schema(type=OpenAPIType.STRING), description='Bearer realm="jobpulse", with error="invalid_token"'
        )
    },
)


def forbidden(roles: tuple[str, ...]) -> OpenAPIResponse:
    """The 403 of an operation that needs one of ``roles``."""
    return OpenAPIResponse(
        description=f"The token's role does not include {describe(roles)}",
        content={"application/json": OpenAPIMediaType(schema=ERROR)},
    )


def declare_access(required: Callable[[BaseRouteHandler], tuple[str, ...]]) -> Callable[[Litestar], None]:
    """An ``on_startup`` hook marking each operation open or listing its refusals, from the roles
    ``required`` says its handler admits (as the sidecar is configured at start)."""

    def declare(app: Litestar) -> None:
        if app.openapi_config is None:
            return
        paths = app.openapi_schema.paths or {}
        for route in app.routes:
            item = paths.get(route.path_format)
            if item is None or not isinstance(route, HTTPRoute):
                continue
            for handler in route.route_handlers:
                roles = required(handler)
                for method in handler.http_methods:
                    operation = getattr(item, method.lower(), None)
                    if operation is None:
                        continue
                    if OPEN in roles:
                        operation.security = []
                    elif operation.responses is not None:
                        operation.responses.setdefault("401", UNAUTHORIZED)
                        operation.responses.setdefault("403", forbidden(roles))

    return declare
