"""Error responses: always JSON ``{"status_code", "detail", "extra"?}`` with a precise status.

Litestar reports every validation failure as 400. A request body that is well-formed JSON but breaks
the schema is a 422 here, so clients can tell "malformed" from "semantically wrong".
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.exceptions import ClientException, ValidationException
from litestar.status_codes import (
    HTTP_409_CONFLICT,
    HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    HTTP_422_UNPROCESSABLE_ENTITY,
)

# Client errors Litestar has no class for: handlers list them in ``raises`` so that the OpenAPI
# document names every status they answer with.


class ConflictException(ClientException):
    """409: the request does not fit the resource's current state."""

    status_code = HTTP_409_CONFLICT


class UnsupportedMediaTypeException(ClientException):
    """415: a body in a content type the route does not read."""

    status_code = HTTP_415_UNSUPPORTED_MEDIA_TYPE


class UnprocessableEntityException(ClientException):
    """422: a well-formed request body that breaks the schema."""

    status_code = HTTP_422_UNPROCESSABLE_ENTITY


def validation_error_handler(request: Request, exc: ValidationException) -> Response[dict[str, Any]]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    from_body = any(isinstance(item, dict) and item.get("source") == "body" for item in extra)
    status_code = 422 if from_body else exc.status_code
    content: dict[str, Any] = {"status_code": status_code, "detail": exc.detail}
    if exc.extra:
        content["extra"] = exc.extra
    return Response(content, status_code=status_code)
