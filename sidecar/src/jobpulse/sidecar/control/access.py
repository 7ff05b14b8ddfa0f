"""Who may control a job: operators any job, everyone the jobs they own."""

from __future__ import annotations

from jobpulse.sidecar.auth.principal import Principal
from jobpulse.sidecar.auth.roles import OPERATOR


def may_control(principal: Principal, owner: str | None) -> bool:
    """Operators control any job; anyone controls the jobs they own (``jobpulse.job.owner`` = their name)."""
    return principal.at_least(OPERATOR) or (principal.name is not None and principal.name == owner)
