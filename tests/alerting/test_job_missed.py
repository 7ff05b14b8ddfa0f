"""job_missed against a real sidecar: a scheduled name whose run is late fires at a real receiver,
resolves when a run starts, and the schedules' REST view shows the last run. A schedule stated by
``jobpulse run --schedule`` is learned from the run and alerts like a configured one."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

from tests.alerting.conftest import FLEET_RULES, JOB_RULES, rules_off, start_sidecar
from tests.alerting.receivers import HttpReceiver
from tests.run.wrapper import run
from tests.support.otlp_build import JobEmitter, post_logs
from tests.support.polling import wait_for
from tests.support.sidecar import SidecarProcess

FAST_ALERTS = """
[alerting]
evaluation_interval_s = 0.1
group_window_s = 0
repeat_interval_s = 0

[[alerting.channels]]
name = "hook"
url = "{hook}"

[alerting.delivery]
base_delay_s = 0.05
max_delay_s = 0.2
""" + rules_off([*JOB_RULES, *(rule for rule in FLEET_RULES if rule != "job_missed")])


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def schedules(sidecar: SidecarProcess) -> dict[str, dict[str, Any]]:
    return {view["name"]: view for view in sidecar.get_json("/api/monitor/schedules")["schedules"]}


def about(name: str, prefix: str):
    return lambda message: name in message.title and message.title.startswith(prefix)


def test_a_late_scheduled_run_fires_job_missed_and_its_start_resolves_it(tmp_path: Path, receiver: HttpReceiver):
    name = unique("export")
    toml = FAST_ALERTS.format(hook=receiver.url("json", "/hook")) + (
        f'\n[[schedules]]\nname = "{name}"\nevery = 1.5\ngrace = 0.5\n'
    )
    sidecar = start_sidecar(tmp_path, toml)
    try:
        [fired] = receiver.wait("/hook", about(name, "[HIGH] Job"), timeout=10)
        assert fired.title.startswith(f"[HIGH] Job {name} did not start: a run was due at ")
        assert "every 1.5 s, grace 0.5 s" in fired.title and "No run of it is known." in fired.body
        view = schedules(sidecar)[name]
        assert (view["state"], view["source"], view["last_run"]) == ("missed", "config", None)
        [alert] = [item for item in sidecar.get_json("/api/alerts")["items"] if item["rule"] == "job_missed"]
        assert (alert["key"], alert["state"], alert["job_name"]) == (f"job_missed:name:{name}", "firing", name)

        job = JobEmitter(uuid.uuid4().hex)
        post_logs(sidecar.url, [job.start(name=name), job.end("completed", processed=3)])
        [resolved] = receiver.wait("/hook", about(name, "[RESOLVED]"), timeout=10)
        assert f"a run started (job id {job.job_id})" in resolved.body
        assert resolved.type == "success"
        last = wait_for(lambda: schedules(sidecar)[name]["last_run"], timeout=5)
        assert (last["job_id"], last["status"]) == (job.job_id, "completed")
        [typed] = [view for view in sidecar.client.schedules().schedules if view.name == name]
        assert typed.last_run is not None and (typed.last_run.job_id, typed.source) == (job.job_id, "config")
    finally:
        sidecar.stop_soon()


def test_jobpulse_run_schedule_teaches_the_sidecar_a_schedule_that_alerts(tmp_path: Path, receiver: HttpReceiver):
    name = unique("report")
    sidecar = start_sidecar(tmp_path, FAST_ALERTS.format(hook=receiver.url("json", "/hook")))
    try:
        arguments = ["--name", name, "--schedule", "*/2 * * * * *", "--grace", "0s"]
        done = run([*arguments, "--", sys.executable, "-c", "print('done')"], sidecar.url)
        assert done.returncode == 0, done.stderr
        learned = wait_for(lambda: schedules(sidecar).get(name), timeout=5)
        assert {key: learned[key] for key in ("source", "cron", "every_s", "timezone", "grace_s")} == {
            "source": "learned",
            "cron": "*/2 * * * * *",
            "every_s": None,
            "timezone": "UTC",
            "grace_s": 0.0,
        }
        last = wait_for(lambda: schedules(sidecar)[name]["last_run"], timeout=5)
        assert last["status"] in ("running", "completed")
        # Nothing runs it again: the learned schedule alerts as a configured one would.
        [fired] = receiver.wait("/hook", about(name, "[HIGH] Job"), timeout=10)
        assert f"The last run (job id {last['job_id']})" in fired.body and "the schedule is learned" in fired.body
    finally:
        sidecar.stop_soon()
