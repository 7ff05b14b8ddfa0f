"""Rate limits and feed caps with real tokens: budgets follow the token, and a credential that is not
(yet) a verified token counts against the client's address, so refusals cost a flood its budget too.

Each test sends from its own loopback addresses (127.0.0.x: Linux routes the whole /8 to ``lo``), so
the per-address budgets of the module's sidecar never mix between tests. Windows last a minute: a
burst fits well inside one, and no test waits for one to close.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.auth.conftest import AuthSidecar, bearer, start_auth_sidecar
from tests.support.otlp_build import JobEmitter, logs_request

BUDGET = 4
OTLP = {"content-type": "application/x-protobuf"}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthSidecar]:
    sidecar = start_auth_sidecar(
        tmp_path_factory.mktemp("token-limits"),
        rate_limit_rest=f"{BUDGET} per minute",
        rate_limit_ingest=f"{BUDGET} per minute",
        feed_max_connections_per_client=1,
    )
    for name, role in (("ana", "viewer"), ("bo", "viewer"), ("cy", "admin")):
        sidecar.tokens[name] = sidecar.token(name, role)
    yield sidecar
    sidecar.process.stop_soon()


def client(source: str) -> httpx.Client:
    """An HTTP client whose requests come from loopback address ``source``."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=10.0)


def statuses(http: httpx.Client, url: str, token: str | None, count: int) -> list[int]:
    return [http.get(url, headers=bearer(token) if token else {}).status_code for _ in range(count)]


def test_a_token_has_its_own_budget_wherever_it_comes_from(limited: AuthSidecar) -> None:
    jobs = limited.url + "/api/jobs"
    with client("127.0.1.1") as first, client("127.0.1.2") as second:
        assert statuses(first, jobs, limited.tokens["ana"], BUDGET) == [200] * BUDGET
        refused = first.get(jobs, headers=bearer(limited.tokens["ana"]))
        assert refused.status_code == 429, refused.text
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.json()["extra"]["limit"] == "rate_limit_rest"
        # The same token from another address: the same, spent budget.
        assert second.get(jobs, headers=bearer(limited.tokens["ana"])).status_code == 429
        # Another token from the first address: a budget of its own.
        assert statuses(first, jobs, limited.tokens["bo"], BUDGET) == [200] * BUDGET


def test_ingest_has_a_budget_apart_from_rest(limited: AuthSidecar) -> None:
    admin = bearer(limited.tokens["cy"])
    with client("127.0.1.3") as http:
        assert statuses(http, limited.url + "/api/jobs", limited.tokens["cy"], BUDGET + 1)[-1] == 429
        body = logs_request([JobEmitter("token-limits").start(name="token-limits")])
        sent = [http.post(limited.url + "/v1/logs", content=body, headers={**OTLP, **admin}) for _ in range(BUDGET + 1)]
        assert [response.status_code for response in sent] == [200] * BUDGET + [429]
        assert sent[-1].json()["extra"]["limit"] == "rate_limit_ingest"


def test_requests_without_a_valid_token_count_against_their_address(limited: AuthSidecar) -> None:
    jobs = limited.url + "/api/jobs"
    # The viewer's id with other secrets: each one found in the database and refused by the hash.
    viewer = limited.tokens["viewer"]
    guesses = [viewer[: -len(f"guess{n:03}")] + f"guess{n:03}" for n in range(BUDGET + 2)]
    with client("127.0.1.4") as http, client("127.0.1.5") as elsewhere:
        # Verified from elsewhere first: a token this sidecar knows counts against itself only.
        assert elsewhere.get(jobs, headers=bearer(limited.tokens["operator"])).status_code == 200
        answers = [http.get(jobs, headers=bearer(guess)) for guess in guesses[:BUDGET]]
        assert [answer.status_code for answer in answers] == [401] * BUDGET
        refused = http.get(jobs, headers=bearer(guesses[BUDGET]))
        assert refused.status_code == 429, refused.text
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.json()["extra"]["limit"] == "rate_limit_rest"
        # Without any credential the address is the same anonymous caller.
        assert statuses(http, jobs, None, 1) == [429]
        # The address's budget is spent, a verified token's is not.
        assert http.get(jobs, headers=bearer(limited.tokens["operator"])).status_code == 200
        # Other addresses are untouched.
        assert elsewhere.get(jobs, headers=bearer(guesses[BUDGET + 1])).status_code == 401


def test_the_per_client_feed_cap_counts_connections_by_token(limited: AuthSidecar) -> None:
    def handshake(token: str):
        return connect(
            limited.process.ws_url,
            open_timeout=10,
            additional_headers=bearer(token),
            source_address=("127.0.1.6", 0),
        )

    with handshake(limited.tokens["ana"]) as first:
        assert first.recv(timeout=10)
        with handshake(limited.tokens["ana"]) as second, pytest.raises(ConnectionClosed) as closed:
            second.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
        assert "feed_max_connections_per_client" in closed.value.rcvd.reason
        # Another token from the same address is another client.
        with handshake(limited.tokens["bo"]) as other:
            assert other.recv(timeout=10)
        # The first connection was left alone.
        first.ping().wait(10)
