"""A NUL character in what a REST request names — a path or query parameter, a string of a JSON body —
is refused at the edge, wherever the value would go next.

PostgreSQL text cannot hold NUL: such a value reached the database only to fail there, a 500 for a
filter (``GET /api/jobs?owner=%00``), a job id in a path, a silence's rule or a polled job id. No name,
id, filter or reason needs one. A parameter holding one is a 400 naming it; a JSON body, a 422 naming
the field (the usual split between a bad request and a well-formed but invalid body).

OTLP bodies are not REST bodies: a job's text may hold NUL, and storage sets aside what it cannot
hold (docs/storage.md).
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import ValidationException

from jobpulse.sidecar.printable import printable

NUL = "\x00"
_SHOWN = 100  # characters of a refused value quoted in the answer


def refusal(key: str, value: str, source: str) -> ValidationException:
    """The 400 (or, from a body, 422) refusing ``value`` of ``key``."""
    shown = printable(value[:_SHOWN]) + ("..." if len(value) > _SHOWN else "")
    message = f"control character '\\x00' (NUL) is not allowed, got '{shown}'"
    where = f"request body: {key}" if source == "body" else key
    return ValidationException(detail=f"{where}: {message}", extra=[{"key": key, "message": message, "source": source}])


async def refuse_nul_parameters(request: Request[Any, Any, Any]) -> None:
    """A ``before_request`` hook: refuse a NUL in a path or query parameter (names included)."""
    scope = request.scope
    # The common case in two substring checks: the parameters are parsed only when one may hold a NUL.
    in_path = NUL in scope["path"]
    query = scope["query_string"]
    if not in_path and b"%00" not in query and b"\x00" not in query:
        return
    if in_path:
        for key, value in request.path_params.items():
            if type(value) is str and NUL in value:
                raise refusal(key, value, "path")
    for key, value in request.query_params.multi_items():
        for text in (key, value):
            if NUL in text:
                raise refusal(printable(key), text, "query")


def nul_field(document: Any) -> tuple[str, str] | None:
    """Where a string of decoded JSON ``document`` holds a NUL: (the field's path, the string), or None.

    Iterative: a document may nest as deep as the JSON decoder goes.
    """
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        path, value = stack.pop()
        if type(value) is str:
            if NUL in value:
                return path or "(the body)", value
        elif type(value) is dict:
            for key, item in value.items():
                field = f"{path}.{key}" if path else key
                if NUL in key:
                    return printable(field), key
                stack.append((field, item))
        elif type(value) is list:
            stack.extend((f"{path}[{index}]", item) for index, item in enumerate(value))
    return None
