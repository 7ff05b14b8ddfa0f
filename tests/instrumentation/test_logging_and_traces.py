"""Job log lines from `logging` and `Job.log`, and how records link to the job's spans."""

from __future__ import annotations

import json

from jobpulse.conventions import (
    ATTR_CODE_FILE,
    ATTR_CODE_FUNCTION,
    ATTR_CODE_LINE,
    ATTR_EXCEPTION_MESSAGE,
    ATTR_EXCEPTION_TYPE,
    ATTR_JOB_ID,
    ATTR_LOGGER_NAME,
    ATTR_SEQ,
    EVENT_END,
    EVENT_START,
    EVENT_STEP,
)
from tests.support.job_scripts import run_script
from tests.support.otlp_capture import OtlpCapture

SEVERITY = {"DEBUG": 5, "INFO": 9, "WARN": 13, "ERROR": 17}

LOGGING_JOB = """
    import json, logging, threading
    from jobpulse.instrumentation import track_job

    log = logging.getLogger("etl.orders")
    root_level = logging.getLogger().level

    def transform():
        log.info("loaded %d rows", 3)

    with track_job("logging-job", steps=["transform"]) as job:
        logging.debug("not captured at INFO")
        with job.step("transform"):
            transform()
        log.warning("odd row")
        try:
            {}["id"]
        except KeyError:
            log.exception("row without id")
        logging.getLogger("urllib3.connectionpool").warning("never captured")
        logging.getLogger("jobpulse.instrumentation").warning("nor this")
        worker = threading.Thread(target=lambda: logging.getLogger("etl.worker").error("from a worker"))
        worker.start(); worker.join()
        job.log("direct line", level="warning", table="orders")

    root = logging.getLogger()
    print(json.dumps({"restored": root.level == root_level, "handlers": len(root.handlers)}))
"""


def test_logging_records_become_job_log_lines(capture: OtlpCapture) -> None:
    done = run_script(LOGGING_JOB, capture.url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"restored": True, "handlers": 0}
    # Without logging configured, warnings still reach stderr (logging.lastResort), once each.
    assert done.stderr.splitlines()[:2] == ["odd row", "row without id"]

    capture.wait_for(lambda c: c.events(EVENT_END))
    lines = {line["body"]: line for line in capture.lines()}
    assert set(lines) == {"loaded 3 rows", "odd row", "row without id", "from a worker", "direct line"}

    loaded = lines["loaded 3 rows"]
    assert loaded["severity_number"] == SEVERITY["INFO"]
    assert loaded["severity_text"] == "INFO"
    assert loaded["attributes"][ATTR_LOGGER_NAME] == "etl.orders"
    assert loaded["attributes"][ATTR_CODE_FUNCTION] == "transform"
    assert loaded["attributes"][ATTR_CODE_FILE] == "<string>"
    assert loaded["attributes"][ATTR_CODE_LINE] == 9
    assert lines["odd row"]["severity_number"] == SEVERITY["WARN"]
    failed = lines["row without id"]["attributes"]
    assert (failed[ATTR_EXCEPTION_TYPE], failed[ATTR_EXCEPTION_MESSAGE]) == ("KeyError", "'id'")
    assert lines["from a worker"]["severity_number"] == SEVERITY["ERROR"]
    assert lines["direct line"]["attributes"]["table"] == "orders"

    # Log lines share the job's one sequence with its events.
    seqs = [record["attributes"][ATTR_SEQ] for record in capture.logs]
    assert sorted(seqs) == list(range(1, len(seqs) + 1))


def test_records_carry_the_job_trace_and_steps_are_child_spans(capture: OtlpCapture) -> None:
    done = run_script(LOGGING_JOB, capture.url)
    assert done.returncode == 0, done.stderr
    spans = capture.wait_for(lambda c: len(c.spans) == 2 and c.spans)
    root = next(span for span in spans if span["name"] == "logging-job")
    step = next(span for span in spans if span["name"] == "transform")
    assert root["parent_span_id"] == ""
    assert step["parent_span_id"] == root["span_id"]
    assert step["trace_id"] == root["trace_id"]
    assert root["attributes"][ATTR_JOB_ID] == step["attributes"][ATTR_JOB_ID]

    capture.wait_for(lambda c: c.events(EVENT_END))
    assert {record["trace_id"] for record in capture.logs} == {root["trace_id"]}
    start = capture.events(EVENT_START)[0]
    assert start["span_id"] == root["span_id"]
    in_step = [line for line in capture.lines() if line["body"] == "loaded 3 rows"]
    in_step += capture.events(EVENT_STEP)
    assert {record["span_id"] for record in in_step} == {step["span_id"]}


APP_LOGGING = """
    import logging
    from jobpulse.instrumentation import track_job

    logging.basicConfig(format="app: %(message)s")  # root at WARNING, one stderr handler
    logging.getLogger("chatty").setLevel(logging.DEBUG)
    with track_job("quiet-app") as job:
        logging.getLogger("etl").info("captured, not printed")
        logging.getLogger("etl").warning("printed")
        logging.getLogger("chatty").debug("printed: its own level lets it through")
"""


def test_capturing_info_does_not_change_what_the_app_prints(capture: OtlpCapture) -> None:
    done = run_script(APP_LOGGING, capture.url)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == ["app: printed", "app: printed: its own level lets it through"]
    capture.wait_for(lambda c: c.events(EVENT_END))
    assert "captured, not printed" in {line["body"] for line in capture.lines()}
