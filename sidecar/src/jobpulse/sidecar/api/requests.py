"""The sidecar's Request class: a JSON body nested deeper than the decoder can follow is a 400, and
one with a NUL in a string a 422 naming the field (``api.nul``).

msgspec stops at its recursion limit with a RecursionError, which Litestar does not expect from a
body decode (it turns only msgspec's DecodeError into a 400), so without this a few kilobytes of
``[[[[...`` answered 500.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import ClientException

from jobpulse.sidecar.api.nul import nul_field, refusal


class SidecarRequest(Request[Any, Any, Any]):
    """Litestar's Request, with the body's nesting depth and NUL characters reported as client errors."""

    async def json(self) -> Any:
        try:
            document = await super().json()
        except RecursionError:
            raise ClientException(detail="request body: JSON nested too deeply to decode") from None
        # JSON writes a NUL in a string only as this escape: most bodies are not walked at all.
        if b"\\u0000" in await self.body() and (found := nul_field(document)) is not None:
            raise refusal(*found, "body")
        return document
