"""Who may do what. Roles are ordered: viewer < operator < admin.

Authentication is not configured yet, so every request acts as an admin, attributed to the name in
the ``X-JobPulse-User`` header when one is sent. When authentication arrives it only has to replace
``principal_of``: every check below already goes through a Principal.
"""

from __future__ import annotations

import msgspec
from litestar import Request

ROLES = ("viewer", "operator", "admin")
USER_HEADER = "x-jobpulse-user"


class Principal(msgspec.Struct, frozen=True):
    """The caller: a name (for attribution and ownership) and a role."""

    name: str | None
    role: str

    def at_least(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def may_control(principal: Principal, owner: str | None) -> bool:
    """Operators control any job; anyone controls the jobs they own."""
    return principal.at_least("operator") or (principal.name is not None and principal.name == owner)


async def principal_of(request: Request) -> Principal:
    """The caller of ``request`` (a Litestar dependency)."""
    return Principal(name=request.headers.get(USER_HEADER) or None, role="admin")
