"""The rate limiter: every routed HTTP request counts against its route's budget for its caller.

It runs as the app's ``before_request`` hook, which answers in the handler's place when it returns a
response: after every middleware, so the principal that authentication put on the scope is there to
key on, whatever order plugins add middleware in; and before the request's body is read or its
dependencies are resolved. Not as a guard: Litestar copies the route handler for every guard call,
which measured 16 µs a request, a fifth of a small OTLP export; the hook costs about 1 µs. Litestar
takes the ``before_request`` of the closest layer, so a controller or handler that set its own would
leave its routes unlimited: none does.

Authentication answers before that hook runs, so a request it refuses would never be counted: a
flood of wrong tokens would cost the sidecar a token check (a scrypt hash) each, unlimited. It asks
:meth:`RateLimiter.check_address` first, for every request whose credential is not a token it has
verified already: that request counts against the client's address, as anonymous requests do.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import TooManyRequestsException
from litestar.status_codes import HTTP_429_TOO_MANY_REQUESTS
from litestar.types import Scope

from jobpulse.sidecar.guard.identity import address_key, client_key
from jobpulse.sidecar.guard.rates import Budget, WindowCounter

RETRY_AFTER = "Retry-After"


class RateLimiter:
    """Counts each request of a route against ``rest``, ``ingest`` or nothing (exempt routes), while
    ``enabled``."""

    def __init__(
        self,
        counter: WindowCounter,
        rest: Budget,
        ingest: Budget,
        ingest_routes: Iterable[str],
        exempt_routes: Iterable[str],
        *,
        enabled: bool = True,
    ) -> None:
        self.counter = counter
        self.enabled = enabled
        self._ingest_routes = tuple(ingest_routes)
        self._exempt_routes = tuple(exempt_routes)
        self.refused: dict[str, int] = {rest.name: 0, ingest.name: 0}
        """Requests answered 429, by budget."""
        self.set_budgets(rest, ingest)

    def set_budgets(self, rest: Budget, ingest: Budget) -> None:
        """New budgets apply from the next request; counts already made in open windows stay (a budget
        keeps its name, and with it its windows)."""
        self.rest, self.ingest = rest, ingest
        budgets: dict[str, Budget | None] = {route: ingest for route in self._ingest_routes}
        budgets.update((route, None) for route in self._exempt_routes)
        self._budgets = budgets

    async def check(self, request: Request[Any, Any, Any]) -> Response[dict[str, Any]] | None:
        """Count ``request``; the 429 that answers it instead when it is over its budget."""
        over = await self._count(request.scope, client_key)
        if over is None:
            return None
        budget, retry_after = over
        return Response(
            refusal(budget, retry_after),
            status_code=HTTP_429_TOO_MANY_REQUESTS,
            headers={RETRY_AFTER: str(whole_seconds(retry_after))},
            media_type=MediaType.JSON,
        )

    async def check_address(self, scope: Scope) -> None:
        """Count a request against its client's address; raise the 429 when that is over its budget.

        For authentication, before it checks a credential it has not verified already. An exception
        rather than a response, as authentication's own refusals: it answers from a middleware.
        """
        over = await self._count(scope, address_key)
        if over is not None:
            budget, retry_after = over
            content = refusal(budget, retry_after)
            raise TooManyRequestsException(
                detail=content["detail"],
                headers={RETRY_AFTER: str(whole_seconds(retry_after))},
                extra=content["extra"],
            )

    async def _count(self, scope: Scope, key: Callable[[Scope], str]) -> tuple[Budget, float] | None:
        """Count a request of ``scope`` under ``key``; its budget and the seconds to wait when it is over."""
        if not self.enabled:
            return None
        budget = self._budgets.get(scope["path_template"], self.rest)
        if budget is None:
            return None
        retry_after = await self.counter.hit(budget, key(scope))
        if retry_after is None:
            return None
        self.refused[budget.name] += 1
        return budget, retry_after


def whole_seconds(retry_after: float) -> int:
    """``Retry-After`` in whole seconds, at least one."""
    return max(1, math.ceil(retry_after))


def refusal(budget: Budget, retry_after: float) -> dict[str, Any]:
    """The body of the 429 for a request over ``budget``, the limit named.

    :meth:`RateLimiter.check` answers with it as a response rather than an exception: Litestar
    labels an exception's JSON answer with the route's own media type (HTML on ``/schema``, NDJSON
    on a log download).
    """
    seconds = whole_seconds(retry_after)
    return {
        "status_code": HTTP_429_TOO_MANY_REQUESTS,
        "detail": f"rate limit exceeded: {budget.rate} {budget.name} requests per client "
        f"(setting {budget.setting}); retry after {seconds} s",
        "extra": {"limit": budget.setting, "rate": budget.rate, "retry_after_s": seconds},
    }
