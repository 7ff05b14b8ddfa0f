"""Sidecar settings: one validated msgspec Struct, filled from defaults, a file, the environment and flags.

Precedence, lowest first: defaults, the TOML/YAML file named by ``--config`` or ``JOBPULSE_CONFIG``,
``JOBPULSE_<FIELD>`` environment variables, command-line flags; while the sidecar runs, runtime changes
come on top (jobpulse.sidecar.config). Every problem is reported at once, each naming the setting, its
value and where it came from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from jobpulse.sidecar.alerting.config import AlertingSettings
from jobpulse.sidecar.auth.exposure import auth_required, exposure_error
from jobpulse.sidecar.config.layers import ENV, FILE, FLAG, Layer, giver, merged
from jobpulse.sidecar.config.validation import Problem, check
from jobpulse.sidecar.schedules.config import ScheduleConfig, check_unique
from jobpulse.sidecar.storage.policy import RetentionPolicy

ENV_PREFIX = "JOBPULSE_"

# How long a job may take to acknowledge a control command before it is shown as overdue.
DEFAULT_ACK_TIMEOUT_S = 30.0

# What only applies when the sidecar starts: where it listens and where its history is, and the event
# bus replicas share (a connection, and the stream every replica reads). Whether requests need a token
# applies live, checked against the address as at start (Settings.serving_problem).
RESTART_KEYS = (
    "host",
    "port",
    "database_url",
    "broker_url",
    "bus_stream",
    "bus_stream_maxlen",
)

Positive = Annotated[int, msgspec.Meta(ge=1)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]

# "N/second", "N per 5 minutes", ...: the notation of the ``limits`` library (docs/security.md).
RateLimit = Annotated[
    str, msgspec.Meta(pattern=r"^[1-9][0-9]*\s*(/|per)\s*([1-9][0-9]*\s*)?(second|minute|hour|day)s?$")
]
BrokerUrl = Annotated[str, msgspec.Meta(pattern=r"^(redis|rediss|unix)://\S+$")]
LimitStorageUrl = Annotated[str, msgspec.Meta(pattern=r"^(memory://|(redis|rediss)://\S+)$")]
Origin = Annotated[str, msgspec.Meta(pattern=r"^(\*|https?://[^/\s]+)$")]


def data_directory(environ: Mapping[str, str] | None = None) -> Path:
    """Where the sidecar keeps its data by default: ``$XDG_DATA_HOME/jobpulse``, else
    ``~/.local/share/jobpulse`` (a relative XDG_DATA_HOME is ignored, as the XDG spec says)."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_DATA_HOME", "")
    return (Path(base) if os.path.isabs(base) else Path.home() / ".local" / "share") / "jobpulse"


def default_database_url() -> str:
    """A SQLite file in the per-user data directory (created when it is first used)."""
    return f"sqlite+aiosqlite:///{data_directory() / 'jobpulse.db'}"


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Every knob of the sidecar. See docs/configuration.md for what each one does."""

    host: str = "127.0.0.1"
    port: Port = 4318
    log_level: LogLevel = "info"
    access_log: bool = False

    # None: on unless listening on loopback only (docs/security.md).
    auth_enabled: bool | None = None
    insecure_no_auth: bool = False
    metrics_require_token: bool = False
    auth_recheck_interval_s: PositiveFloat = 2.0
    ws_ticket_ttl_s: PositiveFloat = 30.0

    max_request_bytes: Positive = 8 * 1024 * 1024

    # The longest a live-feed change waits; the feed waits less while it sends fewer frames than feed_frames_per_s.
    feed_tick_ms: Positive = 20
    feed_frames_per_s: Positive = 10_000
    # job_progress messages per job per second for subscriptions that name no rate and no job ids.
    feed_progress_hz: Annotated[float, msgspec.Meta(ge=0, le=1000)] = 2.0
    feed_replay_messages: Positive = 20_000
    feed_client_queue_frames: Positive = 256
    feed_client_max_lag_s: PositiveFloat = 2.0
    feed_send_timeout_s: PositiveFloat = 10.0
    feed_compression: bool = False
    # For tests only: hold every live-feed flush back this long, as a sidecar that cannot keep up would.
    feed_test_delay_ms: Annotated[int, msgspec.Meta(ge=0)] = 0
    feed_max_connections: Positive = 2000
    feed_max_connections_per_client: Positive = 1000
    # WebSocket protocol pings; a client that does not answer one within the interval is disconnected.
    feed_ping_interval_s: Annotated[float, msgspec.Meta(ge=0)] = 20.0
    log_streaming_enabled: bool = True
    metrics_collection_enabled: bool = True

    rate_limit_enabled: bool = True
    rate_limit_rest: RateLimit = "300/second"
    rate_limit_ingest: RateLimit = "20000/second"
    rate_limit_storage_url: LimitStorageUrl = "memory://"
    cors_allowed_origins: list[Origin] = msgspec.field(default_factory=list)

    database_url: str = msgspec.field(default_factory=default_database_url)
    history_flush_interval_s: PositiveFloat = 0.5
    history_max_pending_lines: Positive = 200_000
    history_writer_process: Literal["auto", "always", "never"] = "never"
    retention_days: PositiveFloat = 30.0
    retention_log_lines_per_job: Positive = 10_000
    retention_log_storage_mb: PositiveFloat = 1024.0
    retention_sweep_interval_s: PositiveFloat = 60.0
    retention_batch_size: Positive = 500

    control_ack_timeout_s: PositiveFloat = DEFAULT_ACK_TIMEOUT_S
    control_poll_max_wait_s: PositiveFloat = 30.0
    # How often a waiting long poll rereads the database when nothing can tell it of commands made
    # through another replica (SQLite, or PostgreSQL while its notification listener is down).
    control_db_poll_interval_s: PositiveFloat = 2.0
    # Told to jobs in their control poll's answer; None lets each job keep its own.
    progress_interval_s: Annotated[float, msgspec.Meta(ge=0.005, le=60)] | None = None

    recent_logs_per_job: Positive = 10
    finished_jobs_in_memory: Positive = 10_000
    heartbeat_window_s: PositiveFloat = 60.0
    lost_check_interval_s: PositiveFloat = 2.0
    restart_grace_s: PositiveFloat = 10.0

    # None: one process, events folded where they arrive. Set: replicas share events through a Redis
    # stream (docs/deployment.md, "Replicas on Redis and PostgreSQL").
    broker_url: BrokerUrl | None = None
    bus_stream: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] = "jobpulse:events"
    # About how many entries (one per OTLP request) the stream keeps: how far a replica may fall behind.
    bus_stream_maxlen: Annotated[int, msgspec.Meta(ge=1000)] = 100_000

    # How often the settings file and the database's runtime changes are looked at for news.
    config_poll_interval_s: PositiveFloat = 2.0

    # Nested: comes from the settings file (docs/alerting.md).
    alerting: AlertingSettings = msgspec.field(default_factory=AlertingSettings)
    # When each job name or type is expected to run: ``[[schedules]]`` in the settings file (job_missed).
    schedules: list[ScheduleConfig] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        check_unique(self.schedules)

    @property
    def auth_on(self) -> bool:
        """Whether requests must present a token."""
        return auth_required(self.host, self.auth_enabled, self.insecure_no_auth)

    def serving_error(self) -> str | None:
        """Why a sidecar must not serve with these settings (docs/security.md), or None."""
        return exposure_error(self.host, self.auth_enabled, self.insecure_no_auth)

    def serving_problem(self, running: Settings | None = None) -> Problem | None:
        """`serving_error` as a settings problem. Against the ``running`` settings it names
        ``insecure_no_auth`` when only that changed (turned off), else ``auth_enabled``."""
        error = self.serving_error()
        if error is None:
            return None
        only_insecure = (
            running is not None
            and running.insecure_no_auth != self.insecure_no_auth
            and running.auth_enabled == self.auth_enabled
        )
        key = "insecure_no_auth" if only_insecure else "auth_enabled"
        allowed = (
            "not both: auth_enabled = true or insecure_no_auth = true"
            if self.insecure_no_auth
            else f"authentication on (auth_enabled true or unset) while host is {self.host!r}, "
            "unless insecure_no_auth = true"
        )
        return Problem(key=key, value=getattr(self, key), message=error, allowed=allowed)

    def retention_policy(self) -> RetentionPolicy:
        return RetentionPolicy(
            job_days=self.retention_days,
            log_lines_per_job=self.retention_log_lines_per_job,
            log_storage_mb=self.retention_log_storage_mb,
            batch_size=self.retention_batch_size,
        )


class SettingsError(ValueError):
    """Settings are invalid; ``problems`` names every one, with its value and source."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(map(str, self.problems)))


class Sources(msgspec.Struct, kw_only=True):
    """What the file, the environment and the flags gave, and the settings they make."""

    file_path: str | None = None
    layers: list[Layer] = []
    settings: Settings = msgspec.field(default_factory=lambda: Settings())

    @classmethod
    def of(cls, settings: Settings) -> Sources:
        """Sources of settings made in code: everything they hold counts as given by a flag."""
        given = Layer(FLAG, "the given settings", msgspec.to_builtins(settings), strict=False)
        return cls(layers=[given], settings=settings)

    def with_file(self, file_layer: Layer) -> list[Layer]:
        """The layers, with ``file_layer`` in place of the file's."""
        return [file_layer, *(layer for layer in self.layers if layer.name != FILE)]


def read_file(path: str | os.PathLike[str]) -> Layer:
    """The layer of a TOML or YAML settings file."""
    label = f"config file {path}"
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise SettingsError([Problem(key="", message=f"cannot read it: {error.strerror}", source=label)]) from None
    try:
        yaml = Path(path).suffix in (".yaml", ".yml")
        data = msgspec.yaml.decode(raw) if yaml else msgspec.toml.decode(raw)
    except msgspec.DecodeError as error:
        raise SettingsError([Problem(key="", message=f"not valid: {error}", source=label)]) from None
    if not isinstance(data, dict):
        raise SettingsError([Problem(key="", message="must hold a table of settings", source=label)])
    return Layer(FILE, label, data, strict=True)


def _env_layers(environ: Mapping[str, str]) -> list[Layer]:
    layers = []
    for field in msgspec.inspect.type_info(Settings).fields:
        key = ENV_PREFIX + field.name.upper()
        if key not in environ:
            continue
        value: Any = environ[key]
        if isinstance(field.type, msgspec.inspect.ListType):
            # A list setting is comma-separated in the environment.
            value = [item.strip() for item in value.split(",") if item.strip()]
        layers.append(Layer(ENV, f"environment variable {key}", {field.name: value}, strict=False))
    return layers


def resolve(layers: Sequence[Layer]) -> Settings:
    """The settings ``layers`` make (lowest first, on top of the defaults), or SettingsError naming
    every problem: each layer's own, then those of the keys together."""
    problems = [
        msgspec.structs.replace(problem, source=layer.label)
        for layer in layers
        for problem in check(layer.values, Settings, strict=layer.strict, whole=False)
    ]
    if problems:
        raise SettingsError(problems)
    problems = [
        msgspec.structs.replace(problem, source=layer.label if (layer := giver(problem.key, layers)) else "")
        for problem in check(merged(layers), Settings, strict=False, whole=True)
    ]
    if problems:
        raise SettingsError(problems)
    return msgspec.convert(merged(layers), Settings, strict=False)


def resolve_serving(layers: Sequence[Layer], running: Settings) -> Settings:
    """What `resolve` gives, for a sidecar serving with ``running`` now: also refused, as its start would
    be, when it would then serve unprotected (`Settings.serving_problem`), naming the layer to blame."""
    settings = resolve(layers)
    # Checked on the address it listens on now, and on the one it would listen on after a restart.
    here = msgspec.structs.replace(settings, host=running.host)
    problem = here.serving_problem(running) or settings.serving_problem(running)
    if problem is not None:
        layer = giver(problem.key, layers)
        raise SettingsError([msgspec.structs.replace(problem, source=layer.label if layer else "")])
    return settings


def load_sources(
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Sources:
    """Read the file, the environment and explicit overrides (highest precedence), and resolve them."""
    environ = os.environ if environ is None else environ
    path = config_file or environ.get(ENV_PREFIX + "CONFIG")
    layers = [read_file(path)] if path else []
    layers += _env_layers(environ)
    explicit = {name: value for name, value in (overrides or {}).items() if value is not None}
    if explicit:
        layers.append(Layer(FLAG, "the command line", explicit, strict=False))
    return Sources(file_path=str(path) if path else None, layers=layers, settings=resolve(layers))


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build Settings from a file, the environment and explicit overrides (highest precedence)."""
    return load_sources(config_file, environ, overrides).settings
