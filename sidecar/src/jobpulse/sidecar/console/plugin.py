"""The console feature: the web console's page and assets."""

from __future__ import annotations

from litestar import Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.types import ControllerRouterHandler

from jobpulse.sidecar.auth.roles import OPEN, access
from jobpulse.sidecar.console.assets import ASSET_PREFIX, AssetBundle
from jobpulse.sidecar.plugin import Feature

# The page runs only its own files: no inline script or style, nothing from another host, and it
# may not be framed. 'self' in connect-src covers the same-origin WebSocket.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    # Revalidate the page every time: it names the current assets.
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
# An asset's URL changes whenever any file changes, so what is behind one never does.
ASSET_HEADERS = {"cache-control": "public, max-age=31536000, immutable", "x-content-type-options": "nosniff"}


class ConsoleFeature(Feature):
    """Serves the web console: the page at ``/`` and its files under ``/console/<digest>/``.

    The page carries the one setting the client needs and cannot ask the API for: the heartbeat
    window, after which a job nobody has heard from is shown as stale rather than live. Page and files
    hold no data, so they are open: the page asks for a token when the API answers 401.
    """

    name = "console"

    def route_handlers(self) -> list[ControllerRouterHandler]:
        bundle = AssetBundle.from_package()
        page = bundle.page({"heartbeat_window_s": self.core.settings.heartbeat_window_s})

        @get("/", include_in_schema=False, sync_to_thread=False, name="console", opt=access(OPEN))
        def console_page() -> Response[bytes]:
            return Response(page, media_type="text/html", headers=PAGE_HEADERS)

        @get(
            ASSET_PREFIX + "/{digest:str}/{path:path}", include_in_schema=False, sync_to_thread=False, opt=access(OPEN)
        )
        def console_asset(digest: FromPath[str], path: FromPath[str]) -> Response[bytes]:
            asset = bundle.get(path.lstrip("/")) if digest == bundle.digest else None
            if asset is None:
                raise NotFoundException(detail=f"no console file {digest}{path}")
            return Response(asset.body, media_type=asset.media_type, headers=ASSET_HEADERS)

        return [console_page, console_asset]
