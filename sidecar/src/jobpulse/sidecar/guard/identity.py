"""Who a request counts against: the authenticated principal's name, else the client's address."""

from __future__ import annotations

from typing import Any


def client_key(scope: Any) -> str:
    """The budget key of a connection's ``scope``.

    Authentication, when configured, puts a principal with a ``name`` on the scope as ``user``: its
    requests count against that name wherever they come from. Without one, the client's IP address
    is the key. A name the caller chose itself (a header) is never used, or changing it would buy a
    fresh budget.
    """
    name = getattr(scope.get("user"), "name", None)
    if isinstance(name, str) and name:
        return f"principal:{name}"
    client = scope.get("client")
    return f"ip:{client[0] if client else 'unknown'}"
