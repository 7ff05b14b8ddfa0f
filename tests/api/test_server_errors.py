"""What the sidecar does with its own errors: every one logged with its traceback, counted, and the
client told a request id that finds the log line. Against a real sidecar with built-in faults."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from jobpulse.client import JobStatusUpdate, Snapshot
from tests.support import faulty_sidecar
from tests.support.feed_watch import FeedWatch
from tests.support.otlp_build import JobEmitter, post_logs
from tests.support.polling import wait_for
from tests.support.sidecar import SidecarProcess


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarProcess]:
    process = SidecarProcess(tmp_path_factory.mktemp("faulty"), argv=faulty_sidecar.ARGV, name="faulty-sidecar")
    process.start()
    yield process
    process.stop_soon()


def errors_counted(sidecar: SidecarProcess, route: str, method: str) -> float:
    for family in text_string_to_metric_families(sidecar.get("/metrics").text):
        if family.name == "jobpulse_sidecar_http_errors":
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels == {"route": route, "method": method}:
                    return sample.value
    return 0.0


def logged_with_traceback(sidecar: SidecarProcess, request_id: str) -> str:
    """The log record naming ``request_id``, with the traceback that follows it."""

    def record() -> str | None:
        log = sidecar.log()
        start = log.find(request_id)
        if start < 0 or "Traceback" not in log[start:]:
            return None
        return log[
            log.rfind("\n", 0, start) + 1 : log.find(faulty_sidecar.FAULT_MESSAGE, log.index("Traceback", start))
        ]

    return wait_for(record, timeout=10)


def test_a_failing_request_handler_is_logged_counted_and_answered_with_a_request_id(sidecar):
    before = errors_counted(sidecar, "/test/fail", "GET")
    ids = []
    for _ in range(2):
        response = sidecar.get("/test/fail")
        assert response.status_code == 500
        body = response.json()
        assert body["status_code"] == 500 and body["request_id"] in body["detail"]
        assert response.headers["x-request-id"] == body["request_id"]
        assert faulty_sidecar.FAULT_MESSAGE not in response.text, "the client is not shown the server's internals"
        ids.append(body["request_id"])
    assert len(set(ids)) == 2

    for request_id in ids:
        record = logged_with_traceback(sidecar, request_id)
        assert record.startswith("ERROR") and "jobpulse.sidecar.errors" in record
        assert "GET /test/fail" in record and "RuntimeError" in record
        assert "in failing_route" in record, "the traceback reaches the handler that raised"
    assert errors_counted(sidecar, "/test/fail", "GET") == before + 2


def test_the_route_label_is_the_template_not_the_path_a_client_sent(sidecar):
    job_id = f"missing-{uuid.uuid4().hex}"
    assert sidecar.get(f"/api/jobs/{job_id}").status_code == 404
    metrics = sidecar.get("/metrics").text
    assert job_id not in metrics, "client errors are not server errors, and paths never become labels"


def test_a_failing_websocket_handler_is_logged_and_counted(sidecar):
    before = errors_counted(sidecar, "/test/ws-fail", "WEBSOCKET")
    with (
        connect(sidecar.ws_url.replace("/ws", "/test/ws-fail"), open_timeout=10) as socket,
        pytest.raises(ConnectionClosed) as closed,
    ):
        socket.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4500
    wait_for(lambda: errors_counted(sidecar, "/test/ws-fail", "WEBSOCKET") == before + 1)
    request_id = re.findall(r"WEBSOCKET /test/ws-fail \(route /test/ws-fail\), request id (\w+)", sidecar.log())[-1]
    assert "in failing_socket" in logged_with_traceback(sidecar, request_id)


def test_a_fault_in_the_live_feed_closes_that_connection_only_with_1011_naming_the_request_id(sidecar):
    before = errors_counted(sidecar, "/ws", "WEBSOCKET")
    job = JobEmitter(uuid.uuid4().hex)
    # The broken connection speaks the protocol itself: no client sends this resume, and its close code is the point.
    with connect(sidecar.ws_url, open_timeout=10) as broken, FeedWatch(sidecar.url) as bystander:
        assert json.loads(broken.recv(timeout=10))[0]["type"] == "snapshot"
        bystander.wait_for(Snapshot)
        broken.send(json.dumps({"type": "resume", "cursor": faulty_sidecar.FAULTY_CURSOR}))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                broken.recv(timeout=10)
        received = closed.value.rcvd
        assert received is not None and received.code == 1011
        request_id = re.fullmatch(r"internal error, request id (\w+)", received.reason).group(1)

        post_logs(sidecar.url, [job.start(name="after-the-fault")])
        bystander.wait_for(JobStatusUpdate, lambda m: m.data.id == job.job_id)

    record = logged_with_traceback(sidecar, request_id)
    assert "live feed connection failed in WEBSOCKET /ws" in record and "faulty_resume" in record
    assert errors_counted(sidecar, "/ws", "WEBSOCKET") == before + 1
