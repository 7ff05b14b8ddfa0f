"""Every setting that may change while the sidecar runs reaches the part that uses it, and the runtime
changes stored before a start are in force before the features start.

Each key is changed over REST on a real application (its lifespan running, as under uvicorn, with
authentication on) and the part that uses it, found through its feature, is looked at. A key added to
Settings without a probe here fails the test: a setting nobody applies would be accepted and silently
do nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from litestar.testing import AsyncTestClient

from jobpulse.sidecar.alerting.plugin import AlertingFeature
from jobpulse.sidecar.app import create_app
from jobpulse.sidecar.auth.plugin import AuthFeature
from jobpulse.sidecar.config.layers import leaves
from jobpulse.sidecar.control.plugin import ControlFeature
from jobpulse.sidecar.feed.plugin import FeedFeature
from jobpulse.sidecar.guard.plugin import GuardFeature
from jobpulse.sidecar.history.plugin import HistoryFeature
from jobpulse.sidecar.ingest.plugin import IngestFeature
from jobpulse.sidecar.metrics.plugin import MetricsFeature
from jobpulse.sidecar.plugin import Core
from jobpulse.sidecar.schedules.plugin import SchedulesFeature
from jobpulse.sidecar.server import SidecarServer
from jobpulse.sidecar.settings import RESTART_KEYS, Settings
from jobpulse.sidecar.storage.plugin import StorageFeature

Probe = Callable[[SidecarServer], Any]
T = TypeVar("T")


def the(server: SidecarServer, kind: type[T]) -> T:
    return server.application.plugins.get(kind)


def current(server: SidecarServer) -> Settings:
    """For the keys read where they are used (request handlers, the settings watch)."""
    return the(server, Core).settings


def hub(server: SidecarServer) -> Any:
    return the(server, FeedFeature).hub


def the_origins(server: SidecarServer) -> list[str] | None:
    """The origins the CORS middleware in front of the app allows (None: CORS off, or not in front)."""
    cors = the(server, GuardFeature).cors
    if cors.middleware is None or server.application.asgi_handler is not cors:
        return None
    return cors.middleware.config.allow_origins


def tokens_required(server: SidecarServer) -> tuple[bool, bool]:
    """Whether the access middleware asks for tokens, and whether the auth routes say it does."""
    return the(server, AuthFeature).middleware.enabled, the(server, AuthFeature).service.enabled


def metrics_roles(server: SidecarServer) -> tuple[str, ...]:
    """The roles ``/metrics`` admits as the access middleware sees it now."""
    [route] = the(server, MetricsFeature).route_handlers()
    return the(server, AuthFeature).middleware.required(route)


# key: (new value, what shows it in the running sidecar, the value expected there)
PROBES: dict[str, tuple[Any, Probe, Any]] = {
    "log_level": ("debug", lambda s: logging.getLogger("jobpulse").level, logging.DEBUG),
    "access_log": (True, lambda s: logging.getLogger("uvicorn.access").disabled, False),
    "auth_enabled": (False, tokens_required, (False, False)),
    # Served on an address beyond loopback (SERVED_WITH), where nothing but it turns authentication off.
    "insecure_no_auth": (True, tokens_required, (False, False)),
    "metrics_require_token": (True, metrics_roles, ("viewer",)),
    "auth_recheck_interval_s": (0.5, lambda s: the(s, AuthFeature).service.authenticator.recheck_s, 0.5),
    "ws_ticket_ttl_s": (5.0, lambda s: the(s, AuthFeature).service.tickets.ttl_ns, 5_000_000_000),
    "max_request_bytes": (1234, lambda s: the(s, IngestFeature).ingestor.max_request_bytes, 1234),
    "feed_tick_ms": (75, lambda s: hub(s).tick_s, 0.075),
    "feed_frames_per_s": (250, lambda s: hub(s).frames_per_s, 250),
    "feed_progress_hz": (0.5, lambda s: hub(s).progress_hz, 0.5),
    "feed_replay_messages": (50, lambda s: hub(s).replay_messages, 50),
    "feed_client_queue_frames": (7, lambda s: hub(s).queue_frames, 7),
    "feed_client_max_lag_s": (0.5, lambda s: hub(s).max_lag_s, 0.5),
    "feed_send_timeout_s": (3.0, lambda s: hub(s).send_timeout_s, 3.0),
    "feed_test_delay_ms": (40, lambda s: hub(s).test_delay_s, 0.04),
    "feed_compression": (True, lambda s: s.config.ws_per_message_deflate, True),
    "feed_max_connections": (3, lambda s: the(s, FeedFeature).admission.max_connections, 3),
    "feed_max_connections_per_client": (4, lambda s: the(s, FeedFeature).admission.max_per_client, 4),
    "feed_ping_interval_s": (5.0, lambda s: (s.config.ws_ping_interval, s.config.ws_ping_timeout), (5.0, 5.0)),
    "log_streaming_enabled": (False, lambda s: hub(s).log_streaming, False),
    "metrics_collection_enabled": (False, lambda s: the(s, IngestFeature).ingestor.collect_resources, False),
    "rate_limit_enabled": (False, lambda s: the(s, GuardFeature).limiter.enabled, False),
    "rate_limit_rest": ("5/second", lambda s: the(s, GuardFeature).limiter.rest.rate, "5/second"),
    "rate_limit_ingest": ("6 per minute", lambda s: the(s, GuardFeature).limiter.ingest.rate, "6 per minute"),
    # Nothing connects to it here: a Redis pool connects at its first command.
    "rate_limit_storage_url": (
        "redis://127.0.0.1:9/0",
        lambda s: getattr(the(s, GuardFeature).limiter.counter, "url", None),
        "redis://127.0.0.1:9/0",
    ),
    "cors_allowed_origins": (["https://ops.example"], the_origins, ["https://ops.example"]),
    "history_flush_interval_s": (0.25, lambda s: the(s, HistoryFeature).service.writer.interval_s, 0.25),
    "history_max_pending_lines": (99, lambda s: the(s, HistoryFeature).service.writer.max_pending_lines, 99),
    "history_writer_process": ("always", lambda s: the(s, HistoryFeature).service.writer.process_mode, "always"),
    "retention_days": (3.0, lambda s: the(s, StorageFeature).sweeper.policy.job_days, 3.0),
    "retention_log_lines_per_job": (11, lambda s: the(s, StorageFeature).sweeper.policy.log_lines_per_job, 11),
    "retention_log_storage_mb": (12.0, lambda s: the(s, StorageFeature).sweeper.policy.log_storage_mb, 12.0),
    "retention_sweep_interval_s": (13.0, lambda s: the(s, StorageFeature).sweeper.interval_s, 13.0),
    "retention_batch_size": (14, lambda s: the(s, StorageFeature).sweeper.policy.batch_size, 14),
    "control_ack_timeout_s": (15.0, lambda s: hub(s).ack_timeout_s, 15.0),
    "control_poll_max_wait_s": (16.0, lambda s: current(s).control_poll_max_wait_s, 16.0),
    "control_db_poll_interval_s": (0.25, lambda s: the(s, ControlFeature).service.db_poll_interval_s, 0.25),
    "progress_interval_s": (0.5, lambda s: the(s, ControlFeature).service.progress_interval_s, 0.5),
    "recent_logs_per_job": (17, lambda s: the(s, Core).store.limits.recent_logs, 17),
    "finished_jobs_in_memory": (18, lambda s: the(s, Core).store.finished_capacity, 18),
    "heartbeat_window_s": (19.0, lambda s: the(s, IngestFeature).detector.window_s, 19.0),
    "lost_check_interval_s": (0.75, lambda s: the(s, IngestFeature).detector.interval_s, 0.75),
    "restart_grace_s": (21.0, lambda s: the(s, IngestFeature).detector.restart_grace_s, 21.0),
    "config_poll_interval_s": (0.5, lambda s: current(s).config_poll_interval_s, 0.5),
    "alerting": (
        {"rules": {"job_stalled": {"after_s": 22.0}}, "delivery": {"attempts": 5}},
        lambda s: (
            the(s, AlertingFeature).alerting.engine.rules.job_stalled.after_s,
            the(s, AlertingFeature).alerting.delivery.settings.attempts,
        ),
        (22.0, 5),
    ),
    "schedules": (
        [{"name": "nightly", "cron": "0 2 * * *", "grace": "10m"}],
        lambda s: [(x.name, x.cron, x.grace_s) for x in the(s, SchedulesFeature).book.schedules()],
        [("nightly", "0 2 * * *", 600.0)],
    ),
}


# Settings a probe needs the sidecar to start with, besides the fixture's. Nothing binds the address.
SERVED_WITH: dict[str, dict[str, Any]] = {"insecure_no_auth": {"host": "0.0.0.0", "auth_enabled": None}}


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SidecarServer]:
    loggers = [
        logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "jobpulse")
    ]
    saved = [(logger.level, logger.disabled) for logger in loggers]
    key = getattr(request, "param", None)
    # Authentication on, so that its live keys have something running to reach.
    settings: dict[str, Any] = {"auth_enabled": True, **SERVED_WITH.get(key, {})}
    yield SidecarServer(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'history.db'}", **settings))
    for logger, (level, disabled) in zip(loggers, saved, strict=True):
        logger.setLevel(level)
        logger.disabled = disabled


def test_every_live_key_has_a_probe():
    assert set(PROBES) == set(Settings.__struct_fields__) - set(RESTART_KEYS)


@pytest.mark.parametrize(
    ("server", "key"), [(key, key) for key in sorted(PROBES)], indirect=["server"], ids=sorted(PROBES)
)
async def test_a_changed_key_reaches_the_part_that_uses_it(server, key):
    value, probe, expected = PROBES[key]
    async with AsyncTestClient(server.application) as client:
        _, token = await the(server, AuthFeature).service.tokens.create("wiring", "admin")
        assert probe(server) != expected, "the probe tells the new value from the old"
        response = await client.patch(
            "/api/monitor/config", json={key: value}, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, response.text
        assert probe(server) == expected
        answer = response.json()
        assert {answer["sources"][path] for path, _ in leaves({key: value})} == {"runtime"}
        assert answer["runtime"] == {key: value}


async def test_runtime_changes_stored_earlier_are_in_force_before_the_features_start(tmp_path: Path, monkeypatch):
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'history.db'}")
    first = create_app(settings)
    async with AsyncTestClient(first) as client:
        response = await client.patch("/api/monitor/config", json={"alerting": {"enabled": False}, "feed_tick_ms": 70})
        assert response.status_code == 200, response.text

    restarted = create_app(settings)
    seen_at_start: dict[str, Any] = {}
    alerting, feed = restarted.plugins.get(AlertingFeature), restarted.plugins.get(FeedFeature)
    start_alerting, start_feed = alerting.start, feed.start

    async def alerting_start() -> None:
        seen_at_start["alerting.enabled"] = alerting.alerting.settings.enabled
        await start_alerting()

    async def feed_start() -> None:
        seen_at_start["feed tick"] = feed.hub.tick_s
        await start_feed()

    monkeypatch.setattr(alerting, "start", alerting_start)
    monkeypatch.setattr(feed, "start", feed_start)
    async with AsyncTestClient(restarted):
        assert seen_at_start == {"alerting.enabled": False, "feed tick": 0.07}
        assert not alerting.alerting.engine.running, "alerting turned off before it started never runs"
