"""The caller of a request: who it is (for attribution and ownership) and what its role allows."""

from __future__ import annotations

import msgspec

from jobpulse.sidecar.auth.roles import grants

USER_HEADER = "x-jobpulse-user"
"""Names the caller when authentication is off, and only then: it is not a credential."""


class Principal(msgspec.Struct, frozen=True):
    """The caller: a name, a role, and the id of the token it presented (None with authentication off).

    With authentication on, the name is the token's; with it off, every caller acts as an admin named
    by the ``X-JobPulse-User`` header it may send (trusted only then).
    """

    name: str | None
    role: str
    token_id: str | None = None

    def at_least(self, role: str) -> bool:
        """Whether the caller's role includes ``role``."""
        return grants(self.role, role)

    def admitted(self, roles: tuple[str, ...]) -> bool:
        """Whether the caller's role includes any of ``roles``."""
        return any(grants(self.role, role) for role in roles)
