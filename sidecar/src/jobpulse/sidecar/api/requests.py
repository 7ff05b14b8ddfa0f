"""The sidecar's Request class: a JSON body nested deeper than the decoder can follow is a 400.

msgspec stops at its recursion limit with a RecursionError, which Litestar does not expect from a
body decode (it turns only msgspec's DecodeError into a 400), so without this a few kilobytes of
``[[[[...`` answered 500.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import ClientException


class SidecarRequest(Request[Any, Any, Any]):
    """Litestar's Request, with the body's nesting depth reported as a client error."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            raise ClientException(detail="request body: JSON nested too deeply to decode") from None
