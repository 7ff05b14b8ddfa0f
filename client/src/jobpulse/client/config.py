"""The sidecar's configuration: the settings in force, runtime changes, and their audit trail
(docs/configuration.md). Secrets are masked in every answer."""

from __future__ import annotations

from typing import Any

import msgspec

from jobpulse.client.jobs import Time


class SettingProblem(msgspec.Struct, frozen=True):
    """One invalid setting: its key path, what is wrong, what would do, and where it came from.

    ``value`` is the value refused; it is left ``msgspec.UNSET`` for tables and lists (long, and they
    may hold secrets: the key names the entry).
    """

    key: str
    message: str
    allowed: str = ""
    value: Any = msgspec.UNSET
    source: str = ""


class ConfigRejection(msgspec.Struct, frozen=True):
    """The settings file or the stored runtime changes were not applied (the running settings stay), and why."""

    source: str
    at: Time
    problems: list[SettingProblem]


class ConfigView(msgspec.Struct, frozen=True):
    """The settings in force and where each key's value comes from.

    ``values`` is the whole settings document; ``sources`` maps every key path (``alerting.delivery.attempts``)
    to ``default``, ``file``, ``env``, ``flag`` or ``runtime``. ``runtime`` holds the runtime changes
    (what ``patch_config`` edits and ``replace_config`` replaces) and ``version`` counts them.
    ``pending_restart`` has the values of ``restart_required`` keys that wait for a restart;
    ``rejected`` says why the settings file or the stored runtime changes are not applied.
    """

    version: int
    values: dict[str, Any]
    sources: dict[str, str]
    runtime: dict[str, Any]
    restart_required: list[str]
    pending_restart: dict[str, Any]
    file: str | None
    rejected: list[ConfigRejection]


class ChangeEntry(msgspec.Struct, frozen=True):
    """One key of a change: its value before and after (None: not set)."""

    key: str
    old: Any
    new: Any


class ChangeRecord(msgspec.Struct, frozen=True):
    """One accepted change or refused attempt: who, when, how (``patch``, ``put``, or why the settings
    file was read again), which keys changed, or what was wrong (``errors``); ``request`` is the body
    as it was sent."""

    id: int
    at: Time
    who: str
    source: str
    accepted: bool
    version: int | None
    replica: str | None
    changes: list[ChangeEntry]
    errors: list[SettingProblem]
    request: Any


class ConfigHistory(msgspec.Struct, frozen=True):
    """One page of configuration changes, newest first."""

    items: list[ChangeRecord]
    next_cursor: int | None
