"""Sidecar settings: one validated msgspec Struct, filled from defaults, a file, the environment and flags.

Precedence, lowest first: defaults, the TOML/YAML file named by ``--config`` or ``JOBPULSE_CONFIG``,
``JOBPULSE_<FIELD>`` environment variables, command-line flags. Every error names the setting and
where its bad value came from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import msgspec

from jobpulse.sidecar.alerting.config import AlertingSettings
from jobpulse.sidecar.auth.exposure import auth_required, exposure_error
from jobpulse.sidecar.storage.policy import RetentionPolicy

ENV_PREFIX = "JOBPULSE_"

# How long a job may take to acknowledge a control command before it is shown as overdue.
DEFAULT_ACK_TIMEOUT_S = 30.0

Positive = Annotated[int, msgspec.Meta(ge=1)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
# "N/second", "N per 5 minutes", ...: the notation of the ``limits`` library (docs/security.md).
RateLimit = Annotated[
    str, msgspec.Meta(pattern=r"^[1-9][0-9]*\s*(/|per)\s*([1-9][0-9]*\s*)?(second|minute|hour|day)s?$")
]
LimitStorageUrl = Annotated[str, msgspec.Meta(pattern=r"^(memory://|(redis|rediss)://\S+)$")]
Origin = Annotated[str, msgspec.Meta(pattern=r"^(\*|https?://[^/\s]+)$")]


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Every knob of the sidecar. See docs/configuration.md for what each one does."""

    host: str = "127.0.0.1"
    port: Port = 4318
    log_level: Annotated[str, msgspec.Meta(pattern="^(critical|error|warning|info|debug|trace)$")] = "info"
    access_log: bool = False

    # None: on unless listening on loopback only (docs/security.md).
    auth_enabled: bool | None = None
    insecure_no_auth: bool = False
    metrics_require_token: bool = False
    auth_recheck_interval_s: PositiveFloat = 2.0
    ws_ticket_ttl_s: PositiveFloat = 30.0

    max_request_bytes: Positive = 8 * 1024 * 1024

    feed_tick_ms: Positive = 20
    feed_replay_messages: Positive = 20_000
    feed_client_queue_frames: Positive = 256
    feed_client_max_lag_s: PositiveFloat = 2.0
    feed_send_timeout_s: PositiveFloat = 10.0
    feed_compression: bool = False
    # For tests only: hold every live-feed flush back this long, as a sidecar that cannot keep up would.
    feed_test_delay_ms: Annotated[int, msgspec.Meta(ge=0)] = 0
    feed_max_connections: Positive = 2000
    feed_max_connections_per_client: Positive = 1000

    rate_limit_enabled: bool = True
    rate_limit_rest: RateLimit = "300/second"
    rate_limit_ingest: RateLimit = "20000/second"
    rate_limit_storage_url: LimitStorageUrl = "memory://"
    cors_allowed_origins: list[Origin] = msgspec.field(default_factory=list)

    database_url: str = "sqlite+aiosqlite:///jobpulse.db"
    history_flush_interval_s: PositiveFloat = 0.5
    history_max_pending_lines: Positive = 200_000
    retention_days: PositiveFloat = 30.0
    retention_log_lines_per_job: Positive = 10_000
    retention_log_storage_mb: PositiveFloat = 1024.0
    retention_sweep_interval_s: PositiveFloat = 60.0
    retention_batch_size: Positive = 500

    control_ack_timeout_s: PositiveFloat = DEFAULT_ACK_TIMEOUT_S
    control_poll_max_wait_s: PositiveFloat = 30.0

    recent_logs_per_job: Positive = 10
    finished_jobs_in_memory: Positive = 10_000
    heartbeat_window_s: PositiveFloat = 60.0
    lost_check_interval_s: PositiveFloat = 2.0
    restart_grace_s: PositiveFloat = 10.0

    # Nested: comes from the settings file (docs/alerting.md).
    alerting: AlertingSettings = msgspec.field(default_factory=AlertingSettings)

    @property
    def auth_on(self) -> bool:
        """Whether requests must present a token."""
        return auth_required(self.host, self.auth_enabled, self.insecure_no_auth)

    def serving_error(self) -> str | None:
        """Why a sidecar must not serve with these settings (docs/security.md), or None."""
        return exposure_error(self.host, self.auth_enabled, self.insecure_no_auth)

    def retention_policy(self) -> RetentionPolicy:
        return RetentionPolicy(
            job_days=self.retention_days,
            log_lines_per_job=self.retention_log_lines_per_job,
            log_storage_mb=self.retention_log_storage_mb,
            batch_size=self.retention_batch_size,
        )


class SettingsError(ValueError):
    """A setting is invalid; the message names it and its source."""


def _field_names() -> tuple[str, ...]:
    return Settings.__struct_fields__


def _read_file(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise SettingsError(f"cannot read config file {path}: {error.strerror}") from None
    try:
        data = msgspec.yaml.decode(raw) if path.suffix in (".yaml", ".yml") else msgspec.toml.decode(raw)
    except msgspec.DecodeError as error:
        raise SettingsError(f"config file {path} is not valid: {error}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"config file {path} must hold a table of settings")
    return data


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in msgspec.inspect.type_info(Settings).fields:
        key = ENV_PREFIX + field.name.upper()
        if key in environ:
            value = environ[key]
            # A list setting is comma-separated in the environment.
            is_list = isinstance(field.type, msgspec.inspect.ListType)
            values[field.name] = [item.strip() for item in value.split(",") if item.strip()] if is_list else value
    return values


def _convert(values: dict[str, Any], source: str, *, strict: bool) -> None:
    for name, value in values.items():
        if name not in _field_names():
            raise SettingsError(f"unknown setting '{name}' in {source}")
        try:
            msgspec.convert({name: value}, Settings, strict=strict)
        except msgspec.ValidationError as error:
            # A table is not repeated: it is long and may hold secrets (alerting channel URLs); the
            # error's path names the offending entry.
            shown = "" if isinstance(value, dict) else f" = {value!r}"
            raise SettingsError(f"invalid setting '{name}'{shown} from {source}: {error}") from None


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build Settings from a file, the environment and explicit overrides (highest precedence)."""
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    path = config_file or environ.get(ENV_PREFIX + "CONFIG")
    if path:
        file_values = _read_file(Path(path))
        _convert(file_values, f"config file {path}", strict=True)
        merged.update(file_values)
    env_values = _from_env(environ)
    for name, value in env_values.items():
        _convert({name: value}, f"environment variable {ENV_PREFIX}{name.upper()}", strict=False)
    merged.update(env_values)
    explicit = {name: value for name, value in (overrides or {}).items() if value is not None}
    _convert(explicit, "the command line", strict=False)
    merged.update(explicit)
    return msgspec.convert(merged, Settings, strict=False)
