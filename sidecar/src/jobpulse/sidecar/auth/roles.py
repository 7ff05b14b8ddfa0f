"""Roles, and how a route declares the role it needs.

``viewer`` < ``operator`` < ``admin``: each includes the ones before it. ``ingest`` stands apart: it
sends (OTLP, the job side's control long poll, Alertmanager's webhook) and can do nothing else. An
admin may do everything, sending included.

Every route handler declares who may call it in its ``opt``, on the handler or on its controller:
``opt=access(VIEWER)``, or several roles when any of them will do (``access(VIEWER, INGEST)``). The
auth plugin refuses to build an app with a route that declares nothing, so a new route cannot be
left open by forgetting.
"""

from __future__ import annotations

from typing import Any

INGEST = "ingest"
VIEWER = "viewer"
OPERATOR = "operator"
ADMIN = "admin"

TOKEN_ROLES = (INGEST, VIEWER, OPERATOR, ADMIN)
"""The roles a token can hold."""

OPEN = "open"
"""Declared by routes anyone may call without a token: health, readiness, the OpenAPI document."""

METRICS = "metrics"
"""Declared by ``/metrics``: open, or viewer when the ``metrics_require_token`` setting is on."""

ROLE_KEY = "role"
"""The key of a route handler's ``opt`` that holds the roles it admits."""

_RANKED = (VIEWER, OPERATOR, ADMIN)
_DECLARABLE = frozenset({*TOKEN_ROLES, OPEN, METRICS})


def access(*roles: str) -> dict[str, Any]:
    """A route handler's ``opt`` admitting a token with any of ``roles`` (or a role above one)."""
    return {ROLE_KEY: roles}


def grants(held: str, needed: str) -> bool:
    """Whether a token with role ``held`` may do what needs role ``needed``."""
    if held in (ADMIN, needed):
        return True
    if INGEST in (held, needed):
        return False
    return _RANKED.index(held) >= _RANKED.index(needed)


def declared_roles(opt: dict[str, Any]) -> tuple[str, ...] | None:
    """The roles a handler's ``opt`` declares, or None when it declares none or names an unknown role."""
    value = opt.get(ROLE_KEY)
    roles = (value,) if isinstance(value, str) else tuple(value) if isinstance(value, tuple | list) else ()
    if not roles or not all(role in _DECLARABLE for role in roles):
        return None
    return roles


def describe(roles: tuple[str, ...]) -> str:
    """``roles`` for a message: "the viewer role", "the viewer or ingest role"."""
    return f"the {' or '.join(roles)} role"
