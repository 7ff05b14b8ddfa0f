"""The console's files, read once from the package and served under a URL that names their content.

Every asset lives at ``/console/<digest>/<path>``, where the digest covers all of the files: a new
release changes every URL, so browsers may cache assets for good, and only the page itself is
revalidated. There is no build step: the files are served as they are in the package.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

ASSET_PREFIX = "/console"
PAGE = "index.html"
MEDIA_TYPES = {
    ".html": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class Asset:
    """One static file and the media type it is sent with."""

    body: bytes
    media_type: str


def _walk(folder: Traversable, prefix: str = "") -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for entry in folder.iterdir():
        if entry.is_dir():
            files.update(_walk(entry, f"{prefix}{entry.name}/"))
        elif entry.is_file():
            files[prefix + entry.name] = entry.read_bytes()
    return files


class AssetBundle:
    """The console's files by relative path, the digest naming them, and the page that loads them."""

    def __init__(self, files: dict[str, bytes]) -> None:
        unknown = sorted(path for path in files if _suffix(path) not in MEDIA_TYPES)
        if unknown:
            raise ValueError(f"console files of no known media type: {', '.join(unknown)}")
        if PAGE not in files:
            raise ValueError(f"the console has no {PAGE}")
        hasher = hashlib.sha256()
        for path in sorted(files):
            hasher.update(path.encode() + b"\0" + files[path] + b"\0")
        self.digest = hasher.hexdigest()[:16]
        self.base = f"{ASSET_PREFIX}/{self.digest}"
        self._page = files[PAGE].decode()
        self._assets = {path: Asset(body, MEDIA_TYPES[_suffix(path)]) for path, body in files.items() if path != PAGE}

    @classmethod
    def from_package(cls) -> AssetBundle:
        """The files shipped in ``jobpulse.sidecar.console`` (its ``static`` folder)."""
        return cls(_walk(resources.files(__package__) / "static"))

    def paths(self) -> list[str]:
        """The assets' paths, relative to the bundle's base."""
        return sorted(self._assets)

    def get(self, path: str) -> Asset | None:
        """The asset at ``path`` (relative to the bundle's base), or None."""
        return self._assets.get(path)

    def page(self, settings: dict[str, object]) -> bytes:
        """The console page, pointing at this bundle's assets and carrying ``settings`` for the client.

        Settings travel as ``data-`` attributes of the root element: the page has no inline script.
        """
        attributes = " ".join(
            f'data-{name.replace("_", "-")}="{html.escape(str(value), quote=True)}"' for name, value in settings.items()
        )
        return self._page.replace("{{assets}}", self.base).replace("{{settings}}", attributes).encode()


def _suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name[name.rfind(".") :] if "." in name else ""
