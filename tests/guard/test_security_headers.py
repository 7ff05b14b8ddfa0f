"""The security-headers hook on response starts: what it adds, and what a response set itself stays."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jobpulse.sidecar.guard.headers import CSP, DATA_POLICY, HTML_POLICY, add_security_headers


def started(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "http.response.start", "status": 200, "headers": list(headers)}
    asyncio.run(add_security_headers(message, {}))  # type: ignore[arg-type]
    return message


@pytest.mark.parametrize(
    ("content_type", "policy"),
    [(b"application/x-protobuf", DATA_POLICY), (b"text/html; charset=utf-8", HTML_POLICY), (None, DATA_POLICY)],
)
def test_a_response_setting_none_of_them_gets_all_four(content_type: bytes | None, policy: bytes) -> None:
    own = [(b"content-type", content_type)] if content_type else []
    headers = started(*own)["headers"]
    assert headers[: len(own)] == own
    assert dict(headers[len(own) :]) == {
        b"x-content-type-options": b"nosniff",
        b"referrer-policy": b"no-referrer",
        b"x-frame-options": b"DENY",
        CSP: policy,
    }


def test_headers_a_response_set_itself_are_kept_whatever_their_case() -> None:
    headers = started(
        (b"Content-Type", b"text/html"), (b"X-Frame-Options", b"SAMEORIGIN"), (CSP, b"default-src 'self'")
    )["headers"]
    names = [name.lower() for name, _ in headers]
    assert sorted(names) == sorted(
        [b"content-type", b"x-frame-options", CSP, b"x-content-type-options", b"referrer-policy"]
    )
    assert dict(headers)[b"X-Frame-Options"] == b"SAMEORIGIN"
    assert dict(headers)[CSP] == b"default-src 'self'"


def test_a_response_setting_only_some_gets_the_policy_for_its_content_type() -> None:
    headers = dict(started((b"content-type", b"text/html"), (b"referrer-policy", b"same-origin"))["headers"])
    assert headers[b"referrer-policy"] == b"same-origin"
    assert headers[CSP] == HTML_POLICY
    assert headers[b"x-frame-options"] == b"DENY"


def test_other_messages_are_left_alone() -> None:
    body = {"type": "http.response.body", "body": b"x"}
    asyncio.run(add_security_headers(body, {}))  # type: ignore[arg-type]
    assert body == {"type": "http.response.body", "body": b"x"}
