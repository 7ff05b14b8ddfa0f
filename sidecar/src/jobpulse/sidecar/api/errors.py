"""Error responses: always JSON ``{"status_code", "detail", "extra"?}`` with a precise status.

Litestar reports every validation failure as 400. A request body that is well-formed JSON but breaks
the schema is a 422 here, so clients can tell "malformed" from "semantically wrong".
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.exceptions import ValidationException


def validation_error_handler(request: Request, exc: ValidationException) -> Response[dict[str, Any]]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    from_body = any(isinstance(item, dict) and item.get("source") == "body" for item in extra)
    status_code = 422 if from_body else exc.status_code
    content: dict[str, Any] = {"status_code": status_code, "detail": exc.detail}
    if exc.extra:
        content["extra"] = exc.extra
    return Response(content, status_code=status_code)
