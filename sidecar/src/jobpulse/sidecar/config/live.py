"""LiveSettings: the settings in force, replaced whole, and the parts of the sidecar told of each change.

A change is validated before it gets here. ``replace`` swaps the one current Settings object (readers
see the old one or the new one, never a mix) and then hands the new one to every observer in the
order they subscribed; each takes what concerns it, at once and without a restart. A part that reads
``current`` at use needs no observer.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable

from jobpulse.sidecar.settings import Settings

log = logging.getLogger("jobpulse.sidecar.config")

Observer = Callable[[Settings], Awaitable[None] | None]


class LiveSettings:
    """The current Settings and its observers."""

    def __init__(self, settings: Settings) -> None:
        self._current = settings
        self._observers: list[Observer] = []

    @property
    def current(self) -> Settings:
        return self._current

    def subscribe(self, observer: Observer) -> None:
        """Have ``observer(settings)`` (a function or a coroutine function) called after every change."""
        self._observers.append(observer)

    async def replace(self, settings: Settings) -> None:
        """Make ``settings`` current and tell every observer. One failing observer is logged and does
        not keep the others from applying the change."""
        self._current = settings
        for observer in list(self._observers):
            try:
                result = observer(settings)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("applying new settings failed in %s", getattr(observer, "__qualname__", observer))
