"""Every route of the sidecar x every kind of credential answers exactly the expected status.

The routes come from the OpenAPI document of a running sidecar (and ``/ws``, which it does not list);
the roles each route admits come from the app's route table, as its handlers declare them, and what
each declared role admits is written out here from the specification, independently of the code.
A route added without a declared role cannot be built into an app (the last test), so it cannot
slip past this matrix either.

The status of an admitted request is the one an authentication-off sidecar gives the same request
(a 200, or the 404 of an unknown job, or the 400 of a missing body): authentication must change
nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from litestar import Litestar, get
from litestar.exceptions import ImproperlyConfiguredException
from litestar.routes import HTTPRoute
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from jobpulse.sidecar.app import create_app
from jobpulse.sidecar.auth.plugin import AuthFeature
from jobpulse.sidecar.auth.roles import declared_roles
from jobpulse.sidecar.plugin import Core
from jobpulse.sidecar.settings import Settings
from tests.auth.conftest import AuthSidecar, auth_sidecar_process, bearer, start_auth_sidecar
from tests.support import loopback
from tests.support.sidecar import SidecarProcess, start_together

INVALID = ("none", "wrong", "revoked", "expired")
VALID = ("ingest", "viewer", "operator", "admin")

# What each declared role admits, as the specification states it: viewer < operator < admin, each
# including the ones before it; ingest apart; an admin may do everything.
ADMITS = {
    "ingest": {"ingest", "admin"},
    "viewer": {"viewer", "operator", "admin"},
    "operator": {"operator", "admin"},
    "admin": {"admin"},
    "open": set(VALID) | set(INVALID),
    # /metrics: open unless metrics_require_token (tested on its own below).
    "metrics": set(VALID) | set(INVALID),
}


def route_table() -> dict[tuple[str, str], tuple[str, ...] | None]:
    """(path as OpenAPI writes it, method) -> the roles its handler declares."""
    app = create_app(Settings(auth_enabled=True, database_url="sqlite+aiosqlite:///:memory:"))
    table: dict[tuple[str, str], tuple[str, ...] | None] = {}
    for route in app.routes:
        handlers = route.route_handlers if isinstance(route, HTTPRoute) else [route.route_handler]
        for handler in handlers:
            for method in getattr(handler, "http_methods", {"WEBSOCKET"}) - {"OPTIONS"}:
                table[(route.path_format, method)] = declared_roles(handler.opt)
    return table


def admitted(roles: tuple[str, ...], credential: str) -> bool:
    return any(credential in ADMITS[role] for role in roles)


@pytest.fixture(scope="module")
def matrix_sidecars(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AuthSidecar, SidecarProcess]]:
    sidecar = auth_sidecar_process(tmp_path_factory.mktemp("matrix"))
    sidecar.tokens["revoked"] = sidecar.token("revoked", "admin")
    sidecar.revoke("revoked")
    sidecar.tokens["expired"] = sidecar.token("expired", "admin", expires_in_s=0.001)
    viewer = sidecar.tokens["viewer"]
    # The viewer's id with another secret: found in the database, refused by the hash.
    sidecar.tokens["wrong"] = viewer[: -len("wrongsecret")] + "wrongsecret"
    # Each on a database of its own: they may start together.
    baseline = SidecarProcess(tmp_path_factory.mktemp("matrix-baseline"))
    start_together(sidecar.process, baseline)
    yield sidecar, baseline
    baseline.stop_soon()
    sidecar.process.stop_soon()


def request(base_url: str, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    return loopback.request(method, base_url + path, headers=headers, timeout=30.0)


def concrete(path: str, operation: dict) -> str:
    """``path`` with its parameters filled in: an integer where the schema wants one, else an unknown id."""
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            value = "1" if parameter["schema"].get("type") == "integer" else "matrix-no-such-id"
            path = path.replace("{" + parameter["name"] + "}", value)
    return path


def test_every_route_and_credential_gives_the_expected_status(matrix_sidecars):
    sidecar, baseline = matrix_sidecars
    table = route_table()
    document = loopback.get(sidecar.url + "/schema/openapi.json", timeout=10).json()
    operations = [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]
    assert len(operations) >= 30, "the document lists the sidecar's routes"
    documented = {(path, method) for method, path, _ in operations}
    undocumented = {key for key in table if key not in documented and not key[0].startswith("/schema")}
    console = {("/", "GET"), ("/console/{digest}/{path}", "GET")}
    assert undocumented == {("/ws", "WEBSOCKET"), *console}, "every other route is in the document, so in the matrix"
    # The console's page and files hold no data: open to every credential, valid or not.
    assert all(table[key] == ("open",) for key in console), {key: table[key] for key in console}
    for credential in (*INVALID, *VALID):
        headers = bearer(sidecar.tokens[credential]) if credential != "none" else {}
        assert request(sidecar.url, "GET", "/", headers).status_code == 200, credential

    mismatches = []
    for method, path, operation in operations:
        roles = table[(path, method)]
        assert roles, f"{method} {path} declares no role"
        url_path = concrete(path, operation)
        expected_admitted = request(baseline.url, method, url_path, {}).status_code
        for credential in (*INVALID, *VALID):
            headers = bearer(sidecar.tokens[credential]) if credential != "none" else {}
            response = request(sidecar.url, method, url_path, headers)
            refused = 401 if credential in INVALID else 403
            expected = expected_admitted if admitted(roles, credential) else refused
            if response.status_code != expected:
                mismatches.append(f"{method} {url_path} as {credential}: {response.status_code}, expected {expected}")
                continue
            if expected in (401, 403):
                body = response.json()
                assert body["status_code"] == expected and body["detail"], body
                assert response.headers["www-authenticate"].startswith("Bearer"), response.headers
            if expected == 403:
                assert " or ".join(roles) + " role" in body["detail"], body
    assert not mismatches, "\n".join(mismatches)


def test_the_monitor_routes_are_read_by_viewers_and_the_configuration_by_admins():
    table = route_table()
    config = {key: roles for key, roles in table.items() if key[0].startswith("/api/monitor/config")}
    monitor = {key: roles for key, roles in table.items() if key[0].startswith("/api/monitor/") and key not in config}
    assert ("/api/monitor/queues", "GET") in monitor
    assert ("/api/monitor/schedules", "GET") in monitor
    assert set(monitor.values()) == {("viewer",)}, monitor
    assert ("/api/monitor/config", "PATCH") in config
    assert set(config.values()) == {("admin",)}, config


def first_frame_or_close(url: str, headers: dict[str, str]) -> tuple[str, int | None, str]:
    """What a WebSocket client gets first: ("message", None, text) or ("closed", code, reason)."""
    with connect(url, open_timeout=10, additional_headers=headers) as connection:
        try:
            return "message", None, str(connection.recv(timeout=10))
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, "the server closes with a code"
            return "closed", closed.rcvd.code, closed.rcvd.reason


def test_the_document_says_which_operations_need_a_token_and_how_they_refuse(matrix_sidecars):
    sidecar, _ = matrix_sidecars
    table = route_table()
    document = loopback.get(sidecar.url + "/schema/openapi.json", timeout=10).json()
    assert document["security"] == [{"bearer": []}]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, item in document["paths"].items():
        for method, operation in item.items():
            roles = table[(path, method.upper())]
            if set(roles) & {"open", "metrics"}:
                assert operation["security"] == [], (method, path)
                continue
            assert "security" not in operation, (method, path)
            assert "WWW-Authenticate" in operation["responses"]["401"]["headers"], (method, path)
            assert "403" in operation["responses"], (method, path)
    pause = document["paths"]["/api/jobs/{job_id}/pause"]["post"]["responses"]
    assert "401" in pause and "403" in pause
    assert "admin role" in document["paths"]["/api/auth/tokens"]["get"]["responses"]["403"]["description"]


def test_the_live_feed_for_every_credential(matrix_sidecars):
    sidecar, _ = matrix_sidecars
    roles = route_table()[("/ws", "WEBSOCKET")]
    assert roles == ("viewer",)
    for credential in (*INVALID, *VALID):
        headers = bearer(sidecar.tokens[credential]) if credential != "none" else {}
        kind, code, text = first_frame_or_close(sidecar.process.ws_url, headers)
        if admitted(roles, credential):
            assert kind == "message" and '"snapshot"' in text, (credential, kind, code, text)
        else:
            assert (kind, code) == ("closed", 4401 if credential in INVALID else 4403), (credential, code, text)
            assert "job" not in text.lower() or "role" in text, "no job data before the close"


def test_metrics_can_require_a_viewer_token(tmp_path):
    sidecar = start_auth_sidecar(tmp_path, metrics_require_token="true")
    try:
        assert loopback.get(sidecar.url + "/metrics").status_code == 401
        assert loopback.get(sidecar.url + "/metrics", headers=bearer(sidecar.tokens["ingest"])).status_code == 403
        for role in ("viewer", "operator", "admin"):
            response = loopback.get(sidecar.url + "/metrics", headers=bearer(sidecar.tokens[role]))
            assert response.status_code == 200 and "jobpulse_jobs_active" in response.text
        assert loopback.get(sidecar.url + "/healthz").status_code == 200
        assert loopback.get(sidecar.url + "/readyz").status_code == 200
    finally:
        sidecar.process.stop_soon()


def test_a_route_without_a_declared_role_stops_the_app_from_being_built():
    def anyone() -> str:
        return "anyone"

    core = Core(Settings(database_url="sqlite+aiosqlite:///:memory:"))
    undeclared = get("/undeclared", sync_to_thread=False)(anyone)
    with pytest.raises(ImproperlyConfiguredException, match=r"/undeclared .*declares no known role"):
        Litestar(route_handlers=[undeclared], plugins=[AuthFeature(core)])
    misspelt = get("/misspelt", sync_to_thread=False, opt={"role": "superuser"})(anyone)
    with pytest.raises(ImproperlyConfiguredException, match="got 'superuser'"):
        Litestar(route_handlers=[misspelt], plugins=[AuthFeature(core)])


def test_the_configuration_routes_are_for_admins_only():
    table = route_table()
    configuration = {key: roles for key, roles in table.items() if key[0].startswith("/api/monitor/config")}
    assert set(configuration) == {
        ("/api/monitor/config", "GET"),
        ("/api/monitor/config", "PATCH"),
        ("/api/monitor/config", "PUT"),
        ("/api/monitor/config/history", "GET"),
    }
    assert set(configuration.values()) == {("admin",)}
