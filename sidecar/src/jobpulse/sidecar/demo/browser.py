"""Opening the console in a browser when the demo starts, where someone can see it.

Never under CI, and on Linux and the BSDs only with a graphical display: without one, Python's
webbrowser module falls back to text browsers, which would take over the terminal the demo logs to.
"""

from __future__ import annotations

import sys
import webbrowser
from collections.abc import Mapping

_NEEDS_DISPLAY = ("linux", "freebsd", "openbsd", "netbsd")


def can_open_browser(environ: Mapping[str, str], platform: str = sys.platform) -> bool:
    """Whether a graphical browser can be shown to a person in this environment."""
    if environ.get("CI"):
        return False
    if platform.startswith(_NEEDS_DISPLAY):
        return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))
    return platform in ("darwin", "win32")


def open_in_browser(url: str) -> bool:
    """Open ``url`` in a new browser tab; False when no browser would take it."""
    try:
        return webbrowser.open(url, new=2)
    except webbrowser.Error:
        return False
