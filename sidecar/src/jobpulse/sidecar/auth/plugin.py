"""AuthPlugin: authentication and roles, added to an app as one Litestar plugin.

It adds the access middleware, the ``principal`` and ``auth_service`` dependencies, the ``/api/auth``
routes, its lifespan (token rechecks) and readiness check, marks the OpenAPI document's routes open
and, with authentication on, documents the bearer scheme there. Every route the app registers must
declare its roles (``opt=access(...)``, see roles): one that does not stops the app from being built.

The middleware sets ``scope["user"]`` to the caller's Principal (None on open routes): middleware that
needs the caller (rate limits per token) goes after it in the app's middleware list.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.enums import HttpMethod
from litestar.exceptions import ImproperlyConfiguredException
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins import InitPlugin, ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute
from sqlalchemy.ext.asyncio import AsyncEngine

from jobpulse.sidecar.auth.api import AuthController, principal_of
from jobpulse.sidecar.auth.middleware import AccessMiddleware
from jobpulse.sidecar.auth.roles import OPEN, ROLE_KEY, access, declared_roles
from jobpulse.sidecar.auth.service import AuthService
from jobpulse.sidecar.settings import Settings

_BEARER = "bearer"


class AuthPlugin(InitPlugin, ReceiveRoutePlugin):
    """Tokens, roles and WebSocket tickets for the sidecar (docs/security.md)."""

    def __init__(self, settings: Settings, engine: AsyncEngine) -> None:
        self.service = AuthService(settings, engine)
        self.middleware = AccessMiddleware(
            self.service.authenticator, metrics_require_token=settings.metrics_require_token
        )

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        service = self.service
        app_config.route_handlers.append(AuthController)
        app_config.middleware.append(self.middleware)
        app_config.dependencies["principal"] = Provide(principal_of)
        app_config.dependencies["auth_service"] = Provide(lambda: service, use_cache=True, sync_to_thread=False)
        app_config.lifespan.append(self.lifespan)
        checks = app_config.state.get("readiness_checks")
        if checks is not None:
            checks["auth"] = service.check
        openapi = app_config.openapi_config
        if openapi is not None:
            # The API's description is public (it is in the docs too): its routes are open.
            if openapi.openapi_router is None:
                openapi.openapi_router = Router(
                    openapi.path or "/schema", route_handlers=[], include_in_schema=False, opt=access(OPEN)
                )
            if service.enabled:
                scheme = SecurityScheme(type="http", scheme="bearer", description="A jobpulse token (jp_...)")
                existing = openapi.components if isinstance(openapi.components, list) else [openapi.components]
                openapi.components = [*existing, Components(security_schemes={_BEARER: scheme})]
                openapi.security = [{_BEARER: []}]
        return app_config

    def receive_route(self, route: BaseRoute) -> None:
        """Refuse a route that does not declare who may call it."""
        handlers = route.route_handlers if isinstance(route, HTTPRoute) else [getattr(route, "route_handler", None)]
        for handler in filter(None, handlers):
            # Litestar answers OPTIONS on every path itself (CORS preflights): no credentials there.
            if set(getattr(handler, "http_methods", ())) == {HttpMethod.OPTIONS}:
                continue
            if declared_roles(handler.opt) is None:
                raise ImproperlyConfiguredException(
                    f"route {route.path} ({handler.handler_name}) declares no known role: give its handler or "
                    f"controller opt=access(...) (jobpulse.sidecar.auth.roles), got {handler.opt.get(ROLE_KEY)!r}"
                )

    @asynccontextmanager
    async def lifespan(self, app: Litestar) -> AsyncIterator[None]:
        await self.service.start()
        try:
            yield
        finally:
            await self.service.stop()
