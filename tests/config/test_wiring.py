"""Every setting that may change while the sidecar runs reaches the part that uses it.

Each key is changed over REST on a real application (its lifespan running, as under uvicorn) and
the part that uses it is looked at. A key added to Settings without a probe here fails the test: a
setting nobody applies would be accepted and silently do nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from jobpulse.sidecar.config.layers import leaves
from jobpulse.sidecar.server import SidecarServer
from jobpulse.sidecar.settings import RESTART_KEYS, Settings

Probe = Callable[[SidecarServer], Any]


def state(server: SidecarServer) -> Any:
    return server.application.state


def current(server: SidecarServer) -> Settings:
    """For the keys read where they are used (request handlers, the settings watch)."""
    return state(server).live_settings.current


# key: (new value, what shows it in the running sidecar, the value expected there)
PROBES: dict[str, tuple[Any, Probe, Any]] = {
    "log_level": ("debug", lambda s: logging.getLogger("jobpulse").level, logging.DEBUG),
    "access_log": (True, lambda s: logging.getLogger("uvicorn.access").disabled, False),
    "max_request_bytes": (1234, lambda s: state(s).ingestor.max_request_bytes, 1234),
    "feed_tick_ms": (75, lambda s: state(s).hub.tick_s, 0.075),
    "feed_replay_messages": (50, lambda s: state(s).hub.replay_messages, 50),
    "feed_client_queue_frames": (7, lambda s: state(s).hub.queue_frames, 7),
    "feed_client_max_lag_s": (0.5, lambda s: state(s).hub.max_lag_s, 0.5),
    "feed_send_timeout_s": (3.0, lambda s: state(s).hub.send_timeout_s, 3.0),
    "feed_compression": (True, lambda s: s.config.ws_per_message_deflate, True),
    "feed_max_connections": (3, lambda s: state(s).hub.max_connections, 3),
    "feed_ping_interval_s": (5.0, lambda s: (s.config.ws_ping_interval, s.config.ws_ping_timeout), (5.0, 5.0)),
    "log_streaming_enabled": (False, lambda s: state(s).hub.log_streaming, False),
    "metrics_collection_enabled": (False, lambda s: state(s).ingestor.collect_resources, False),
    "history_flush_interval_s": (0.25, lambda s: state(s).history.writer.interval_s, 0.25),
    "history_max_pending_lines": (99, lambda s: state(s).history.writer.max_pending_lines, 99),
    "retention_days": (3.0, lambda s: state(s).history.sweeper.policy.job_days, 3.0),
    "retention_log_lines_per_job": (11, lambda s: state(s).history.sweeper.policy.log_lines_per_job, 11),
    "retention_log_storage_mb": (12.0, lambda s: state(s).history.sweeper.policy.log_storage_mb, 12.0),
    "retention_sweep_interval_s": (13.0, lambda s: state(s).history.sweeper.interval_s, 13.0),
    "retention_batch_size": (14, lambda s: state(s).history.sweeper.policy.batch_size, 14),
    "control_ack_timeout_s": (15.0, lambda s: state(s).hub.ack_timeout_s, 15.0),
    "control_poll_max_wait_s": (16.0, lambda s: current(s).control_poll_max_wait_s, 16.0),
    "progress_interval_s": (0.5, lambda s: state(s).control.progress_interval_s, 0.5),
    "recent_logs_per_job": (17, lambda s: state(s).store.limits.recent_logs, 17),
    "finished_jobs_in_memory": (18, lambda s: state(s).store.finished_capacity, 18),
    "heartbeat_window_s": (19.0, lambda s: state(s).detector.window_s, 19.0),
    "lost_check_interval_s": (0.75, lambda s: state(s).detector.interval_s, 0.75),
    "restart_grace_s": (21.0, lambda s: state(s).detector.restart_grace_s, 21.0),
    "config_poll_interval_s": (0.5, lambda s: current(s).config_poll_interval_s, 0.5),
    "alerting": (
        {"rules": {"job_stalled": {"after_s": 22.0}}, "delivery": {"attempts": 5}},
        lambda s: (state(s).alerting.engine.rules.job_stalled.after_s, state(s).alerting.delivery.settings.attempts),
        (22.0, 5),
    ),
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SidecarServer]:
    loggers = [
        logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "jobpulse")
    ]
    saved = [(logger.level, logger.disabled) for logger in loggers]
    yield SidecarServer(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'history.db'}"))
    for logger, (level, disabled) in zip(loggers, saved, strict=True):
        logger.setLevel(level)
        logger.disabled = disabled


def test_every_live_key_has_a_probe():
    assert set(PROBES) == set(Settings.__struct_fields__) - set(RESTART_KEYS)


@pytest.mark.parametrize("key", sorted(PROBES))
async def test_a_changed_key_reaches_the_part_that_uses_it(server, key):
    value, probe, expected = PROBES[key]
    async with AsyncTestClient(server.application) as client:
        assert probe(server) != expected, "the probe tells the new value from the old"
        response = await client.patch("/api/monitor/config", json={key: value})
        assert response.status_code == 200, response.text
        assert probe(server) == expected
        answer = response.json()
        assert {answer["sources"][path] for path, _ in leaves({key: value})} == {"runtime"}
        assert answer["runtime"] == {key: value}
