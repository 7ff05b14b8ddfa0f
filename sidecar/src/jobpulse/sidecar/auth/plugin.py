"""The auth feature: authentication and roles, added to an app as one Litestar plugin.

It adds the access middleware, the ``principal`` and ``auth_service`` dependencies, the ``/api/auth``
routes, its lifespan (token rechecks) and readiness check, marks the OpenAPI document's routes open
and, with authentication on, documents the bearer scheme there and which operations need no token.
Every route the app registers must declare its roles (``opt=access(...)``, see roles): one that does
not stops the app from being built.

The middleware sets ``scope["user"]`` to the caller's Principal (None on open routes): middleware that
needs the caller (rate limits per token) goes after it in the app's middleware list. ``throttle``
(the rate limiter's count by client address) is asked before a credential not verified yet is checked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from litestar import Router
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.enums import HttpMethod
from litestar.exceptions import ImproperlyConfiguredException
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins import ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute
from litestar.types import ControllerRouterHandler, Scope

from jobpulse.sidecar.auth.api import AuthController, principal_of
from jobpulse.sidecar.auth.middleware import AccessMiddleware
from jobpulse.sidecar.auth.openapi import declare_access
from jobpulse.sidecar.auth.roles import OPEN, ROLE_KEY, access, declared_roles
from jobpulse.sidecar.auth.service import AuthService
from jobpulse.sidecar.plugin import Core, Feature
from jobpulse.sidecar.settings import Settings

_BEARER = "bearer"


class AuthFeature(Feature, ReceiveRoutePlugin):
    """Tokens, roles and WebSocket tickets for the sidecar (docs/security.md)."""

    name = "auth"

    def __init__(self, core: Core, throttle: Callable[[Scope], Awaitable[None]] | None = None) -> None:
        super().__init__(core)
        self.service = AuthService(core.settings, core.database)
        self.middleware = AccessMiddleware(
            self.service.authenticator,
            enabled=self.service.enabled,
            metrics_require_token=core.settings.metrics_require_token,
            throttle=throttle,
        )
        core.live.subscribe(self._reconfigure)

    async def _reconfigure(self, settings: Settings) -> None:
        # The middleware first: requests need a token (and anonymous WebSockets end) at once, before
        # the service's log lines, which read the database.
        self.middleware.reconfigure(metrics_require_token=settings.metrics_require_token)
        self.middleware.require_tokens(settings.auth_on)
        await self.service.reconfigure(settings)

    def route_handlers(self) -> list[ControllerRouterHandler]:
        return [AuthController]

    def dependencies(self) -> dict[str, object]:
        return {"auth_service": self.service}

    async def start(self) -> None:
        await self.service.start()

    async def stop(self) -> None:
        await self.service.stop()

    async def ready(self) -> str:
        return await self.service.check()

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        service = self.service
        app_config.middleware.append(self.middleware)
        app_config.dependencies["principal"] = Provide(principal_of)
        openapi = app_config.openapi_config
        if openapi is not None:
            # The API's description is public (it is in the docs too): its routes are open.
            if openapi.openapi_router is None:
                openapi.openapi_router = Router(openapi.path or "/schema", route_handlers=[], include_in_schema=False)
            openapi.openapi_router.opt.update(access(OPEN))
            if service.enabled:
                scheme = SecurityScheme(type="http", scheme="bearer", description="A jobpulse token (jp_...)")
                existing = openapi.components if isinstance(openapi.components, list) else [openapi.components]
                openapi.components = [*existing, Components(security_schemes={_BEARER: scheme})]
                openapi.security = [{_BEARER: []}]
                app_config.on_startup.append(declare_access(self.middleware.required))
        return super().on_app_init(app_config)

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
