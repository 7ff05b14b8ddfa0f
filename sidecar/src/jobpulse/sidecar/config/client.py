"""A small client of the configuration API, for ``jobpulse config show``."""

from __future__ import annotations

import json
from typing import Any

import httpx

from jobpulse.sidecar.config.layers import leaves
from jobpulse.sidecar.remote import refusal


def fetch_config(base_url: str, token: str | None = None) -> dict[str, Any]:
    """The sidecar's ``GET /api/monitor/config``, or RuntimeError saying why not."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(f"{base_url.rstrip('/')}/api/monitor/config", headers=headers, timeout=10)
    except httpx.HTTPError as error:
        raise RuntimeError(f"cannot reach the sidecar at {base_url}: {error}") from None
    if response.status_code != 200:
        raise refusal("reading the configuration", response, token, "an admin's")
    return response.json()


def describe_config(view: dict[str, Any]) -> list[str]:
    """One line per key, ``key = value  (source)``, then what waits for a restart and what was rejected."""
    sources = view.get("sources", {})
    lines = [
        f"{path} = {json.dumps(value)}  ({sources.get(path, 'default')})" for path, value in leaves(view["values"])
    ]
    if view.get("file"):
        lines.append(f"# settings file: {view['file']}")
    lines.append(f"# runtime changes: version {view.get('version', 0)}")
    lines += [
        f"# waits for a restart: {key} = {json.dumps(value)}" for key, value in view.get("pending_restart", {}).items()
    ]
    for rejection in view.get("rejected", []):
        lines.append(f"# not applied: {rejection['source']} at {rejection['at']}")
        lines += [f"#   {problem['key'] or 'the settings'}: {problem['message']}" for problem in rejection["problems"]]
    return lines
