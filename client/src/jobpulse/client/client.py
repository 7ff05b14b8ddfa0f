"""``Client`` (blocking) and ``AsyncClient`` (asyncio): the sidecar's REST API and the live feed's helpers.

Both take their endpoints from :class:`jobpulse.client.api.Api` and differ only in how a request is
sent (httpx's ``Client`` or ``AsyncClient``). The helpers built on the live feed are asyncio code;
``Client`` runs them on an event loop of its own, in a thread it starts the first time one is used.
"""

from __future__ import annotations

import contextlib
import functools
import ssl
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, ClassVar, Literal

import httpx

from jobpulse.client import follow
from jobpulse.client.api import Api
from jobpulse.client.backoff import Backoff
from jobpulse.client.endpoints import Pager, Request, headers_with_token, read_answer
from jobpulse.client.errors import ConnectionFailed
from jobpulse.client.feed import Feed, Filters
from jobpulse.client.jobs import Command, CommandOutcome, JobDetail, LogLevel, LogLine
from jobpulse.client.portal import BlockingIterator, Portal, SyncFeed

DEFAULT_TIMEOUT_S = 10.0


@functools.cache
def _tls() -> ssl.SSLContext:
    """httpx's default TLS context, made once for every client of the process: httpx makes one per
    client, loading the CA bundle each time (some 40 ms of CPU), even for a sidecar on plain HTTP."""
    return httpx.create_ssl_context()


def _http_request(request: Request) -> dict[str, Any]:
    """httpx keyword arguments for ``request``."""
    arguments: dict[str, Any] = {"method": request.method, "url": request.path, "params": request.params}
    if request.body is not None:
        arguments["content"] = request.body
        arguments["headers"] = {"content-type": "application/json"}
    return arguments


class _Base(Api):
    """What both clients are made with: where the sidecar is, how to authenticate, which httpx client."""

    http_class: ClassVar[type[httpx.Client] | type[httpx.AsyncClient]]

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.headers = dict(headers or {})
        self.timeout_s = timeout_s
        sent = headers_with_token(token, headers)
        self.http: Any = self.http_class(base_url=self.url, headers=sent, timeout=timeout_s, verify=_tls())

    @contextlib.contextmanager
    def reaching(self, request: Request) -> Iterator[None]:
        """Turns a failure to reach the sidecar into ConnectionFailed."""
        try:
            yield
        except httpx.TransportError as error:
            raise ConnectionFailed(f"{request.method} {self.url}{request.path}: {error!r}") from error

    def open_feed(
        self, filters: Filters | None = None, *, cursor: int | None = None, backoff: Backoff | None = None
    ) -> Feed:
        """The live feed (asyncio), with this client's URL and credentials."""
        return Feed(
            self.url,
            token=self.token,
            headers=self.headers,
            filters=filters or Filters(),
            cursor=cursor,
            backoff=backoff or Backoff(),
        )


class AsyncClient(_Base):
    """The sidecar's REST API for asyncio code, and the live feed.

    ``url`` is the sidecar's base URL (``http://host:4318``); ``token`` is sent as
    ``Authorization: Bearer`` on every request and on the feed's handshake; ``headers`` are sent too.
    Use it as an async context manager, or call :meth:`aclose`.
    """

    blocking: Literal[False] = False
    http_class = httpx.AsyncClient

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def send(self, request: Request, response: Any) -> Any:
        """Send ``request`` and decode the answer as ``response`` (None: no body expected)."""
        with self.reaching(request):
            answer = await self.http.request(**_http_request(request))
        return read_answer(answer.status_code, answer.headers, answer.content, request, response)

    async def iterate(self, pager: Pager[Any]) -> AsyncIterator[Any]:
        request: Request | None = pager.first()
        while request is not None:
            page = await self.send(request, pager.page_type)
            for item in page.items:
                yield item
            request = pager.after(page)

    async def stream(self, request: Request) -> AsyncIterator[bytes]:
        with self.reaching(request):
            async with self.http.stream(**_http_request(request)) as answer:
                if answer.status_code >= 400:
                    read_answer(answer.status_code, answer.headers, await answer.aread(), request, None)
                async for chunk in answer.aiter_bytes():
                    yield chunk

    feed = _Base.open_feed

    async def wait_for_end(self, job_id: str, timeout: float | None = None) -> JobDetail:
        """The job's final state once it has ended (at once if it already has); TimeoutError after ``timeout`` s."""
        return await follow.wait_for_end(self, job_id, timeout)

    def follow_logs(self, job_id: str, level: LogLevel | None = None) -> AsyncIterator[LogLine]:
        """The job's log lines from the first, then live as they come, until the job ends."""
        return follow.follow_logs(self, job_id, level)

    async def wait_for_command(self, command: Command, timeout: float = 30.0) -> CommandOutcome:
        """What became of a control command: acknowledged, superseded, expired, or timed out."""
        return await follow.wait_for_command(self, command, timeout)


class Client(_Base):
    """The sidecar's REST API, blocking, and the live feed.

    ``url`` is the sidecar's base URL (``http://host:4318``); ``token`` is sent as
    ``Authorization: Bearer`` on every request and on the feed's handshake; ``headers`` are sent too.
    Use it as a context manager, or call :meth:`close`. The live feed and the helpers built on it run
    on an event loop in a thread of the client's own, started the first time one is used.
    """

    blocking: Literal[True] = True
    http_class = httpx.Client
    _background: tuple[Portal, AsyncClient] | None = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()
        if self._background is not None:
            portal, client = self._background
            portal.run(client.aclose())
            portal.close()
            self._background = None

    def send(self, request: Request, response: Any) -> Any:
        """Send ``request`` and decode the answer as ``response`` (None: no body expected)."""
        with self.reaching(request):
            answer = self.http.request(**_http_request(request))
        return read_answer(answer.status_code, answer.headers, answer.content, request, response)

    def iterate(self, pager: Pager[Any]) -> Iterator[Any]:
        request: Request | None = pager.first()
        while request is not None:
            page = self.send(request, pager.page_type)
            yield from page.items
            request = pager.after(page)

    def stream(self, request: Request) -> Iterator[bytes]:
        with self.reaching(request), self.http.stream(**_http_request(request)) as answer:
            if answer.status_code >= 400:
                read_answer(answer.status_code, answer.headers, answer.read(), request, None)
            yield from answer.iter_bytes()

    def background(self) -> tuple[Portal, AsyncClient]:
        """The event loop thread and asyncio client the live feed runs on, started on first use."""
        if self._background is None:
            self._background = (
                Portal(),
                AsyncClient(self.url, self.token, headers=self.headers, timeout_s=self.timeout_s),
            )
        return self._background

    def feed(
        self, filters: Filters | None = None, *, cursor: int | None = None, backoff: Backoff | None = None
    ) -> SyncFeed:
        """The live feed as a blocking iterator (see :class:`jobpulse.client.feed.Feed`)."""
        return SyncFeed(self.background()[0], self.open_feed(filters, cursor=cursor, backoff=backoff))

    def wait_for_end(self, job_id: str, timeout: float | None = None) -> JobDetail:
        """The job's final state once it has ended (at once if it already has); TimeoutError after ``timeout`` s."""
        portal, client = self.background()
        return portal.run(client.wait_for_end(job_id, timeout))

    def follow_logs(self, job_id: str, level: LogLevel | None = None) -> BlockingIterator[LogLine]:
        """The job's log lines from the first, then live as they come, until the job ends."""
        portal, client = self.background()
        return BlockingIterator(portal, client.follow_logs(job_id, level))

    def wait_for_command(self, command: Command, timeout: float = 30.0) -> CommandOutcome:
        """What became of a control command: acknowledged, superseded, expired, or timed out."""
        portal, client = self.background()
        return portal.run(client.wait_for_command(command, timeout))
