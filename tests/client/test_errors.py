"""Each failure the sidecar can answer with becomes its own exception, from real answers: a real
sidecar's 404, 409, 400 and 422, a real 500 of a sidecar with a built-in fault, and, for what the
sidecar answers only with authentication or rate limits on, a real server answering the same way."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime

import pytest

from jobpulse.client import (
    ApiError,
    AsyncClient,
    Client,
    Conflict,
    ConnectionFailed,
    Forbidden,
    JobpulseError,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    UnexpectedAnswer,
    ValidationFailed,
)
from jobpulse.client.endpoints import Request
from jobpulse.client.errors import FieldError, retry_after_s
from tests.client.answers import Answer, AnsweringServer
from tests.support import faulty_sidecar
from tests.support.otlp_build import JobEmitter, post_logs
from tests.support.polling import wait_for
from tests.support.ports import free_port
from tests.support.sidecar import SidecarProcess


@pytest.fixture(scope="module")
def finished_job(shared_sidecar) -> str:
    emitter = JobEmitter("errors-finished-job")
    post_logs(shared_sidecar.url, [emitter.start(name="finished"), emitter.end(processed=1)])
    return emitter.job_id


def test_an_unknown_job_is_not_found(shared_sidecar) -> None:
    with Client(shared_sidecar.url) as client, pytest.raises(NotFound) as raised:
        client.job("no-such-job")
    assert (raised.value.status_code, raised.value.detail) == (404, "job 'no-such-job' not found")
    assert isinstance(raised.value, ApiError) and isinstance(raised.value, JobpulseError)


async def test_an_unknown_job_is_not_found_asynchronously_too(shared_sidecar) -> None:
    async with AsyncClient(shared_sidecar.url) as client:
        with pytest.raises(NotFound, match="no-such-job"):
            await client.logs("no-such-job")
        with pytest.raises(NotFound, match="no-such-job"):
            async for _ in client.download_logs("no-such-job"):
                pass


def test_pausing_a_finished_job_is_a_conflict_naming_its_status(shared_sidecar, finished_job) -> None:
    with Client(shared_sidecar.url) as client, pytest.raises(Conflict) as raised:
        client.pause(finished_job)
    assert raised.value.status_code == 409
    assert raised.value.detail == f"cannot pause: job '{finished_job}' is completed; only a running job can be paused"


def test_a_bad_filter_is_a_validation_failure_naming_the_parameter(shared_sidecar) -> None:
    with Client(shared_sidecar.url) as client:
        with pytest.raises(ValidationFailed) as raised:
            client.jobs(sort="colour")  # type: ignore[arg-type]
        assert raised.value.status_code == 400
        assert raised.value.errors == [FieldError("Invalid enum value 'colour'", "sort", "query")]
        with pytest.raises(ValidationFailed, match="cursor"):
            list(client.iter_jobs(cursor="not-a-cursor"))
        with pytest.raises(ValidationFailed, match="since"):
            client.analytics(since=datetime(2030, 1, 1, tzinfo=UTC), until=datetime(2029, 1, 1, tzinfo=UTC))


def test_a_bad_body_is_a_validation_failure_naming_the_field(shared_sidecar) -> None:
    with Client(shared_sidecar.url) as client:
        with pytest.raises(ValidationFailed) as raised:
            client.create_silence(reason="no matcher")
        assert raised.value.status_code == 422
        assert raised.value.errors == [FieldError("give at least one of rule, job_name or key", "rule", "body")]
        with pytest.raises(ValidationFailed) as raised:
            client.create_silence(rule="job_failed", duration_s=-5)
        assert raised.value.status_code == 422 and [error.key for error in raised.value.errors] == ["duration_s"]
        with pytest.raises(NotFound, match="silence 987654 not found"):
            client.delete_silence(987654)


def test_a_server_failure_carries_its_request_id(tmp_path) -> None:
    with SidecarProcess(tmp_path, argv=faulty_sidecar.ARGV) as sidecar, Client(sidecar.url) as client:
        with pytest.raises(ServerError) as raised:
            client.send(Request("GET", "/test/fail"), None)
        request_id = raised.value.request_id
        assert raised.value.status_code == 500 and request_id and len(request_id) == 32
        assert request_id in raised.value.detail
        wait_for(lambda: f"request id {request_id}" in sidecar.log())


@pytest.mark.parametrize(
    ("status", "error"), [(401, Unauthorized), (403, Forbidden), (503, ServerError), (418, ApiError)]
)
def test_each_status_has_its_exception(status, error) -> None:
    body = b'{"status_code": %d, "detail": "as the server says"}' % status
    server = AnsweringServer(Answer(status, body, {"X-Request-Id": "r-42"}))
    with server.running(), Client(server.url) as client, pytest.raises(error) as raised:
        client.ingest()
    assert type(raised.value) is error
    assert (raised.value.status_code, raised.value.detail) == (status, "as the server says")
    if error is ServerError:
        assert raised.value.request_id == "r-42"


def test_a_rate_limit_says_how_long_to_wait() -> None:
    answer = Answer(429, b'{"status_code": 429, "detail": "too many requests"}', {"Retry-After": "12"})
    with AnsweringServer(answer).running() as server, Client(server.url) as client:
        with pytest.raises(RateLimited) as raised:
            client.connections()
        assert raised.value.retry_after == 12.0
        server.answer = Answer(429, b"", {"Retry-After": email.utils.formatdate(1_000_030, usegmt=True)})
        with pytest.raises(RateLimited) as raised:
            client.connections()
        assert raised.value.retry_after is not None and raised.value.detail == "HTTP 429"


def test_retry_after_reads_seconds_and_dates() -> None:
    assert retry_after_s("30") == 30.0
    assert retry_after_s("Thu, 01 Jan 1970 00:01:40 GMT", now=lambda: 40.0) == 60.0
    assert retry_after_s("Thu, 01 Jan 1970 00:01:40 GMT", now=lambda: 400.0) == 0.0
    assert retry_after_s("soon") is None and retry_after_s(None) is None


def test_the_token_goes_on_every_request() -> None:
    with AnsweringServer(Answer(200, b'{"status": "ok"}')).running() as server:
        with Client(server.url, token="s3cret", headers={"X-JobPulse-User": "ana"}) as client:
            client.readiness()
        with Client(server.url) as client:
            client.readiness()
    assert [seen.headers.get("Authorization") for seen in server.seen] == ["Bearer s3cret", None]
    assert server.seen[0].headers["X-JobPulse-User"] == "ana"


def test_an_answer_that_does_not_read_is_unexpected() -> None:
    server = AnsweringServer(Answer(200, b'{"count": "many"}'))
    expected = r"GET /api/monitor/jobs: Expected `int`, got `str` - at `\$.count`"
    with server.running(), Client(server.url) as client, pytest.raises(UnexpectedAnswer, match=expected):
        client.active_jobs()


async def test_a_sidecar_that_is_not_there_is_a_connection_failure() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with Client(url) as client, pytest.raises(ConnectionFailed, match=r"GET http://127\.0\.0\.1:\d+/api/jobs"):
        client.jobs()
    async with AsyncClient(url) as client:
        with pytest.raises(ConnectionFailed):
            await client.job("x")
