"""With the token database away: tokens already verified keep working, new ones get a 503, /readyz says so."""

from __future__ import annotations

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.auth.conftest import bearer, make_token
from tests.conftest import start_postgres
from tests.support import loopback
from tests.support.polling import wait_for
from tests.support.sidecar import SidecarProcess


def test_a_database_outage(tmp_path):
    server = start_postgres()
    sidecar = None
    try:
        database_url = server.new_database()
        seen = make_token(database_url, "seen", "viewer")
        unseen = make_token(database_url, "unseen", "viewer")
        sidecar = SidecarProcess(
            tmp_path, auth_enabled="true", database_url=database_url, auth_recheck_interval_s=0.3
        ).start()
        assert sidecar.get("/readyz").json()["checks"]["auth"] == "ok"
        assert loopback.get(sidecar.url + "/api/monitor/jobs", headers=bearer(seen)).status_code == 200

        server.stop()
        checks = wait_for(
            lambda: (c := sidecar.get("/readyz").json()["checks"])["auth"] != "ok" and c, timeout=10, interval=0.1
        )
        assert checks["auth"].startswith("token recheck failing")
        assert sidecar.get("/readyz").status_code == 503

        assert loopback.get(sidecar.url + "/api/monitor/jobs", headers=bearer(seen)).status_code == 200
        refused = loopback.get(sidecar.url + "/api/monitor/jobs", headers=bearer(unseen))
        assert refused.status_code == 503 and "cannot check the token now" in refused.json()["detail"]
        with (
            connect(sidecar.ws_url, open_timeout=10, additional_headers=bearer(unseen)) as connection,
            pytest.raises(ConnectionClosed) as closed,
        ):
            connection.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013, "try again later"
    finally:
        if sidecar is not None:
            sidecar.stop()
        server.stop()
