"""Process-wide settings of the instrumentation: defaults, environment, and `configure()`."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from jobpulse.conventions import DEFAULT_HEARTBEAT_INTERVAL_S

ENV_PROGRESS_INTERVAL = "JOBPULSE_PROGRESS_INTERVAL"
ENV_RESOURCES_INTERVAL = "JOBPULSE_RESOURCES_INTERVAL"
ENV_PUSHGATEWAY_URL = "JOBPULSE_PUSHGATEWAY_URL"
ENV_CONTROL = "JOBPULSE_CONTROL"


@dataclass(frozen=True)
class Settings:
    """What `configure()` can change; every field has a working default."""

    # Base URL of the OTLP/HTTP receiver; None lets the OTEL_EXPORTER_OTLP_* variables decide.
    endpoint: str | None = None
    service_name: str | None = None
    progress_interval: float = 0.025
    resources_interval: float = DEFAULT_HEARTBEAT_INTERVAL_S
    buffer_size: int = 10_000
    exit_flush_timeout: float = 5.0
    headers: Mapping[str, str] = field(default_factory=dict)
    pushgateway_url: str | None = None
    # Long-poll the sidecar for pause/resume/cancel commands (JOBPULSE_CONTROL=0 turns it off).
    control: bool = True


_lock = threading.Lock()
_overrides: dict[str, object] = {}
_frozen: Settings | None = None


def configure(
    endpoint: str | None = None,
    service_name: str | None = None,
    progress_interval: float | None = None,
    resources_interval: float | None = None,
    buffer_size: int | None = None,
    exit_flush_timeout: float | None = None,
    headers: Mapping[str, str] | None = None,
    pushgateway_url: str | None = None,
    control: bool | None = None,
) -> None:
    """Override the instrumentation's defaults; optional, and only before the first job starts.

    Args:
        endpoint: base URL of the sidecar (or any OTLP/HTTP receiver), e.g. ``http://host:4318``.
            Without it the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT``
            / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` variables apply, else ``http://127.0.0.1:4318``.
        service_name: the OTel ``service.name``; default ``OTEL_SERVICE_NAME``, else the script's name.
        progress_interval: seconds between coalesced progress records (env ``JOBPULSE_PROGRESS_INTERVAL``);
            while the sidecar suggests an interval (its ``progress_interval_s`` setting), that one applies.
        resources_interval: seconds between resource samples, which double as heartbeats
            (env ``JOBPULSE_RESOURCES_INTERVAL``).
        buffer_size: job log lines kept while the receiver is unreachable; the oldest are dropped beyond.
        exit_flush_timeout: the longest the interpreter waits at exit for telemetry to be delivered. It
            stops sooner, after one failed export attempt, so a job without a sidecar exits at once;
            what is left undelivered is counted in one warning line.
        headers: extra HTTP headers for every export request (added to ``OTEL_EXPORTER_OTLP_HEADERS``).
        pushgateway_url: push the metrics registry there after every job (env ``JOBPULSE_PUSHGATEWAY_URL``).
        control: obey pause/resume/cancel commands from the sidecar (env ``JOBPULSE_CONTROL``, default on);
            the control API is at the export endpoint, or at ``JOBPULSE_CONTROL_URL``.

    Raises:
        RuntimeError: when a job has already started; the exporters are built from the settings then.
    """
    given = {name: value for name, value in locals().items() if value is not None}
    with _lock:
        if _frozen is not None:
            raise RuntimeError("jobpulse.instrumentation.configure() must be called before the first job starts")
        _overrides.update(given)


def freeze() -> Settings:
    """Settle the settings for the life of the process (called when the first job starts)."""
    global _frozen
    with _lock:
        if _frozen is None:
            _frozen = _compose()
        return _frozen


def current() -> Settings:
    """The settings in force, or those that would be if a job started now."""
    with _lock:
        return _frozen or _compose()


def _compose() -> Settings:
    return replace(_from_environment(), **_overrides)


def _from_environment() -> Settings:
    defaults = Settings()
    return replace(
        defaults,
        progress_interval=_env_seconds(ENV_PROGRESS_INTERVAL, defaults.progress_interval),
        resources_interval=_env_seconds(ENV_RESOURCES_INTERVAL, defaults.resources_interval),
        pushgateway_url=os.environ.get(ENV_PUSHGATEWAY_URL) or None,
        control=os.environ.get(ENV_CONTROL, "1").strip().lower() not in ("0", "false", "no", "off"),
    )


def _env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if value > 0:
        return value
    # A typo in the environment must not stop the job it was meant to watch.
    logging.getLogger("jobpulse.instrumentation").warning(
        "jobpulse: ignoring %s=%r (not a positive number of seconds); using %s", name, raw, default
    )
    return default
