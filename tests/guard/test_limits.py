"""Rate limits, live-feed connection caps, CORS and security headers, against real sidecars on loopback.

Each test sends from its own loopback address (127.0.0.x: Linux routes the whole /8 to ``lo``), so the
per-client budgets of one module-wide sidecar never mix between tests. Windows are a few seconds
long: a burst fits well inside one, and recovery is waited for with a deadline.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar, get
from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult, DefineMiddleware
from litestar.testing import TestClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from jobpulse.sidecar.guard.connections import FeedAdmission
from jobpulse.sidecar.guard.identity import client_key
from jobpulse.sidecar.guard.plugin import GuardFeature
from jobpulse.sidecar.plugin import Core
from jobpulse.sidecar.settings import Settings, SettingsError, load_settings
from tests.conftest import require_binary
from tests.support import loopback
from tests.support.otlp_build import JobEmitter, logs_request
from tests.support.polling import wait_for
from tests.support.redis_server import RedisServer
from tests.support.sidecar import SidecarProcess, running_together

# Long enough for a burst on a busy machine, short enough to wait for recovery.
WINDOW = "5 per 5 seconds"
OTLP = {"content-type": "application/x-protobuf"}


def client(source: str) -> httpx.Client:
    """An HTTP client whose requests come from loopback address ``source``."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=10.0)


def ingest_body() -> bytes:
    return logs_request([JobEmitter(f"limits-{uuid.uuid4().hex[:8]}").start(name="limits")])


def burst_until_refused(send: Any, budget: int) -> list[httpx.Response]:
    """Send until the first 429 (at most ``budget`` + 1 requests); every response, in order."""
    responses = []
    for _ in range(budget + 1):
        responses.append(send())
        if responses[-1].status_code == 429:
            break
    return responses


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarProcess]:
    process = SidecarProcess(
        tmp_path_factory.mktemp("limited"),
        rate_limit_rest=WINDOW,
        rate_limit_ingest=WINDOW,
        feed_max_connections=3,
        feed_max_connections_per_client=2,
    ).start()
    yield process
    process.stop_soon()


# ---- rate limits ---------------------------------------------------------------------------------


def test_rest_burst_is_refused_with_retry_after_naming_the_limit_and_recovers(limited: SidecarProcess) -> None:
    with client("127.0.0.2") as http:
        responses = burst_until_refused(lambda: http.get(limited.url + "/api/monitor/jobs"), 5)
        assert [r.status_code for r in responses] == [200] * 5 + [429]
        refused = responses[-1]
        assert refused.headers["content-type"].startswith("application/json")
        assert 1 <= int(refused.headers["retry-after"]) <= 5
        body = refused.json()
        assert body["status_code"] == 429
        assert "rate_limit_rest" in body["detail"]
        # JSON on every route, the HTML ones too.
        assert http.get(limited.url + "/schema").headers["content-type"].startswith("application/json")
        assert body["extra"] == {
            "limit": "rate_limit_rest",
            "rate": WINDOW,
            "retry_after_s": int(refused.headers["retry-after"]),
        }
        # Probes and scrapes are never limited.
        assert http.get(limited.url + "/healthz").status_code == 200
        assert http.get(limited.url + "/metrics").status_code == 200
        # The window closes and the same client is served again.
        wait_for(lambda: http.get(limited.url + "/api/monitor/jobs").status_code == 200, timeout=10, interval=0.1)


def test_ingest_has_its_own_budget(limited: SidecarProcess) -> None:
    with client("127.0.0.3") as http:
        rest = burst_until_refused(lambda: http.get(limited.url + "/api/monitor/jobs"), 5)
        assert rest[-1].status_code == 429
        # A REST flood does not block the same client's ingest ...
        ingest = burst_until_refused(
            lambda: http.post(limited.url + "/v1/logs", content=ingest_body(), headers=OTLP), 5
        )
        assert [r.status_code for r in ingest] == [200] * 5 + [429]
        # ... and ingest has a limit of its own, which OTLP exporters retry after.
        refused = ingest[-1]
        assert refused.json()["extra"]["limit"] == "rate_limit_ingest"
        assert int(refused.headers["retry-after"]) >= 1


def test_budgets_are_per_client_address(limited: SidecarProcess) -> None:
    with client("127.0.0.4") as first, client("127.0.0.5") as second:
        assert burst_until_refused(lambda: first.get(limited.url + "/api/monitor/jobs"), 5)[-1].status_code == 429
        assert second.get(limited.url + "/api/monitor/jobs").status_code == 200
        # A name the caller chooses itself does not buy a fresh budget.
        spoofed = first.get(limited.url + "/api/monitor/jobs", headers={"X-JobPulse-User": "someone-else"})
        assert spoofed.status_code == 429


class _NameFromBearer(AbstractAuthenticationMiddleware):
    """Stands where authentication will: the bearer token names the principal."""

    class Principal:
        def __init__(self, name: str) -> None:
            self.name = name
            self.role = "viewer"

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        token = connection.headers.get("authorization", "").removeprefix("Bearer ")
        return AuthenticationResult(user=self.Principal(token) if token else None, auth=token or None)


def test_an_authenticated_principal_has_its_own_budget_wherever_it_comes_from(tmp_path: Path) -> None:
    @get("/api/things", sync_to_thread=False)
    def things() -> list[str]:
        return []

    settings = Settings(rate_limit_rest="2/minute", database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")
    guard = GuardFeature(Core(settings), FeedAdmission(1, 1))
    app = Litestar([things], plugins=[guard], middleware=[DefineMiddleware(_NameFromBearer)])
    with TestClient(app) as http:

        def as_(name: str) -> int:
            return http.get("/api/things", headers={"Authorization": f"Bearer {name}"} if name else {}).status_code

        assert [as_("alice"), as_("alice"), as_("alice")] == [200, 200, 429]
        # Another principal on the same address, and anonymous callers (by address), are unaffected.
        assert [as_("bob"), as_(""), as_("")] == [200, 200, 200]
        assert as_("") == 429


def test_the_budget_key_is_the_token_principal_name_else_the_address() -> None:
    class Named:
        name = "etl-nightly"

    assert client_key({"user": Named(), "auth": "token-id", "client": ("10.0.0.7", 5000)}) == "principal:etl-nightly"
    # Named without a credential checked: authentication off, the name from a header the caller chose.
    assert client_key({"user": Named(), "client": ("10.0.0.7", 5000)}) == "ip:10.0.0.7"
    assert client_key({"user": None, "client": ("10.0.0.7", 5000)}) == "ip:10.0.0.7"
    assert client_key({"client": ("::1", 5000), "headers": [(b"x-jobpulse-user", b"x")]}) == "ip:::1"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", require_binary("redis-server")).start()
    yield server
    server.stop()


def metric(sidecar: SidecarProcess, name: str) -> float:
    match = re.search(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", sidecar.get("/metrics").text, re.MULTILINE)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


def workdir(parent: Path, name: str) -> Path:
    path = parent / name
    path.mkdir()
    return path


def test_replicas_on_one_redis_share_the_budgets(tmp_path: Path, redis_server: RedisServer) -> None:
    settings = {"rate_limit_rest": "6/minute", "rate_limit_storage_url": redis_server.url}
    # Each in a directory of its own: their default databases are apart, so they may start together.
    with (
        running_together(
            SidecarProcess(workdir(tmp_path, "a"), name="a", **settings),
            SidecarProcess(workdir(tmp_path, "b"), name="b", **settings),
        ) as (a, b),
        client("127.0.0.6") as http,
    ):
        statuses = [http.get(replica.url + "/api/monitor/jobs").status_code for replica in (a, b, a, b, a, b)]
        assert statuses == [200] * 6
        for replica in (a, b):
            refused = http.get(replica.url + "/api/monitor/jobs")
            assert refused.status_code == 429, replica.name
            assert 1 <= int(refused.headers["retry-after"]) <= 60
        # A failing Redis lets requests through rather than taking the sidecar down, and says so.
        redis_server.stop()
        assert http.get(a.url + "/api/monitor/jobs").status_code == 200
        assert metric(a, "jobpulse_sidecar_rate_limit_storage_errors_total") >= 1
        assert "rate-limit storage" in a.log()


def test_a_replica_moved_onto_the_shared_redis_while_running_counts_there(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    with (
        running_together(
            SidecarProcess(
                workdir(tmp_path, "shared"),
                name="shared",
                rate_limit_rest="4/minute",
                rate_limit_storage_url=redis_server.url,
            ),
            SidecarProcess(workdir(tmp_path, "moved"), name="moved", rate_limit_rest="4/minute"),
        ) as (a, b),
        client("127.0.0.7") as http,
        client("127.0.0.8") as admin,
    ):
        assert [http.get(replica.url + "/api/monitor/jobs").status_code for replica in (a, a, b)] == [200] * 3
        moved = admin.patch(b.url + "/api/monitor/config", json={"rate_limit_storage_url": redis_server.url})
        assert moved.status_code == 200, moved.text
        assert moved.json()["sources"]["rate_limit_storage_url"] == "runtime"
        # Two left of the four in Redis (its own memory would still allow three).
        statuses = [http.get(b.url + "/api/monitor/jobs").status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        assert http.get(a.url + "/api/monitor/jobs").status_code == 429, "one budget for both"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("rate_limit_rest", "0/second"),
        ("rate_limit_ingest", "100 per fortnight"),
        ("rate_limit_storage_url", "mongodb://127.0.0.1"),
        ("cors_allowed_origins", "https://ops.example/console"),
        ("feed_max_connections", "0"),
    ],
)
def test_invalid_limit_settings_are_refused_naming_them(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=rf"^{name}\b.*JOBPULSE_{name.upper()}"):
        load_settings(environ={f"JOBPULSE_{name.upper()}": value})


def test_the_openapi_document_names_the_429_of_limited_operations(limited: SidecarProcess) -> None:
    with client("127.0.0.13") as http:
        paths = http.get(limited.url + "/schema/openapi.json").json()["paths"]
    for path, method in [("/api/jobs", "get"), ("/v1/logs", "post"), ("/api/control/poll", "post")]:
        refused = paths[path][method]["responses"]["429"]
        assert "Retry-After" in refused["headers"]
    for path in ("/healthz", "/readyz", "/metrics"):
        assert "429" not in paths[path]["get"]["responses"]


# ---- live-feed connection caps -------------------------------------------------------------------


CAPACITY_FAILURES = 'jobpulse_sidecar_feed_handshake_failures_total{reason="capacity"}'


def feed(sidecar: SidecarProcess, source: str) -> ClientConnection:
    return connect(sidecar.ws_url, open_timeout=10, compression=None, source_address=(source, 0))


def first_frame(connection: ClientConnection) -> list[dict[str, Any]]:
    return json.loads(connection.recv(timeout=10))


def refusal(sidecar: SidecarProcess, source: str) -> ConnectionClosed:
    """How a handshake from ``source`` ends: accepted, then closed before any feed message."""
    with feed(sidecar, source) as connection, pytest.raises(ConnectionClosed) as closed:
        connection.recv(timeout=10)
    return closed.value


@pytest.fixture
def no_feed_clients(limited: SidecarProcess) -> Iterator[None]:
    yield
    wait_for(lambda: metric(limited, "jobpulse_sidecar_feed_connections_open") == 0, timeout=10, interval=0.05)


def test_past_the_connection_cap_a_handshake_is_refused_and_the_others_keep_receiving(
    limited: SidecarProcess, no_feed_clients: None
) -> None:
    with ExitStack() as open_connections:
        admitted = [
            open_connections.enter_context(feed(limited, source)) for source in ("127.0.0.7", "127.0.0.7", "127.0.0.8")
        ]
        assert [first_frame(c)[0]["type"] for c in admitted] == ["snapshot"] * 3
        failed_before = metric(limited, CAPACITY_FAILURES)
        closed = refusal(limited, "127.0.0.9")
        assert closed.rcvd is not None and closed.rcvd.code == 1013
        assert "feed_max_connections" in closed.rcvd.reason and "3" in closed.rcvd.reason
        assert metric(limited, 'jobpulse_sidecar_feed_connections_refused_total{limit="feed_max_connections"}') >= 1
        # A refusal is a failed handshake too, which the feed_connection_failures alert counts.
        assert metric(limited, CAPACITY_FAILURES) == failed_before + 1

        job = JobEmitter(f"capped-{uuid.uuid4().hex[:8]}")
        loopback.post(
            limited.url + "/v1/logs", content=logs_request([job.start(name="capped")]), headers=OTLP
        ).raise_for_status()
        for connection in admitted:
            wait_for(
                lambda c=connection: any(
                    m["type"] == "job_status_update" and m["data"]["id"] == job.job_id for m in first_frame(c)
                ),
                timeout=10,
            )

        # A slot that frees up is taken again.
        admitted.pop().close()
        wait_for(lambda: metric(limited, "jobpulse_sidecar_feed_connections_open") == 2, timeout=10, interval=0.05)
        admitted.append(open_connections.enter_context(feed(limited, "127.0.0.9")))
        assert first_frame(admitted[-1])[0]["type"] == "snapshot"


def test_one_client_cannot_take_more_than_its_share_of_the_feed(limited: SidecarProcess, no_feed_clients: None) -> None:
    with ExitStack() as open_connections:
        admitted = [open_connections.enter_context(feed(limited, "127.0.0.10")) for _ in range(2)]
        assert [first_frame(c)[0]["type"] for c in admitted] == ["snapshot"] * 2
        closed = refusal(limited, "127.0.0.10")
        assert closed.rcvd is not None and closed.rcvd.code == 1013
        assert "feed_max_connections_per_client" in closed.rcvd.reason
        # Another client still gets in.
        admitted.append(open_connections.enter_context(feed(limited, "127.0.0.11")))
        assert first_frame(admitted[-1])[0]["type"] == "snapshot"


# ---- CORS and security headers -------------------------------------------------------------------


def preflight(sidecar: SidecarProcess, origin: str, source: str = "127.0.0.1") -> httpx.Response:
    with client(source) as http:
        return http.options(
            sidecar.url + "/api/jobs",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )


def test_cross_origin_requests_are_refused_by_default(limited: SidecarProcess) -> None:
    assert "access-control-allow-origin" not in preflight(limited, "https://ops.example").headers
    with client("127.0.0.14") as http:
        assert "access-control-allow-origin" not in http.get(limited.url + "/api/monitor/jobs").headers


def test_a_configured_origin_is_allowed_and_no_other(tmp_path: Path) -> None:
    with SidecarProcess(tmp_path, cors_allowed_origins="https://ops.example") as sidecar:
        allowed = preflight(sidecar, "https://ops.example")
        assert allowed.status_code in (200, 204)
        assert allowed.headers["access-control-allow-origin"] == "https://ops.example"
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        simple = loopback.get(sidecar.url + "/api/monitor/jobs", headers={"Origin": "https://ops.example"}, timeout=10)
        assert simple.headers["access-control-allow-origin"] == "https://ops.example"
        assert "access-control-allow-origin" not in preflight(sidecar, "https://evil.example").headers


def test_the_allowed_origins_change_while_the_sidecar_runs(limited: SidecarProcess) -> None:
    origin, source = "https://ops.example", "127.0.0.15"

    def change(origins: list[str] | None) -> None:
        with client("127.0.0.16") as admin:
            answer = admin.patch(limited.url + "/api/monitor/config", json={"cors_allowed_origins": origins})
        assert answer.status_code == 200, answer.text

    pid = limited.pid
    assert "access-control-allow-origin" not in preflight(limited, origin, source).headers
    change([origin])
    try:
        allowed = preflight(limited, origin, source)
        assert allowed.status_code == 204
        assert allowed.headers["access-control-allow-origin"] == origin
        with client(source) as http:
            simple = http.get(limited.url + "/api/monitor/jobs", headers={"Origin": origin})
        assert simple.headers["access-control-allow-origin"] == origin
        assert "access-control-allow-origin" not in preflight(limited, "https://evil.example", source).headers
    finally:
        change(None)
    # CORS off again: no CORS headers at all, on the same process all along.
    off = preflight(limited, origin, source)
    assert not [name for name in off.headers if name.startswith("access-control-")]
    assert limited.pid == pid


def directives(response: httpx.Response) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return {part.split()[0]: " ".join(part.split()[1:]) for part in policy.split(";") if part.strip()}


def assert_basic_headers(response: httpx.Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert directives(response)["frame-ancestors"] == "'none'"


def test_data_responses_carry_the_headers_too(limited: SidecarProcess) -> None:
    with client("127.0.0.12") as http:
        responses = [
            http.get(limited.url + "/api/monitor/jobs"),
            http.get(limited.url + "/schema/openapi.json"),
            http.post(limited.url + "/v1/logs", content=ingest_body(), headers=OTLP),
            http.get(limited.url + "/no/such/route"),
        ]
    assert [r.status_code for r in responses] == [200, 200, 200, 404]
    for response in responses:
        assert_basic_headers(response)
        assert directives(response)["default-src"] == "'none'"
