"""Who a request counts against: the authenticated principal's name, else the client's address."""

from __future__ import annotations

from typing import Any


def client_key(scope: Any) -> str:
    """The budget key of a connection's ``scope``.

    Authentication, when on, puts a principal with a ``name`` on the scope as ``user`` and the
    credential it checked as ``auth``: its requests count against that name wherever they come from.
    Otherwise the client's IP address is the key. A name the caller chose itself is never used, or
    changing it would buy a fresh budget: with authentication off the principal is named by the
    ``X-JobPulse-User`` header and there is no ``auth``.
    """
    name = getattr(scope.get("user"), "name", None)
    if scope.get("auth") and isinstance(name, str) and name:
        return f"principal:{name}"
    return address_key(scope)


def address_key(scope: Any) -> str:
    """The budget key of the client's IP address, whoever the request says it is."""
    client = scope.get("client")
    return f"ip:{client[0] if client else 'unknown'}"
