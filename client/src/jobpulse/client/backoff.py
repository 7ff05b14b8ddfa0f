"""How the live feed waits between connection attempts, and the state of its connection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Phase = Literal["connecting", "open", "backing_off", "closed"]


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter, bounded.

    Before attempt ``n + 1`` after ``n`` consecutive failures the feed waits
    ``min(max_s, initial_s * factor ** (n - 1))``, less a random share of up to ``jitter`` of it, so
    clients that lost the same sidecar do not all come back at the same instant. ``max_attempts``
    consecutive failures end the feed with ConnectionFailed (None: it never gives up).
    """

    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 30.0
    jitter: float = 0.5
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.max_s:
            raise ValueError(f"initial_s: {self.initial_s} must be above 0 and at most max_s ({self.max_s})")
        if self.factor < 1:
            raise ValueError(f"factor: {self.factor} must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter: {self.jitter} must be between 0 and 1")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"max_attempts: {self.max_attempts} must be at least 1")

    def ceiling(self, failures: int) -> float:
        """The longest wait after ``failures`` (at least 1) consecutive failures."""
        exponent = min(failures - 1, 64)  # past this the cap has long been reached; keeps the power finite
        return min(self.max_s, self.initial_s * self.factor**exponent)

    def delay(self, failures: int, random: Callable[[], float]) -> float:
        """The wait after ``failures`` consecutive failures; ``random`` returns a float in [0, 1)."""
        ceiling = self.ceiling(failures)
        return ceiling * (1 - self.jitter * random())


@dataclass(frozen=True)
class ConnectionState:
    """Where the live feed's connection stands.

    ``attempt`` counts the connection attempts that failed in a row (0 while all is well);
    ``next_delay_s`` is the wait under way while ``phase`` is ``backing_off``; ``last_error`` says
    what ended the last connection or attempt.
    """

    phase: Phase
    attempt: int = 0
    next_delay_s: float | None = None
    last_error: str | None = None
