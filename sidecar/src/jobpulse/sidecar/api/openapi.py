"""OpenAPI details that Litestar cannot infer from a handler's signature."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)

TEXT = Schema(type=OpenAPIType.STRING)
"""Any text."""

BINARY = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
"""Any bytes (a protobuf message)."""

OBJECT = Schema(type=OpenAPIType.OBJECT)
"""Any JSON object."""

ERROR = Schema(
    type=OpenAPIType.OBJECT,
    properties={
        "status_code": Schema(type=OpenAPIType.INTEGER),
        "detail": Schema(type=OpenAPIType.STRING),
        "extra": Schema(type=OpenAPIType.OBJECT),
    },
    required=["detail", "status_code"],
)
"""The project's JSON error shape, for responses that Litestar's own exceptions do not document."""


def success_content(content: dict[str, Schema]) -> type[Operation]:
    """An operation class whose success response is documented as ``content`` (media type -> schema).

    Litestar documents one media type per response, and a handler that returns a bare ``Response``
    or ``Stream`` as a JSON string; handlers that send text, or pick the type per request, say here
    what they really send.
    """

    @dataclass
    class ContentOperation(Operation):
        def __post_init__(self) -> None:
            for status, response in (self.responses or {}).items():
                if status.startswith("2") and isinstance(response, OpenAPIResponse):
                    response.content = {
                        media_type: OpenAPIMediaType(schema=schema) for media_type, schema in content.items()
                    }

    return ContentOperation


def request_content(content: dict[str, Schema], description: str) -> type[Operation]:
    """An operation class whose (required) request body is documented as ``content`` (media type ->
    schema): for handlers that read the raw body themselves, which Litestar then does not document."""

    @dataclass
    class RequestOperation(Operation):
        def __post_init__(self) -> None:
            self.request_body = RequestBody(
                content={media_type: OpenAPIMediaType(schema=schema) for media_type, schema in content.items()},
                description=description,
                required=True,
            )

    return RequestOperation
