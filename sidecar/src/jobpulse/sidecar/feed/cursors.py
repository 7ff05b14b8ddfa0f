"""Where the live feed's cursors come from.

Embedded, one sidecar numbers its own messages: one more per message, from its start-up time in
microseconds, so a cursor from before a restart is older than anything it can replay. On the bus, every
replica stamps a message with the cursor of the bus entry whose events it reflects (bus/cursors.py), so
the same change has the same cursor on every replica and a client resumes on any of them.
"""

from __future__ import annotations


class LocalCursors:
    """One sidecar's own sequence: each published message takes the next number."""

    follows_bus = False

    def __init__(self, start: int) -> None:
        self.current = start

    def stamp(self) -> int:
        """What a change is stamped with when it is collected: nothing yet, it is numbered when sent."""
        return 0

    def assign(self, _stamp: int) -> int:
        self.current += 1
        return self.current


class BusCursors:
    """The cursor of the newest bus entry folded: messages carry the entry they came from."""

    follows_bus = True

    def __init__(self) -> None:
        self.current = 0

    def follow(self, cursor: int) -> None:
        """The bus is about to fold the entry of ``cursor``; cursors never go back."""
        if cursor > self.current:
            self.current = cursor

    def stamp(self) -> int:
        return self.current

    def assign(self, stamp: int) -> int:
        return stamp
