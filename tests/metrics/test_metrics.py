"""The sidecar's /metrics: rendered from job state at scrape time, bounded, monotonic, negotiable."""

from __future__ import annotations

import time
import uuid

import httpx
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from jobpulse.sidecar.feed.hub import FeedHub
from jobpulse.sidecar.feed.metrics import FeedCollector
from jobpulse.sidecar.ingest.metrics import IngestCollector
from jobpulse.sidecar.ingest.receiver import Ingestor
from jobpulse.sidecar.metrics import SidecarMetrics
from jobpulse.sidecar.metrics.active import GAUGES
from jobpulse.sidecar.metrics.labels import OTHER, LabelBudget
from jobpulse.sidecar.model.events import JobEvent
from jobpulse.sidecar.store import JobStore
from tests.support import job_events, loopback
from tests.support.otlp_build import JobEmitter, logs_request, post_logs
from tests.support.polling import wait_for

S = 1_000_000_000
TEXT = "text/plain; version=0.0.4"
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def make(store: JobStore | None = None, **kwargs) -> tuple[JobStore, SidecarMetrics]:
    store = JobStore() if store is None else store
    metrics = SidecarMetrics(store, process_metrics=False, **kwargs)
    return store, metrics


def samples(metrics: SidecarMetrics, accept: str = TEXT) -> dict[tuple[str, frozenset], float]:
    body, _ = metrics.render(accept)
    parse = parse_openmetrics if accept.startswith("application/openmetrics") else parse_text
    return samples_of(body.decode(), parse)


def samples_of(text: str, parse=parse_text) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in parse(text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def named(found: dict, name: str) -> list[dict[str, str]]:
    return [dict(labels) for (sample, labels) in found if sample == name]


def apply(store: JobStore, events: list[JobEvent]) -> None:
    for event in events:
        store.apply(event)


def now_run(**kwargs) -> list[JobEvent]:
    start = time.time_ns() - int(kwargs.get("duration_s", 10.0) * S)
    return job_events.run(start_ns=start, received_ns=time.time_ns(), **kwargs)


def test_active_job_series_exist_while_the_job_runs_and_vanish_when_it_ends():
    store, metrics = make()
    events = now_run(job_id="run-1", name="orders-import", status="completed", total=200, processed=100)
    apply(store, events[:-1])
    apply(
        store,
        [
            JobEvent(
                kind="resources",
                job_id="run-1",
                seq=50,
                time_ns=time.time_ns(),
                rss_bytes=123_456_789,
                cpu_utilization=0.25,
            )
        ],
    )
    found = samples(metrics)
    job = {"job_id": "run-1", "job_name": "orders-import", "job_type": "csv_import"}
    assert value(found, "jobpulse_active_job_info", **job, status="running") == 1
    assert value(found, "jobpulse_active_job_progress_ratio", **job) == 0.5
    assert value(found, "jobpulse_active_job_records_processed", **job) == 100
    assert value(found, "jobpulse_active_job_memory_rss_bytes", **job) == 123_456_789
    assert value(found, "jobpulse_active_job_cpu_utilization_ratio", **job) == 0.25
    assert value(found, "jobpulse_active_job_elapsed_seconds", **job) > 9
    assert value(found, "jobpulse_jobs_active", job_name="orders-import", job_type="csv_import", status="running") == 1

    apply(store, events[-1:])
    found = samples(metrics)
    for name, _ in GAUGES:
        assert named(found, name) == [], f"{name} still has series for an ended job"
    assert named(found, "jobpulse_active_job_info") == []
    # The name stays known: jobs-by-status reports a zero rather than nothing.
    assert value(found, "jobpulse_jobs_active", job_name="orders-import", job_type="csv_import", status="running") == 0


def test_queues_count_the_jobs_waiting_and_the_wait_is_observed_once_when_it_is_over():
    store, metrics = make(clock_ns=lambda: now_ns)
    now_ns = time.time_ns()
    queued_ns = now_ns - 30 * S

    def queued(job_id: str, at_ns: int) -> JobEvent:
        return JobEvent(
            kind="queued", job_id=job_id, seq=1, time_ns=at_ns, name="report", job_type="pdf", queue="reports"
        )

    def start(job_id: str, at_ns: int) -> JobEvent:
        return JobEvent(
            kind="start", job_id=job_id, seq=1, time_ns=at_ns, received_ns=at_ns, name="report", job_type="pdf"
        )

    apply(store, [queued("a", queued_ns), queued("b", queued_ns + 10 * S)])
    found = samples(metrics)
    pair = {"queue": "reports", "job_type": "pdf"}
    assert value(found, "jobpulse_queue_pending_jobs", **pair) == 2
    assert value(found, "jobpulse_queue_oldest_wait_seconds", **pair) == 30
    assert value(found, "jobpulse_jobs_active", job_name="report", job_type="pdf", status="pending") == 2
    wait = {"job_name": "report", "job_type": "pdf", "queue": "reports"}
    assert value(found, "jobpulse_jobs_wait_seconds_count", **wait) == 0, "the series exists from the announcement"

    apply(
        store,
        [start("a", queued_ns + 12 * S), JobEvent(kind="progress", job_id="a", seq=2, time_ns=now_ns, processed=3)],
    )
    found = samples(metrics)
    assert value(found, "jobpulse_queue_pending_jobs", **pair) == 1
    assert value(found, "jobpulse_queue_oldest_wait_seconds", **pair) == 20
    assert value(found, "jobpulse_jobs_wait_seconds_count", **wait) == 1
    assert value(found, "jobpulse_jobs_wait_seconds_sum", **wait) == 12

    apply(store, [start("b", now_ns)])
    found = samples(metrics)
    assert value(found, "jobpulse_queue_pending_jobs", **pair) == 0, "a queue seen before stays, at zero"
    assert value(found, "jobpulse_queue_oldest_wait_seconds", **pair) == 0
    assert value(found, "jobpulse_jobs_wait_seconds_count", **wait) == 2


def test_the_sidecars_own_latency_and_connection_figures_are_there_before_anything_happens():
    store, metrics = make()
    metrics.register(FeedCollector(FeedHub(store)))
    metrics.register(IngestCollector(Ingestor(store, 1024)))
    found = samples(metrics)
    assert value(found, "jobpulse_sidecar_ingest_queue_seconds_count") == 0
    assert value(found, "jobpulse_sidecar_ingest_queue_seconds_bucket", le="+Inf") == 0
    for message_type in ("job_status_update", "job_progress", "job_log", "alert"):
        assert value(found, "jobpulse_sidecar_feed_send_delay_seconds_count", type=message_type) == 0
    assert {labels["reason"] for labels in named(found, "jobpulse_sidecar_feed_handshake_failures_total")} == {
        "invalid_parameters",
        "client_gone",
        "error",
        "capacity",
    }
    assert {labels["cause"] for labels in named(found, "jobpulse_sidecar_feed_resyncs_total")} == {
        "backlog",
        "lag",
        "cursor",
    }


def test_finished_job_counters_act_once_per_job_and_stay_monotonic_after_eviction():
    store, metrics = make(JobStore(finished_capacity=2))
    for _number in range(5):
        apply(
            store,
            now_run(
                name="nightly-load",
                job_type="db_load",
                status="failed",
                processed=10,
                failed=3,
                error_type="sqlite3.IntegrityError",
                steps=(("extract", 1.0), ("load", 2.0)),
            ),
        )
    apply(
        store,
        now_run(
            name="nightly-load",
            job_type="db_load",
            status="completed",
            processed=10,
            steps=(("extract", 1.5), ("load", 2.5)),
        ),
    )
    assert len(store) == 2, "finished jobs were evicted from memory"
    found = samples(metrics)
    job = {"job_name": "nightly-load", "job_type": "db_load"}
    assert value(found, "jobpulse_jobs_started_total", **job) == 6
    assert value(found, "jobpulse_jobs_finished_total", **job, status="failed") == 5
    assert value(found, "jobpulse_jobs_finished_total", **job, status="completed") == 1
    assert value(found, "jobpulse_jobs_finished_total", **job, status="cancelled") == 0
    assert value(found, "jobpulse_jobs_failures_total", **job, exception_type="sqlite3.IntegrityError") == 5
    assert value(found, "jobpulse_jobs_records_processed_total", **job) == 60
    assert value(found, "jobpulse_jobs_records_failed_total", **job) == 15
    assert value(found, "jobpulse_jobs_duration_seconds_count", **job, status="failed") == 5
    assert value(found, "jobpulse_jobs_duration_seconds_sum", **job, status="failed") == 50
    assert value(found, "jobpulse_jobs_step_duration_seconds_count", job_name="nightly-load", step="load") == 6
    assert value(found, "jobpulse_jobs_last_step_duration_seconds", job_name="nightly-load", step="load") == 2.5
    assert (
        value(found, "jobpulse_jobs_last_failure_timestamp_seconds", **job, exception_type="sqlite3.IntegrityError")
        > time.time() - 60
    )
    # Duplicate and late events change nothing: an end replayed is not a second end.
    apply(store, now_run(job_id="again", name="nightly-load", job_type="db_load", status="completed"))
    before = samples(metrics)
    apply(store, now_run(job_id="again", name="nightly-load", job_type="db_load", status="completed"))
    assert (
        value(samples(metrics), "jobpulse_jobs_finished_total", **job, status="completed")
        == value(before, "jobpulse_jobs_finished_total", **job, status="completed")
        == 2
    )


def test_progress_events_do_no_metric_work():
    store, metrics = make()
    # Every metric the finished-job counters touch is labelled through labels_of: once for the start,
    # once for the end, never for what comes in between.
    labelled = []
    labels_of = metrics.finished.labels_of
    metrics.finished.labels_of = lambda state: labelled.append(state.status) or labels_of(state)
    job = now_run(job_id="busy", status="completed")
    apply(store, job[:1])
    for seq in range(2, 1002):
        store.apply(JobEvent(kind="progress", job_id="busy", seq=seq, time_ns=time.time_ns(), processed=seq))
    apply(store, [JobEvent(kind="end", job_id="busy", seq=2000, time_ns=time.time_ns(), status="completed")])
    assert labelled == ["running", "completed"]


def test_label_cardinality_is_bounded():
    store, metrics = make(budget=LabelBudget(max_names=3, max_per_name=2))
    for number in range(10):
        apply(store, now_run(name=f"import-{number}", status="failed", error_type=f"Error{number}"))
    for number in range(5):
        apply(
            store,
            now_run(
                name="import-0",
                status="failed",
                error_type=f"Other{number}",
                steps=tuple((f"step-{step}", 1.0) for step in range(number + 3)),
            ),
        )
    found = samples(metrics)
    names = {labels["job_name"] for labels in named(found, "jobpulse_jobs_finished_total")}
    assert names == {"import-0", "import-1", "import-2", OTHER}
    exceptions = {
        labels["exception_type"]
        for labels in named(found, "jobpulse_jobs_failures_total")
        if labels["job_name"] == "import-0"
    }
    assert exceptions == {"Error0", "Other0", OTHER}
    steps = {labels["step"] for labels in named(found, "jobpulse_jobs_last_step_duration_seconds")}
    assert steps == {"step-0", "step-1", OTHER}
    assert value(found, "jobpulse_jobs_finished_total", job_name=OTHER, job_type="csv_import", status="failed") == 7


def test_openmetrics_on_request_with_trace_id_exemplars():
    store, metrics = make()
    trace_id = uuid.uuid4().hex
    events = now_run(name="exported", status="completed")
    events = [JobEvent(**{**_fields(event), "trace_id": trace_id}) for event in events]
    apply(store, events)
    apply(store, now_run(job_id="still-running", name="exported", status=None, total=10, processed=5))

    body, content_type = metrics.render(OPENMETRICS)
    assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    assert body.endswith(b"# EOF\n") and body.count(b"# EOF") == 1
    families = {family.name: family for family in parse_openmetrics(body.decode())}
    assert families["jobpulse_active_job"].type == "info"
    exemplars = [sample.exemplar for sample in families["jobpulse_jobs_duration_seconds"].samples if sample.exemplar]
    assert [exemplar.labels for exemplar in exemplars] == [{"trace_id": trace_id}]
    assert exemplars[0].value == 10.0

    body, content_type = metrics.render(None)
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert b"# EOF" not in body and b'trace_id="' not in body
    assert {family.name for family in parse_text(body.decode())} >= {
        "jobpulse_jobs_duration_seconds",
        "jobpulse_active_job_info",
    }


def _fields(event: JobEvent) -> dict:
    return {field: getattr(event, field) for field in event.__struct_fields__}


def test_label_values_are_escaped():
    store, metrics = make()
    apply(store, now_run(job_id='id "quoted" \\ back\x1b[31m', name='name with "quotes"\nand newline\x00', status=None))
    found = samples(metrics)
    # Control characters are shown as \xNN escapes (a newline too: one rule wherever the sidecar shows
    # job text); quotes and backslashes are escaped by the exposition format and parse back as sent.
    assert named(found, "jobpulse_active_job_info") == [
        {
            "job_id": 'id "quoted" \\ back\\x1b[31m',
            "job_name": 'name with "quotes"\\x0aand newline\\x00',
            "job_type": "csv_import",
            "status": "running",
        }
    ]
    assert named(samples(metrics, OPENMETRICS), "jobpulse_active_job_info")


def test_any_subsystem_can_register_a_collector():
    from prometheus_client.core import GaugeMetricFamily

    class Extra:
        def collect(self):
            yield GaugeMetricFamily("jobpulse_test_extra", "A subsystem's metric.", value=42)

    _store, metrics = make()
    metrics.registry.register(Extra())
    assert value(samples(metrics), "jobpulse_test_extra") == 42
    assert value(samples(metrics, OPENMETRICS), "jobpulse_test_extra") == 42


def test_scrape_with_many_active_jobs_stays_cheap():
    store, metrics = make()
    now = time.time_ns()
    for number in range(2000):
        common = {"job_id": f"job-{number}", "received_ns": now}
        store.apply(
            JobEvent(
                kind="start", seq=1, time_ns=now - 60 * S, name=f"name-{number % 20}", total=1000, processed=0, **common
            )
        )
        store.apply(JobEvent(kind="progress", seq=2, time_ns=now - 30 * S, processed=100, **common))
        store.apply(JobEvent(kind="progress", seq=3, time_ns=now, processed=400, **common))
    started = time.perf_counter()
    body, _ = metrics.render(TEXT)
    elapsed = time.perf_counter() - started
    assert body.count(b"\njobpulse_active_job_info{") == 2000
    # About 40 ms here for 2,000 jobs (docs/metrics.md); the bound only catches a pathological regression.
    assert elapsed < 2.0, f"rendering 2,000 active jobs took {elapsed:.2f} s"


def test_metrics_endpoint_negotiates_the_format(shared_sidecar):
    trace_id = uuid.uuid4().hex
    job = JobEmitter("http-" + uuid.uuid4().hex[:8])
    records = [
        job.start(name="metrics-endpoint", job_type="api_upload", total=10),
        job.progress(processed=10),
        job.end("failed", processed=10, **{"exception.type": "ValueError"}),
    ]
    for item in records:
        item.trace_id = bytes.fromhex(trace_id)
    post_logs(shared_sidecar.url, records)

    def finished() -> httpx.Response | None:
        response = loopback.get(shared_sidecar.url + "/metrics", headers={"accept": OPENMETRICS}, timeout=10)
        return response if f'trace_id="{trace_id}"'.encode() in response.content else None

    response = wait_for(finished, timeout=10, interval=0.1)
    assert response.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    families = {family.name: family for family in parse_openmetrics(response.text)}
    failures = [
        sample
        for sample in families["jobpulse_jobs_failures"].samples
        if sample.labels.get("job_name") == "metrics-endpoint"
    ]
    assert [(sample.labels["exception_type"], sample.value) for sample in failures] == [("ValueError", 1.0)]
    assert "jobpulse_sidecar_ingest_records" in families
    assert "jobpulse_sidecar_fold_lag_seconds" in families

    plain = loopback.get(shared_sidecar.url + "/metrics", timeout=10)
    assert plain.headers["content-type"].startswith("text/plain; version=0.0.4")
    names = {family.name for family in parse_text(plain.text)}
    assert {
        "jobpulse_jobs_finished",
        "jobpulse_sidecar_storage_write_lag_seconds",
        "process_resident_memory_bytes",
        "jobpulse_sidecar_feed_clients",
    } <= names


def test_every_export_request_is_timed_from_its_arrival_also_on_a_kept_alive_connection(shared_sidecar):
    def requests_timed() -> float:
        body = loopback.get(shared_sidecar.url + "/metrics", timeout=10).text
        return value(samples_of(body), "jobpulse_sidecar_ingest_queue_seconds_count")

    before = requests_timed()
    job = JobEmitter("queue-time-" + uuid.uuid4().hex[:8])
    with httpx.Client(base_url=shared_sidecar.url, timeout=10) as client:
        for record in (job.start(name="timed"), job.progress(processed=1), job.end("completed", processed=1)):
            response = client.post(
                "/v1/logs", content=logs_request([record]), headers={"content-type": "application/x-protobuf"}
            )
            assert response.status_code == 200
    assert requests_timed() == before + 3
