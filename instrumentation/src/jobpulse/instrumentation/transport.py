"""The job side's HTTP session: what the OTLP exporters and the control channel send requests with.

The OTLP/HTTP exporter is built on `requests` and takes a `requests.Session`; the job side makes that
session itself (and one like it for the control channel's long poll), so `requests` is a declared
dependency of the job side, not one borrowed from the exporter.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import requests
from opentelemetry.sdk.environment_variables import OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_LOGS_HEADERS
from opentelemetry.util.re import parse_env_headers

# A connection that cannot be made within this counts as refused: a job must not wait on a receiver
# that is not there. A request on a connection that was made keeps its whole timeout.
CONNECT_TIMEOUT_S = 0.5


class ReceiverUnreachable(requests.RequestException):
    """No connection could be made: refused, unresolvable, or not made within the connect timeout."""


class FailFastSession(requests.Session):
    """A `requests.Session` that gives up at once on a receiver it cannot connect to.

    The OTLP exporter retries what it counts as a connection error after a backoff of its own, about a
    second, before it reports a failure. The job side backs off itself, and a job that exits without
    a sidecar must not spend that second; an exception the exporter does not count as a connection
    error ends its attempt at once, so a connection that cannot be made is raised as
    `ReceiverUnreachable`. One failure on a pooled connection (the receiver closed it while it was
    idle) is retried first on a fresh connection, as the exporter would.
    """

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        timeout = kwargs.get("timeout")
        if isinstance(timeout, int | float):
            kwargs["timeout"] = (min(CONNECT_TIMEOUT_S, timeout), timeout)
        try:
            return super().request(method, url, *args, **kwargs)
        except requests.ConnectTimeout as error:
            raise ReceiverUnreachable(error) from error
        except requests.ConnectionError:
            try:
                return super().request(method, url, *args, **kwargs)
            except requests.ConnectionError as error:
                raise ReceiverUnreachable(error) from error


def log_export_headers(explicit: Mapping[str, str] | None = None) -> dict[str, str]:
    """The headers the OTLP log exporter sends, worked out as it does: ``OTEL_EXPORTER_OTLP_LOGS_HEADERS``,
    else ``OTEL_EXPORTER_OTLP_HEADERS``, then ``explicit`` (from `configure(headers=...)`) over them.

    The control long poll sends the same, so a job's token (``Authorization=Bearer ...``) reaches
    the sidecar's control API as it reaches its OTLP receiver.
    """
    raw = os.environ.get(OTEL_EXPORTER_OTLP_LOGS_HEADERS) or os.environ.get(OTEL_EXPORTER_OTLP_HEADERS, "")
    headers = dict(parse_env_headers(raw, liberal=True))
    headers.update({key.lower(): value for key, value in (explicit or {}).items()})
    return headers
