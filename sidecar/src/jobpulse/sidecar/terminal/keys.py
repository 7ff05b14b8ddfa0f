"""Keys pressed in the terminal, as soon as they are pressed, without blocking the event loop.

The terminal is put in cbreak mode (no line buffering, no echo; Ctrl+C still interrupts) for as long
as keys are read, and given back its own mode afterwards, whatever ended the reading. The event loop
calls back when the terminal has bytes to read; nothing waits on a read.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# Arrow keys send CSI sequences ("ESC [ A"), or SS3 ones ("ESC O A") in the terminal's application mode.
_ARROWS = {b"A": "up", b"B": "down"}
_VI = {"k": "up", "j": "down"}


def parse(data: bytes) -> list[str]:
    """The keys in ``data``: ``up``, ``down``, or a lowercase character; other sequences are skipped."""
    keys: list[str] = []
    at = 0
    while at < len(data):
        byte = data[at : at + 1]
        if byte == b"\x1b" and data[at + 1 : at + 2] in (b"[", b"O"):
            end = at + 2
            # A sequence ends at its first byte in @..~ (ECMA-48).
            while end < len(data) and not 0x40 <= data[end] <= 0x7E:
                end += 1
            if data[at + 2 : end] == b"" and data[end : end + 1] in _ARROWS:
                keys.append(_ARROWS[data[end : end + 1]])
            at = end + 1
            continue
        character = byte.decode("latin-1").lower()
        if character.isprintable():
            keys.append(_VI.get(character, character))
        at += 1
    return keys


@contextmanager
def cbreak(fd: int) -> Iterator[None]:
    """The terminal at ``fd`` in cbreak mode inside the block; its own mode restored on the way out."""
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd, termios.TCSANOW)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextmanager
def reading_keys(fd: int, on_key: Callable[[str], None]) -> Iterator[None]:
    """Call ``on_key`` with each key pressed on the terminal at ``fd`` while the block runs (in the
    running event loop, in cbreak mode)."""
    loop = asyncio.get_running_loop()

    def readable() -> None:
        try:
            data = os.read(fd, 256)
        except OSError:
            data = b""
        if not data:
            # The terminal went away (hung up): nothing more will come.
            loop.remove_reader(fd)
            return
        for key in parse(data):
            on_key(key)

    with cbreak(fd):
        loop.add_reader(fd, readable)
        try:
            yield
        finally:
            loop.remove_reader(fd)
