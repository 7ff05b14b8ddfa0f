"""The live feed with authentication on: header or ticket in, everything else refused before any job data."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from jobpulse.client import Backoff, Client, Forbidden, JobStatusUpdate, Snapshot, Unauthorized
from tests.auth.conftest import AuthSidecar, bearer, closing, opened, refusal, start_auth_sidecar
from tests.support import loopback
from tests.support.feed_watch import FeedWatch
from tests.support.otlp_build import JobEmitter, post_logs
from tests.support.polling import wait_for

TICKET_TTL_S = 2.0
RECHECK_S = 0.5


@pytest.fixture(scope="module")
def feed_sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthSidecar]:
    sidecar = start_auth_sidecar(
        tmp_path_factory.mktemp("ws-auth"), ws_ticket_ttl_s=TICKET_TTL_S, auth_recheck_interval_s=RECHECK_S
    )
    # A running job, so that a refused connection would have job data to leak.
    job = JobEmitter("ws-auth-secret-job")
    post_logs(sidecar.url, [job.start(name="payroll")], headers=bearer(sidecar.tokens["ingest"]))
    yield sidecar
    sidecar.process.stop_soon()


def ticket(sidecar: AuthSidecar, token: str) -> dict:
    response = loopback.post(sidecar.url + "/api/auth/ws-ticket", headers=bearer(token), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_without_credentials_or_with_a_bad_ticket_the_handshake_is_refused(feed_sidecar):
    ws = feed_sidecar.process.ws_url
    code, reason = refusal(ws)
    assert code == 4401 and "ticket" in reason and "Bearer" in reason
    code, reason = refusal(ws + "?ticket=not-a-ticket")
    assert code == 4401 and "unknown or already used ticket" in reason
    # A token never goes in a URL: one given as a ticket is just an unknown ticket.
    code, _ = refusal(ws + "?ticket=" + feed_sidecar.tokens["viewer"])
    assert code == 4401


def test_a_ticket_works_once(feed_sidecar):
    issued = ticket(feed_sidecar, feed_sidecar.tokens["viewer"])
    url = f"{feed_sidecar.process.ws_url}?ticket={issued['ticket']}"
    with opened(url) as (_, snapshot):
        assert [job["id"] for job in snapshot["data"]["jobs"]] == ["ws-auth-secret-job"]
    code, reason = refusal(url)
    assert code == 4401 and "already used" in reason


def test_an_expired_ticket_is_refused(feed_sidecar):
    issued = ticket(feed_sidecar, feed_sidecar.tokens["viewer"])
    expires_at = datetime.fromisoformat(issued["expires_at"])
    lifetime = (expires_at - datetime.now(UTC)).total_seconds()
    assert 0 < lifetime <= TICKET_TTL_S
    wait_for(lambda: datetime.now(UTC) > expires_at, timeout=TICKET_TTL_S + 1)
    code, reason = refusal(f"{feed_sidecar.process.ws_url}?ticket={issued['ticket']}")
    assert code == 4401 and "expired ticket" in reason


def test_tickets_need_the_viewer_role_and_carry_the_tokens_role(feed_sidecar):
    response = loopback.post(feed_sidecar.url + "/api/auth/ws-ticket", headers=bearer(feed_sidecar.tokens["ingest"]))
    assert response.status_code == 403 and "viewer role" in response.json()["detail"]
    assert loopback.post(feed_sidecar.url + "/api/auth/ws-ticket").status_code == 401


def test_an_ingest_token_on_the_handshake_is_forbidden_not_unauthenticated(feed_sidecar):
    code, reason = refusal(feed_sidecar.process.ws_url, **bearer(feed_sidecar.tokens["ingest"]))
    assert code == 4403 and "viewer role" in reason


def test_a_revoked_tokens_open_connections_are_closed_within_seconds(feed_sidecar):
    doomed = feed_sidecar.token("feed-watcher", "viewer")
    with (
        opened(feed_sidecar.process.ws_url, **bearer(doomed)) as (by_header, _),
        opened(f"{feed_sidecar.process.ws_url}?ticket={ticket(feed_sidecar, doomed)['ticket']}") as (by_ticket, _),
        FeedWatch(feed_sidecar.url, token=feed_sidecar.tokens["viewer"]) as bystander,
    ):
        bystander.wait_for(Snapshot)
        revoked_at = time.monotonic()
        feed_sidecar.revoke("feed-watcher")
        for connection in (by_header, by_ticket):
            code, reason = closing(connection)
            assert code == 4401 and "revoked" in reason
        elapsed = time.monotonic() - revoked_at
        assert elapsed < RECHECK_S + 3, f"closed {elapsed:.1f} s after the revocation"

        # Others are untouched: the bystander still gets the news.
        job = JobEmitter("ws-auth-after-revocation")
        post_logs(feed_sidecar.url, [job.start(name="after")], headers=bearer(feed_sidecar.tokens["ingest"]))
        bystander.wait_for(JobStatusUpdate, lambda message: message.data.id == "ws-auth-after-revocation")
        assert [state.phase for state in bystander.states] == ["connecting", "open"], "never cut off"

        # And the token opens nothing any more.
        assert loopback.get(feed_sidecar.url + "/api/jobs", headers=bearer(doomed)).status_code == 401
        code, reason = refusal(feed_sidecar.process.ws_url, **bearer(doomed))
        assert code == 4401 and "revoked" in reason


# Without a verdict the feed would try again three times, then end with ConnectionFailed.
FEW_ATTEMPTS = Backoff(initial_s=0.05, max_s=0.05, max_attempts=3)


def test_the_client_feed_ends_with_the_refusal_of_its_credentials(feed_sidecar):
    url = feed_sidecar.url
    for token, refused, words in [
        (None, Unauthorized, "Bearer"),
        ("not-a-token", Unauthorized, "token"),
        (feed_sidecar.tokens["ingest"], Forbidden, "viewer role"),
    ]:
        with Client(url, token) as client, client.feed(backoff=FEW_ATTEMPTS) as feed:
            with pytest.raises(refused, match=words):
                next(feed)
            assert feed.state.phase == "closed"


def test_the_client_feed_of_a_revoked_token_ends_unauthorized(feed_sidecar):
    doomed = feed_sidecar.token("client-feed-watcher", "viewer")
    with Client(feed_sidecar.url, doomed) as client, client.feed(backoff=FEW_ATTEMPTS) as feed:
        assert isinstance(next(feed), Snapshot)
        feed_sidecar.revoke("client-feed-watcher")
        with pytest.raises(Unauthorized, match="revoked"):
            feed.next(timeout=RECHECK_S + 5)
