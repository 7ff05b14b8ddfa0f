"""Whether authentication is on, and the one setup the sidecar refuses to start in.

Authentication is off by default only while the sidecar listens on loopback: the embedded demo stays
zero-config, and only processes on the same machine can reach it. Listening on any other address turns
it on unless the operator explicitly accepts the risk with ``insecure_no_auth``; turning it off with
``auth_enabled = false`` alone on such an address is refused before anything is bound, and, while the
sidecar runs, as a change of its settings (Settings.serving_problem).
"""

from __future__ import annotations

import ipaddress

TOKEN_HINT = "jobpulse tokens create NAME --role admin"


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` reaches only this machine (``0.0.0.0`` and ``::`` reach every network)."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def auth_required(host: str, auth_enabled: bool | None, insecure_no_auth: bool) -> bool:
    """Whether requests must present a token."""
    if insecure_no_auth:
        return False
    return auth_enabled if auth_enabled is not None else not is_loopback(host)


def exposure_error(host: str, auth_enabled: bool | None, insecure_no_auth: bool) -> str | None:
    """Why these settings must not start a sidecar, or None when they may."""
    if insecure_no_auth and auth_enabled:
        return "auth_enabled = true and insecure_no_auth contradict each other: keep one"
    if auth_enabled is False and not insecure_no_auth and not is_loopback(host):
        return (
            f"refusing to listen on {host} with authentication off (auth_enabled = false): anyone who reaches "
            f"it could read, pause and cancel every job. Leave authentication on and create a token with "
            f"`{TOKEN_HINT}`, or, on a network you trust, accept the risk with --insecure-no-auth "
            f"(JOBPULSE_INSECURE_NO_AUTH=true)"
        )
    return None
