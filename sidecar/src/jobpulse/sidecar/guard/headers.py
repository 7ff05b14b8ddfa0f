"""Security headers on every HTTP response.

All responses: ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
``X-Frame-Options: DENY`` and a Content-Security-Policy: for JSON and other data, one that lets the
document load nothing and be framed nowhere; for HTML, one that allows only the sidecar's own
scripts, styles and connections, and no inline script.

The sidecar serves no page that needs more: the OpenAPI document is JSON only (Litestar's HTML
viewers load their scripts from a CDN) and the console's page sets a stricter policy of its own.
"""

from __future__ import annotations

from litestar.types import Message, Scope

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


# What a response that sets none of these headers gets: most of them, every OTLP export among them.
_ALL_DATA = [*ALWAYS, (CSP, DATA_POLICY)]
_ALL_HTML = [*ALWAYS, (CSP, HTML_POLICY)]
_ADDED = frozenset(name for name, _ in _ALL_DATA)


async def add_security_headers(message: Message, _: Scope) -> None:
    """Litestar ``before_send`` hook: the headers above on each response start, unless already set."""
    if message["type"] != "http.response.start":
        return
    headers: list[tuple[bytes, bytes]] = list(message.get("headers") or ())
    present = set()
    html = False
    for name, value in headers:
        name = name.lower()
        present.add(name)
        if name == _CONTENT_TYPE and value.startswith(b"text/html"):
            html = True
    if present.isdisjoint(_ADDED):
        headers += _ALL_HTML if html else _ALL_DATA
    else:
        headers.extend(header for header in ALWAYS if header[0] not in present)
        if CSP not in present:
            headers.append((CSP, HTML_POLICY if html else DATA_POLICY))
    message["headers"] = headers
