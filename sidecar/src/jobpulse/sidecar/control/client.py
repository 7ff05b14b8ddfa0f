"""A small client of the control API, for the ``jobpulse jobs`` command."""

from __future__ import annotations

import getpass
from typing import Any
from urllib.parse import quote

import httpx

from jobpulse.sidecar.auth.principal import USER_HEADER
from jobpulse.sidecar.remote import refusal


def request_control(
    base_url: str, job_id: str, action: str, reason: str | None, token: str | None = None
) -> dict[str, Any]:
    """POST the request; return the command, or raise RuntimeError with the sidecar's reason.

    With ``token`` the request acts as that token's name and role; without, a sidecar with
    authentication off attributes it to the local user name.
    """
    headers = {USER_HEADER: getpass.getuser()}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = httpx.post(
            # Quoted: a job id may hold "/", "?" or control characters, which httpx refuses in a URL.
            f"{base_url.rstrip('/')}/api/jobs/{quote(job_id, safe='')}/{action}",
            json={"reason": reason} if reason else None,
            headers=headers,
            timeout=10,
        )
    except httpx.HTTPError as error:
        raise RuntimeError(f"cannot reach the sidecar at {base_url}: {error}") from None
    if response.status_code != 202:
        raise refusal(action, response, token)
    return response.json()
