"""ConfigService: changes the settings in force, from REST, the file and other replicas, one at a time.

- A runtime change (PATCH is a JSON merge patch of the runtime layer, PUT replaces it) is validated
  with every other layer before anything changes, stored in the database with its audit row, then
  applied. The database holds it, so a restarted sidecar and every replica apply it too.
- The settings file is read again on SIGHUP and when it changes (an mtime poll), validated the same
  way; a bad file leaves the running settings alone and says why in the log and in /readyz.
- Replicas poll the runtime layer's version (one indexed single-row read every
  ``config_poll_interval_s``) and apply a newer one: the fleet converges within seconds.
- What only applies at start (RESTART_KEYS) is never changed at runtime: a runtime change of it is
  rejected, and a file that changes it is applied except for it, which is reported as pending.
- Settings a sidecar would refuse to start with (authentication off on an address beyond loopback,
  docs/security.md) are refused from every source the same way, whatever else they change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from jobpulse.sidecar.config.layers import RUNTIME, Layer, diff, merge_patch, origins, pruned
from jobpulse.sidecar.config.live import LiveSettings
from jobpulse.sidecar.config.repository import ConfigRepository
from jobpulse.sidecar.config.secrets import mask_value, masked, unmasked
from jobpulse.sidecar.config.validation import Problem
from jobpulse.sidecar.settings import (
    ENV_PREFIX,
    RESTART_KEYS,
    Settings,
    SettingsError,
    Sources,
    read_file,
    resolve_serving,
)
from jobpulse.sidecar.tasks import BackgroundTasks

log = logging.getLogger("jobpulse.sidecar.config")

PATCH = "patch"
PUT = "put"
SIGHUP = "sighup"
FILE_CHANGE = "file change"
DATABASE = "database"
FILE_WHO = "settings file"

# What a runtime change that came in a request, or one read back from the database, is called in errors.
REQUEST = "the request"
_STORED = "the runtime changes stored in the database"
# Attempts at storing a change while other replicas keep changing the runtime layer first.
_WRITE_ATTEMPTS = 5


class ConfigConflict(Exception):
    """The runtime layer kept changing under a change: other replicas are busy changing it too."""


class StorageUnavailable(Exception):
    """The database did not take a runtime change, so it was not applied."""


class Rejection(msgspec.Struct):
    """The settings file or the database's runtime changes were not applied, and why."""

    source: str
    at: datetime
    problems: list[Problem]

    def __str__(self) -> str:
        shown = "; ".join(map(str, self.problems[:3]))
        more = f" (and {len(self.problems) - 3} more)" if len(self.problems) > 3 else ""
        return f"{self.source} at {self.at:%Y-%m-%d %H:%M:%S} UTC not applied, the running settings stay: {shown}{more}"


def _stamp(path: str | None) -> tuple[int, int, int] | None:
    """What tells a changed file: its mtime, size and inode (an editor saving by rename changes it)."""
    if path is None:
        return None
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size, status.st_ino


class ConfigService:
    """The layers, the runtime changes and their version, and what was rejected; see the module docstring."""

    def __init__(self, live: LiveSettings, sources: Sources, engine: AsyncEngine) -> None:
        self.live = live
        self.sources = sources
        self.repository = ConfigRepository(engine)
        self.version = 0
        self.runtime: dict[str, Any] = {}
        self.origins = origins(sources.layers)
        # Values the layers give for keys that only apply at start, when they differ from the running ones.
        self.pending_restart: dict[str, Any] = {}
        self.rejected: dict[str, Rejection] = {}
        self.replica = f"{socket.gethostname()}:{os.getpid()}"
        self._lock = asyncio.Lock()
        self._tasks = BackgroundTasks()
        self._reloads: set[asyncio.Task[bool]] = set()
        self._file_stamp = _stamp(sources.file_path)
        self._sighup = False

    # ---- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Apply the runtime changes stored in the database, then watch the file, the database and SIGHUP."""
        async with self._lock:
            await self._sync(force=True)
        self._tasks.retrying(
            lambda: self.live.current.config_poll_interval_s,
            self._poll,
            "settings watch",
            failed=self._poll_failed,
            recovered=lambda: log.info("settings watch: the database answers again"),
        )
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            # Only the main thread's event loop can take signals (an embedded sidecar does without).
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._on_sighup)
            self._sighup = True

    async def stop(self) -> None:
        if self._sighup:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._sighup = False
        await self._tasks.cancel()
        for task in list(self._reloads):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _on_sighup(self) -> None:
        task = asyncio.get_running_loop().create_task(self.reload(SIGHUP))
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    @staticmethod
    def _poll_failed(error: Exception, first: bool) -> None:
        if first:
            log.warning("settings watch: cannot read runtime changes: %s: %s", type(error).__name__, error)

    async def _poll(self) -> None:
        async with self._lock:
            stamp = _stamp(self.sources.file_path)
            # A file missing for a moment (an editor replacing it) is read once it is back.
            if stamp is not None and stamp != self._file_stamp:
                await self._reload(FILE_CHANGE)
            await self._sync()

    # ---- runtime changes -----------------------------------------------------------------------

    async def change(self, body: dict[str, Any], who: str, *, replace: bool) -> None:
        """Validate ``body`` (a merge patch of the runtime layer, or with ``replace`` the whole of it)
        against every layer, store it and apply it; SettingsError lists every problem otherwise."""
        how = PUT if replace else PATCH
        async with self._lock:
            for _ in range(_WRITE_ATTEMPTS):
                before = msgspec.to_builtins(self.live.current)
                try:
                    document, layers, settings = self._changed(body, before, replace)
                except SettingsError as error:
                    await self._record(who, how, accepted=False, request=body, errors=error.problems)
                    raise
                changes = diff(before, msgspec.to_builtins(settings))
                record = self._row(who, how, accepted=True, request=body, changes=changes)
                try:
                    version = await self.repository.write(self.version, document, who, record)
                except SQLAlchemyError as error:
                    raise StorageUnavailable(f"the change could not be stored: {type(error).__name__}") from error
                if version is None:
                    await self._sync()
                    continue
                self.version, self.runtime = version, document
                await self._apply(settings, layers)
                log.info(
                    "%s changed the settings (%s, version %d): %s",
                    who,
                    how,
                    version,
                    ", ".join(path for path, _, _ in changes) or "no effective change",
                )
                return
        raise ConfigConflict(f"the settings kept changing on other replicas; {_WRITE_ATTEMPTS} attempts failed")

    def _changed(
        self, body: dict[str, Any], effective: dict[str, Any], replace: bool
    ) -> tuple[dict[str, Any], list[Layer], Settings]:
        """The new runtime layer, all layers, and the settings they make; or SettingsError."""
        incoming = unmasked(body, effective)
        # Empty tables go only once checked: an unknown one is still an unknown key.
        document = incoming if replace else merge_patch(self.runtime, incoming)
        problems = []
        for key in RESTART_KEYS:
            if key not in document:
                continue
            if document[key] == effective[key]:
                del document[key]
                continue
            problems.append(
                Problem(
                    key=key,
                    value=mask_value(key, document[key]),
                    source=REQUEST,
                    message="applies only when the sidecar starts: set it in the settings file, "
                    f"{ENV_PREFIX}{key.upper()} or a flag, and restart",
                    allowed=f"only the running value, {mask_value(key, effective[key])!r}",
                )
            )
        layers = self._layers(document, REQUEST)
        try:
            settings = resolve_serving(layers, self.live.current)
        except SettingsError as error:
            raise SettingsError([*problems, *error.problems]) from None
        if problems:
            raise SettingsError(problems)
        return pruned(document), layers, settings

    async def refuse(self, who: str, problem: Problem, *, replace: bool, request: Any = None) -> None:
        """Record in the audit trail a change refused before it could be validated: its body is not a
        JSON object (``request``: what it was instead, if it was JSON at all)."""
        await self._record(who, PUT if replace else PATCH, accepted=False, request=request, errors=[problem])

    # ---- the file and the database -------------------------------------------------------------

    async def reload(self, reason: str) -> bool:
        """Read the settings file again and apply it if it is valid; True when applied."""
        async with self._lock:
            return await self._reload(reason)

    async def _reload(self, reason: str) -> bool:
        path = self.sources.file_path
        if path is None:
            log.info("%s: there is no settings file to read again", reason)
            return False
        self._file_stamp = _stamp(path)
        before = msgspec.to_builtins(self.live.current)
        try:
            file_layer = read_file(path)
            layers = self._layers(self.runtime, _STORED, file_layer)
            settings = resolve_serving(layers, self.live.current)
        except SettingsError as error:
            self._reject(f"settings file {path} ({reason})", error.problems, FILE_WHO)
            await self._record(FILE_WHO, reason, accepted=False, errors=error.problems)
            return False
        self.rejected.pop(FILE_WHO, None)
        self.sources = msgspec.structs.replace(self.sources, layers=self.sources.with_file(file_layer))
        await self._apply(settings, layers)
        changes = diff(before, msgspec.to_builtins(self.live.current))
        if changes:
            log.info("settings file %s read again (%s): %s", path, reason, ", ".join(path for path, _, _ in changes))
            await self._record(FILE_WHO, reason, accepted=True, changes=changes)
        return True

    async def _sync(self, *, force: bool = False) -> None:
        """Apply the database's runtime layer when it is newer than the one applied here."""
        if not force and await self.repository.version() == self.version:
            return
        self.version, self.runtime = await self.repository.read()
        layers = self._layers(self.runtime, _STORED)
        try:
            settings = resolve_serving(layers, self.live.current)
        except SettingsError as error:
            self._reject(f"runtime changes version {self.version} from the database", error.problems, DATABASE)
            return
        self.rejected.pop(DATABASE, None)
        await self._apply(settings, layers)

    def _layers(self, runtime: dict[str, Any], label: str, file_layer: Layer | None = None) -> list[Layer]:
        below = self.sources.with_file(file_layer) if file_layer is not None else self.sources.layers
        return [*below, Layer(RUNTIME, label, runtime, strict=True)]

    def _reject(self, source: str, problems: list[Problem], slot: str) -> None:
        self.rejected[slot] = rejection = Rejection(source, datetime.now(UTC), problems)
        log.error("%s", rejection)

    async def _apply(self, settings: Settings, layers: list[Layer]) -> None:
        running = self.live.current
        found = origins(layers)
        pending = {
            key: getattr(settings, key) for key in RESTART_KEYS if getattr(settings, key) != getattr(running, key)
        }
        if pending:
            settings = msgspec.structs.replace(settings, **{key: getattr(running, key) for key in pending})
            for key in pending:
                found.pop(key, None)
                if key in self.origins:
                    found[key] = self.origins[key]
            log.warning(
                "restart the sidecar to apply %s",
                ", ".join(f"{key} = {mask_value(key, value)!r}" for key, value in pending.items()),
            )
        self.pending_restart = {key: mask_value(key, value) for key, value in pending.items()}
        self.origins = found
        await self.live.replace(settings)

    # ---- the audit trail -----------------------------------------------------------------------

    def _row(
        self,
        who: str,
        source: str,
        *,
        accepted: bool,
        request: Any = None,
        changes: Sequence[tuple[str, Any, Any]] = (),
        errors: Sequence[Problem] = (),
    ) -> dict[str, Any]:
        encode = msgspec.json.encode
        return {
            "at_ns": time.time_ns(),
            "who": who[:200],
            "source": source,
            "accepted": accepted,
            "replica": self.replica,
            "changes": encode(
                [{"key": path, "old": masked(old, path), "new": masked(new, path)} for path, old, new in changes]
            ).decode(),
            "errors": encode(list(errors)).decode(),
            "request": None if request is None else encode(masked(request)).decode(),
        }

    async def _record(self, who: str, source: str, **what: Any) -> None:
        try:
            await self.repository.record(self._row(who, source, **what))
        except SQLAlchemyError as error:
            log.warning("could not record a settings change (%s by %s) in the audit trail: %s", source, who, error)

    async def history(self, limit: int, before_id: int | None = None) -> list[Any]:
        return await self.repository.history(limit, before_id)

    # ---- readiness -----------------------------------------------------------------------------

    def readiness_detail(self) -> str | None:
        """What was not applied, for /readyz: worth knowing, but the sidecar runs on what it has."""
        parts = [str(rejection) for rejection in self.rejected.values()]
        if self.pending_restart:
            parts.append(
                "restart to apply " + ", ".join(f"{key} = {value!r}" for key, value in self.pending_restart.items())
            )
        return " | ".join(parts) or None
