"""``jobpulse tokens create|list|revoke`` on the database, seen by every sidecar that shares it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from websockets.sync.client import connect

from tests.auth.conftest import bearer, database_in
from tests.support import loopback
from tests.support.polling import wait_for
from tests.support.sidecar import REPO, SidecarProcess

RECHECK_S = 0.5


def jobpulse(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "JOBPULSE_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["JOBPULSE_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "jobpulse.sidecar", *args], env=env, capture_output=True, text=True, timeout=60
    )


def create(name: str, role: str, database_url: str, *flags: str) -> str:
    result = jobpulse("tokens", "create", name, "--role", role, *flags, database_url=database_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1, "the token alone, on the last line of standard output"
    return result.stdout.strip()


def listed(database_url: str, *flags: str) -> list[dict]:
    result = jobpulse("tokens", "list", "--json", *flags, database_url=database_url)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def replica(workdir, database_url: str, name: str) -> SidecarProcess:
    return SidecarProcess(
        workdir, name=name, auth_enabled="true", database_url=database_url, auth_recheck_interval_s=RECHECK_S
    )


def test_create_list_and_the_token_working(tmp_path):
    database_url = database_in(tmp_path)
    token = create("ana", "operator", database_url, "--expires", "30d")
    assert token.startswith("jp_")

    again = jobpulse("tokens", "create", "ana", "--role", "viewer", database_url=database_url)
    assert again.returncode == 1 and "a token named 'ana' exists" in again.stderr and not again.stdout

    [entry] = listed(database_url)
    assert entry["name"] == "ana" and entry["role"] == "operator" and entry["state"] == "active"
    assert entry["last_used_at"] is None
    expires = datetime.fromisoformat(entry["expires_at"]) - datetime.fromisoformat(entry["created_at"])
    assert abs(expires - timedelta(days=30)) < timedelta(seconds=1)
    table = jobpulse("tokens", "list", database_url=database_url)
    assert "ana" in table.stdout and "operator" in table.stdout
    secret = token.split("_", 2)[2]
    for output in (table.stdout, json.dumps(listed(database_url, "--all"))):
        assert secret not in output, "the secret is shown once, at creation"

    before = datetime.now(UTC)
    with replica(tmp_path, database_url, "sidecar") as sidecar:
        whoami = loopback.get(sidecar.url + "/api/auth/whoami", headers=bearer(token)).json()
        assert whoami == {"name": "ana", "role": "operator", "auth_enabled": True}
    # Written in batches, and at the latest when the sidecar stops.
    [entry] = listed(database_url)
    assert datetime.fromisoformat(entry["last_used_at"]) >= before


def test_bad_arguments_are_refused_naming_the_value(tmp_path):
    database_url = database_in(tmp_path)
    # Side by side: none of them writes, and only the last opens (so migrates) the new database.
    with ThreadPoolExecutor(3) as pool:
        bad_role, bad_expiry, bad_name = pool.map(
            lambda args: jobpulse(*args, database_url=database_url),
            [
                ("tokens", "create", "bo", "--role", "root"),
                ("tokens", "create", "bo", "--role", "viewer", "--expires", "soon"),
                ("tokens", "create", " bo", "--role", "viewer"),
            ],
        )
    assert bad_role.returncode == 2 and "role 'root'" in bad_role.stderr
    assert bad_expiry.returncode == 2 and "'soon'" in bad_expiry.stderr
    assert bad_name.returncode == 1 and "token name" in bad_name.stderr
    missing = jobpulse("tokens", "revoke", "nobody", database_url=database_url)
    assert missing.returncode == 1 and "no usable token named 'nobody'" in missing.stderr
    assert listed(database_url, "--all") == []


def test_every_replica_sharing_the_database_accepts_tokens_tickets_and_revocations(tmp_path):
    database_url = database_in(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with replica(tmp_path / "a", database_url, "a") as a, replica(tmp_path / "b", database_url, "b") as b:
        # Made after both started, on neither of them.
        token = create("bo", "viewer", database_url)
        for sidecar in (a, b):
            assert loopback.get(sidecar.url + "/api/jobs", headers=bearer(token)).status_code == 200

        # A ticket from one replica opens the feed on the other, once. Tickets are a browser's way in,
        # over the protocol itself; jobpulse.client sends its token.
        ticket = loopback.post(a.url + "/api/auth/ws-ticket", headers=bearer(token)).json()["ticket"]
        with connect(f"{b.ws_url}?ticket={ticket}", open_timeout=10) as feed:
            assert json.loads(feed.recv(timeout=10))[0]["type"] == "snapshot"

        replaced = create("bo", "viewer", database_url, "--replace")
        revoked_at = time.monotonic()
        for sidecar in (a, b):
            wait_for(
                lambda s=sidecar: loopback.get(s.url + "/api/jobs", headers=bearer(token)).status_code == 401,
                timeout=RECHECK_S + 5,
                interval=0.05,
            )
            assert loopback.get(sidecar.url + "/api/jobs", headers=bearer(replaced)).status_code == 200
        assert time.monotonic() - revoked_at < RECHECK_S + 5

        result = jobpulse("tokens", "revoke", "bo", database_url=database_url)
        assert result.returncode == 0 and "revoked token 'bo'" in result.stdout
        for sidecar in (a, b):
            wait_for(
                lambda s=sidecar: loopback.get(s.url + "/api/jobs", headers=bearer(replaced)).status_code == 401,
                timeout=RECHECK_S + 5,
                interval=0.05,
            )
        refused = loopback.get(b.url + "/api/jobs", headers=bearer(replaced)).json()
        assert refused["detail"] == "token 'bo' has been revoked"
    states = sorted(entry["state"] for entry in listed(database_url, "--all"))
    assert states == ["revoked", "revoked"]
