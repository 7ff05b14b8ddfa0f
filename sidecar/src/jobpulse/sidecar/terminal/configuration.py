"""``jobpulse config show``: the settings a running sidecar uses, read through the client, one line a key."""

from __future__ import annotations

import json
from datetime import UTC

import msgspec
import typer

from jobpulse.client import ApiError, Client, ConfigView, JobpulseError
from jobpulse.sidecar.config.layers import leaves
from jobpulse.sidecar.terminal.remote import Remote, fail, failure_line


def refused(error: ApiError, remote: Remote) -> str:
    """The sidecar's refusal in one line; how to give a token when it wanted one and none was sent."""
    hint = (
        " (give an admin's token with --token or JOBPULSE_TOKEN)"
        if error.status_code == 401 and not remote.token
        else ""
    )
    return f"reading the configuration refused ({error.status_code}): {error.detail}{hint}"


def describe_config(view: ConfigView) -> list[str]:
    """One line per key, ``key = value  (source)``, then what waits for a restart and what was rejected."""
    lines = [
        f"{path} = {json.dumps(value)}  ({view.sources.get(path, 'default')})" for path, value in leaves(view.values)
    ]
    if view.file:
        lines.append(f"# settings file: {view.file}")
    lines.append(f"# runtime changes: version {view.version}")
    lines += [f"# waits for a restart: {key} = {json.dumps(value)}" for key, value in view.pending_restart.items()]
    for rejection in view.rejected:
        lines.append(f"# not applied: {rejection.source} at {rejection.at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC")
        lines += [f"#   {problem.key or 'the settings'}: {problem.message}" for problem in rejection.problems]
    return lines


def show_config(remote: Remote, as_json: bool) -> None:
    """Print the sidecar's configuration: described line by line, or (``as_json``) its answer, indented."""
    try:
        with remote.client() as client:
            if as_json:
                answer = client.send(Client.config.request(), msgspec.Raw)
                typer.echo(json.dumps(json.loads(bytes(answer)), indent=2))
                return
            view = client.config()
    except ApiError as error:
        fail(refused(error, remote))
    except JobpulseError as error:
        fail(failure_line(error, remote))
    for line in describe_config(view):
        typer.echo(line)
