"""What the command line says when a running sidecar refuses a request."""

from __future__ import annotations

import httpx


def refusal(what: str, response: httpx.Response, token: str | None, whose: str = "your") -> RuntimeError:
    """``what`` was refused: the status, the sidecar's reason and, for a 401 sent without a token, how
    to send one (``whose`` token: "your", "an admin's")."""
    try:
        detail = response.json()["detail"]
    except (ValueError, KeyError, TypeError):
        detail = response.text
    hint = f" (give {whose} token with --token or JOBPULSE_TOKEN)" if response.status_code == 401 and not token else ""
    return RuntimeError(f"{what} refused ({response.status_code}): {detail}{hint}")
