"""Replicas sharing a PostgreSQL database run one configuration: a change made through one reaches the
others within seconds, survives restarts, and concurrent changes through two replicas both land."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from tests.config.conftest import get_config, patch_config
from tests.support.polling import wait_for
from tests.support.sidecar import SidecarProcess, start_together


def replica(workdir: Path, database_url: str, name: str) -> SidecarProcess:
    return replica_process(workdir, database_url, name).start()


def replica_process(workdir: Path, database_url: str, name: str) -> SidecarProcess:
    # The default watch interval (2 s): what a fleet runs with.
    return SidecarProcess(workdir, database_url=database_url, name=name, control_poll_max_wait_s=1)


def test_two_sidecars_on_one_database_converge(tmp_path: Path, postgres_server: Any):
    url = postgres_server.new_database()
    first, second = start_together(replica_process(tmp_path, url, "first"), replica_process(tmp_path, url, "second"))
    try:
        answer = patch_config(first, {"feed_tick_ms": 60, "alerting": {"rules": {"job_stalled": {"after_s": 42}}}})
        assert answer.status_code == 200, answer.text
        wait_for(lambda: get_config(second)["version"] == 1, timeout=10, interval=0.1)
        shown = get_config(second)
        assert shown["values"]["feed_tick_ms"] == 60 and shown["sources"]["feed_tick_ms"] == "runtime"
        assert shown["values"]["alerting"]["rules"]["job_stalled"]["after_s"] == 42

        # Both change at once: the second writer finds the version moved, rebases and writes again.
        answers: dict[str, Any] = {}
        threads = [
            threading.Thread(target=lambda: answers.update(a=patch_config(first, {"retention_days": 3}))),
            threading.Thread(target=lambda: answers.update(b=patch_config(second, {"recent_logs_per_job": 4}))),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert answers["a"].status_code == answers["b"].status_code == 200

        def converged() -> bool:
            views = [get_config(first), get_config(second)]
            # Each listens on its own port; everything else is one configuration.
            first_values, second_values = ({**view["values"], "port": None} for view in views)
            return all(view["version"] == 3 for view in views) and first_values == second_values

        wait_for(converged, timeout=10, interval=0.1)
        values = get_config(first)["values"]
        assert (values["retention_days"], values["recent_logs_per_job"], values["feed_tick_ms"]) == (3, 4, 60)
        audit = first.get_json("/api/monitor/config/history")["items"]
        assert sorted(item["version"] for item in audit) == [1, 2, 3]
        assert len({item["replica"] for item in audit}) == 2
    finally:
        first.stop()
        second.stop()

    restarted = replica(tmp_path, url, "restarted")
    try:
        shown = get_config(restarted)
        assert shown["values"]["feed_tick_ms"] == 60 and shown["runtime"] == {
            "feed_tick_ms": 60,
            "alerting": {"rules": {"job_stalled": {"after_s": 42}}},
            "retention_days": 3,
            "recent_logs_per_job": 4,
        }
    finally:
        restarted.stop()
