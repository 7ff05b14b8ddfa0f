"""Security headers on every HTTP response.

All responses: ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
``X-Frame-Options: DENY`` and a Content-Security-Policy: for JSON and other data, one that lets the
document load nothing and be framed nowhere; for HTML, one that allows only the sidecar's own
scripts, styles and connections, and no inline script.

The OpenAPI viewers under ``/schema`` are Litestar's pages: each loads its script from a CDN and
starts it with an inline script that embeds the whole document. :class:`SchemaPagePolicy` gives those
pages a policy of their own, computed from the page: its external scripts' and stylesheets' origins,
and exactly its inline scripts by SHA-256 hash (no ``'unsafe-inline'`` for scripts). Their runtime
styles need ``style-src 'unsafe-inline'``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

CSP = b"content-security-policy"
_CONTENT_TYPE = b"content-type"

ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
DATA_POLICY = b"default-src 'none'; frame-ancestors 'none'"
HTML_POLICY = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)
_SCRIPT_SOURCE = re.compile(rb"<script[^>]*\bsrc=[\"']?(https://[^/\"'\s>]+)", re.IGNORECASE)
_STYLE_SOURCE = re.compile(rb"<link[^>]*\bhref=[\"']?(https://[^/\"'\s>]+)", re.IGNORECASE)


def _is_html(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(name.lower() == _CONTENT_TYPE and value.startswith(b"text/html") for name, value in headers)


async def add_security_headers(message: Message, _: Scope) -> None:
    """Litestar ``before_send`` hook: the headers above on each response start, unless already set."""
    if message["type"] != "http.response.start":
        return
    headers: list[tuple[bytes, bytes]] = list(message.get("headers") or ())
    present = {name.lower() for name, _ in headers}
    headers.extend(header for header in ALWAYS if header[0] not in present)
    if CSP not in present:
        headers.append((CSP, HTML_POLICY if _is_html(headers) else DATA_POLICY))
    message["headers"] = headers


def schema_page_policy(page: bytes) -> bytes:
    """The Content-Security-Policy of one OpenAPI viewer page."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(page)
    )
    scripts = " ".join(sorted({origin.decode() for origin in _SCRIPT_SOURCE.findall(page)}))
    styles = " ".join(sorted({origin.decode() for origin in _STYLE_SOURCE.findall(page)}))
    return (
        f"default-src 'none'; script-src {hashes} {scripts}; style-src 'unsafe-inline' {styles} {scripts}; "
        f"font-src data: https:; img-src 'self' data: https:; connect-src 'self'; worker-src blob:; "
        f"object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ).encode()


class SchemaPagePolicy:
    """ASGI middleware of the OpenAPI router: holds an HTML page until its body is complete, then sends
    it with :func:`schema_page_policy`. Other responses pass untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] | None = None
        body: list[bytes] = []

        async def hold_html(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and _is_html(list(message.get("headers") or ())):
                start = dict(message)
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            page = b"".join(body)
            start["headers"] = [*start.get("headers", ()), (CSP, schema_page_policy(page))]
            await send(start)  # type: ignore[arg-type]
            await send({"type": "http.response.body", "body": page, "more_body": False})

        await self.app(scope, receive, hold_html)
