"""Authentication turned on and off while the sidecar runs is held to the rule its start is held to
(docs/security.md): a change from any source that would leave it serving an address beyond loopback
without authentication, and without the risk accepted, is refused whole and named.

A real application with its lifespan running; nothing binds the address it is configured for.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient

from jobpulse.sidecar.app import create_app
from jobpulse.sidecar.auth.plugin import AuthFeature
from jobpulse.sidecar.config.plugin import ConfigFeature
from jobpulse.sidecar.config.service import SIGHUP
from jobpulse.sidecar.settings import load_sources
from tests.auth.conftest import bearer

NETWORK = "0.0.0.0"


def sources(tmp_path: Path, toml: str) -> Any:
    path = tmp_path / "jobpulse.toml"
    path.write_text(f'host = "{NETWORK}"\ndatabase_url = "sqlite+aiosqlite:///{tmp_path / "history.db"}"\n{toml}')
    return load_sources(path, environ={})


async def test_authentication_off_on_a_network_address_is_refused_and_accepted_with_the_risk(tmp_path, caplog):
    app = create_app(sources(tmp_path, ""))
    auth = app.plugins.get(AuthFeature)
    async with AsyncTestClient(app) as client:
        _, token = await auth.service.tokens.create("admin", "admin")
        before = (await client.get("/api/monitor/config", headers=bearer(token))).json()

        refused = await client.patch("/api/monitor/config", json={"auth_enabled": False}, headers=bearer(token))
        assert refused.status_code == 422, refused.text
        [problem] = refused.json()["extra"]
        assert (problem["key"], problem["value"], problem["source"]) == ("auth_enabled", False, "the request")
        assert f"refusing to listen on {NETWORK} with authentication off" in problem["message"]
        assert "insecure_no_auth = true" in problem["allowed"]
        assert (await client.get("/api/monitor/config", headers=bearer(token))).json() == before
        assert auth.middleware.enabled

        # Straight on the logger: the app's logging configuration replaced the root's handlers.
        auth_log = logging.getLogger("jobpulse.sidecar.auth")
        auth_log.addHandler(caplog.handler)
        try:
            taken = await client.patch(
                "/api/monitor/config", json={"auth_enabled": False, "insecure_no_auth": True}, headers=bearer(token)
            )
        finally:
            auth_log.removeHandler(caplog.handler)
        assert taken.status_code == 200, taken.text
        assert not auth.middleware.enabled and not auth.service.enabled
        assert "authentication is OFF (insecure_no_auth)" in caplog.text

        # Taking the risk back alone would leave it unprotected: refused, naming that key.
        refused = await client.patch("/api/monitor/config", json={"insecure_no_auth": None})
        assert refused.status_code == 422, refused.text
        [problem] = refused.json()["extra"]
        assert (problem["key"], problem["value"]) == ("insecure_no_auth", False)
        assert not auth.middleware.enabled


async def test_a_settings_file_read_again_is_refused_when_it_would_leave_the_address_unprotected(tmp_path):
    given = sources(tmp_path, "")
    app = create_app(given)
    config = app.plugins.get(ConfigFeature).service
    async with AsyncTestClient(app):
        database = f"sqlite+aiosqlite:///{tmp_path / 'history.db'}"
        Path(given.file_path).write_text(f'host = "{NETWORK}"\ndatabase_url = "{database}"\nauth_enabled = false\n')
        assert not await config.reload(SIGHUP)
        assert app.plugins.get(AuthFeature).middleware.enabled, "the running settings stay"
        detail = config.readiness_detail() or ""
        assert "auth_enabled = False" in detail and "refusing to listen" in detail
