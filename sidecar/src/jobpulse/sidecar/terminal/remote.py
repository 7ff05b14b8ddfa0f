"""A sidecar as the command line reaches it: a client with the caller's credentials, and every failure
of the client told in one line on stderr, with exit code 1."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NoReturn

import typer

from jobpulse.client import (
    ApiError,
    AsyncClient,
    Client,
    ConnectionFailed,
    ConnectionState,
    Feed,
    Filters,
    Forbidden,
    JobpulseError,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    UnexpectedAnswer,
    ValidationFailed,
)
from jobpulse.sidecar.auth.credentials import PREFIX, split_token
from jobpulse.sidecar.auth.principal import USER_HEADER
from jobpulse.sidecar.printable import printable


def _user_headers() -> dict[str, str]:
    """Names the local user, which a sidecar with authentication off records as who asked."""
    try:
        return {USER_HEADER: getpass.getuser()}
    except (KeyError, OSError):
        return {}


@dataclass(frozen=True)
class Remote:
    """The sidecar at ``url``, called with ``token`` (None: without one)."""

    url: str
    token: str | None

    def client(self) -> Client:
        return Client(self.url, self.token, headers=_user_headers())

    def async_client(self) -> AsyncClient:
        return AsyncClient(self.url, self.token, headers=_user_headers())

    def feed(self, filters: Filters, on_state: Callable[[ConnectionState], None] | None = None) -> Feed:
        return Feed(self.url, token=self.token, headers=_user_headers(), filters=filters, on_state=on_state)

    def token_label(self) -> str:
        """The token, by its id (never its secret), for messages."""
        parts = split_token(self.token or "")
        return f"token {PREFIX}_{parts.id}_…" if parts else "a token not shaped jp_<id>_<secret>"


def _reason(error: BaseException) -> str:
    """The system's word for what failed underneath ("Connection refused"), else the error's own."""
    inner: BaseException | None = error
    while (inner := inner.__cause__ or inner.__context__) is not None:
        if isinstance(inner, OSError) and inner.errno is not None:
            # Resolver errors have negative numbers of their own, which only their text explains.
            return os.strerror(inner.errno) if inner.errno > 0 else inner.strerror or str(inner)
    return str(error)


def failure_line(error: JobpulseError, remote: Remote, job_id: str | None = None, doing: str | None = None) -> str:
    """What went wrong, in one line: whom it concerns (the job, the token, the URL) and what to do.

    ``doing`` names the request (``pause of job 'x'``) where the sidecar refused it for a reason of
    its own; ``job_id`` is the job the command is about.
    """
    url = remote.url
    if isinstance(error, ConnectionFailed):
        return f"cannot reach the sidecar at {url}: {_reason(error)}"
    if isinstance(error, UnexpectedAnswer):
        return f"the sidecar at {url} answered what this jobpulse cannot read (another version?): {error}"
    if not isinstance(error, ApiError):
        return f"{type(error).__name__}: {error}"
    status, detail = error.status_code, error.detail
    if isinstance(error, NotFound):
        return f"job '{job_id}' not found at {url} ({status})" if job_id else f"not found at {url} ({status}): {detail}"
    if isinstance(error, Unauthorized):
        if remote.token is None:
            return f"the sidecar at {url} requires a token ({status}): give yours with --token or JOBPULSE_TOKEN"
        return (
            f"the sidecar at {url} refused {remote.token_label()} from --token or JOBPULSE_TOKEN ({status}): {detail}"
        )
    if isinstance(error, Forbidden):
        whom = f" to {remote.token_label()}" if remote.token else ""
        return f"{doing or 'the request'} refused{whom} ({status}): {detail}"
    if isinstance(error, RateLimited):
        wait = f"retry in {error.retry_after:g} s" if error.retry_after is not None else "retry later"
        return f"the sidecar at {url} is limiting this client's requests ({status}): {wait}"
    if isinstance(error, ServerError):
        where = f"; request id {error.request_id} finds it in the sidecar's log" if error.request_id else ""
        return f"the sidecar at {url} failed ({status}): {detail}{where}"
    if isinstance(error, ValidationFailed) and error.errors:
        fields = "; ".join(f"{field.key}: {field.message}" if field.key else field.message for field in error.errors)
        return f"{doing or 'the request'} refused ({status}): {fields}"
    return f"{doing or 'the request'} refused ({status}): {detail}"


def fail(line: str) -> NoReturn:
    """Print ``line`` (escaped) on stderr and exit with code 1."""
    typer.secho(f"jobpulse: {printable(line)}", err=True, fg=typer.colors.RED)
    raise typer.Exit(1)


@contextmanager
def reporting(remote: Remote, job_id: str | None = None, doing: str | None = None) -> Iterator[None]:
    """Turn a client error raised inside into its one line and exit code 1; Ctrl+C into exit code 130."""
    try:
        yield
    except JobpulseError as error:
        fail(failure_line(error, remote, job_id, doing))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
