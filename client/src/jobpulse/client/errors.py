"""What can go wrong talking to a sidecar: one exception type per kind of answer, all ``JobpulseError``.

The sidecar answers errors as JSON ``{"status_code", "detail", "extra"?, "request_id"?}``;
:func:`error_for` turns such an answer into the matching exception, whether it came from a REST call
or from the live feed's handshake.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from typing import Any

import msgspec


class FieldError(msgspec.Struct, frozen=True):
    """One reason the server refused a request: the field, parameter or setting (``key``) and why.

    A refused setting also has the ``value`` refused (``msgspec.UNSET`` when the server did not repeat
    it) and what is ``allowed``.
    """

    message: str
    key: str | None = None
    source: str | None = None
    value: Any = msgspec.UNSET
    allowed: str | None = None


class JobpulseError(Exception):
    """Base of every error this client raises."""


class ConnectionFailed(JobpulseError):
    """The sidecar could not be reached (refused, unresolvable, timed out, connection dropped)."""


class UnexpectedAnswer(JobpulseError):
    """The sidecar answered something this client cannot read (a newer or older server)."""


class ApiError(JobpulseError):
    """The sidecar answered with an error status.

    ``detail`` is the server's message; ``body`` the whole decoded answer (``None`` when not JSON).
    """

    def __init__(self, status_code: int, detail: str, body: Any = None) -> None:
        super().__init__(f"{status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail
        self.body = body


class ValidationFailed(ApiError):
    """400 or 422: a parameter or body field was refused; ``errors`` lists each one the server named."""

    def __init__(self, status_code: int, detail: str, body: Any = None, errors: list[FieldError] | None = None) -> None:
        super().__init__(status_code, detail, body)
        self.errors = errors or []


class Unauthorized(ApiError):
    """401: no token, or one the sidecar does not accept."""


class Forbidden(ApiError):
    """403: the token's role does not allow this."""


class NotFound(ApiError):
    """404: no such job, silence or channel (``detail`` names it)."""


class Conflict(ApiError):
    """409: the request does not fit the current state (pausing a job that has ended...)."""


class RateLimited(ApiError):
    """429: too many requests; ``retry_after`` is how many seconds the server asks to wait (or None)."""

    def __init__(self, status_code: int, detail: str, body: Any = None, retry_after: float | None = None) -> None:
        super().__init__(status_code, detail, body)
        self.retry_after = retry_after


class ServerError(ApiError):
    """5xx: the sidecar failed; ``request_id`` finds the traceback in its log."""

    def __init__(self, status_code: int, detail: str, body: Any = None, request_id: str | None = None) -> None:
        super().__init__(status_code, detail, body)
        self.request_id = request_id


_BY_STATUS: dict[int, type[ApiError]] = {401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict}


def retry_after_s(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date (RFC 9110)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - now(), 0.0)


def _field_errors(extra: Any) -> list[FieldError]:
    if not isinstance(extra, list):
        return []
    errors = []
    for item in extra:
        if isinstance(item, Mapping):
            errors.append(
                FieldError(
                    str(item.get("message", "")),
                    item.get("key"),
                    item.get("source"),
                    item.get("value", msgspec.UNSET),
                    item.get("allowed"),
                )
            )
    return errors


def error_for(status_code: int, headers: Mapping[str, str], content: bytes) -> ApiError:
    """The exception for an error answer with this status, headers (case-insensitive) and body."""
    try:
        body = msgspec.json.decode(content) if content else None
    except msgspec.DecodeError:
        body = None
    fields = body if isinstance(body, Mapping) else {}
    detail = str(fields.get("detail") or content.decode(errors="replace")[:500] or f"HTTP {status_code}")
    if status_code in (400, 422):
        return ValidationFailed(status_code, detail, body, _field_errors(fields.get("extra")))
    if status_code == 429:
        return RateLimited(status_code, detail, body, retry_after_s(headers.get("retry-after")))
    if status_code >= 500:
        request_id = headers.get("x-request-id") or fields.get("request_id")
        return ServerError(status_code, detail, body, request_id)
    return _BY_STATUS.get(status_code, ApiError)(status_code, detail, body)
