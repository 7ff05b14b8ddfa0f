"""REST endpoints declared once, for the blocking and the asyncio client alike.

An endpoint is a method of :class:`jobpulse.client.api.Api` decorated with :func:`get`, :func:`post`,
:func:`patch`, :func:`put` or :func:`delete`. Its signature is the request: parameters named in the
path template fill it, the others are query parameters (or, with ``body=``, the fields of the JSON
body; with ``document=``, the one parameter sent as the whole JSON body); its return annotation is
the type the answer decodes to. The method itself has no code: reading it through a client gives a
function that builds the :class:`Request` here and hands it to the client's ``send``, which blocks
(:class:`jobpulse.client.Client`) or returns an awaitable (:class:`jobpulse.client.AsyncClient`).
Building requests and reading answers happen here, without I/O; sending is all the clients add.
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, Concatenate, Generic, Literal, ParamSpec, Protocol, TypeVar, overload
from urllib.parse import quote

import msgspec

from jobpulse.client.errors import UnexpectedAnswer, error_for

P = ParamSpec("P")
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
Item = TypeVar("Item")


class Request(msgspec.Struct, frozen=True):
    """One HTTP request to the sidecar, relative to its base URL.

    ``accept`` lists error statuses that are an answer of this endpoint rather than a failure
    (readiness answers 503 with the checks that failed).
    """

    method: str
    path: str
    params: list[tuple[str, str]] = []
    body: bytes | None = None
    accept: tuple[int, ...] = ()


class Page(Protocol[Item]):
    """A page of a keyset-paged listing."""

    @property
    def items(self) -> list[Item]: ...

    @property
    def next_cursor(self) -> str | int | None: ...


class Blocking(Protocol):
    """A client whose endpoints block (``Client``)."""

    blocking: Literal[True]

    def send(self, request: Request, response: Any) -> Any: ...

    def iterate(self, pager: Pager[Any]) -> Iterator[Any]: ...

    def stream(self, request: Request) -> Iterator[bytes]: ...


class Awaiting(Protocol):
    """A client whose endpoints are awaited (``AsyncClient``)."""

    blocking: Literal[False]

    def send(self, request: Request, response: Any) -> Awaitable[Any]: ...

    def iterate(self, pager: Pager[Any]) -> AsyncIterator[Any]: ...

    def stream(self, request: Request) -> AsyncIterator[bytes]: ...


def headers_with_token(token: str | None, headers: Mapping[str, str] | None) -> dict[str, str]:
    """``headers``, plus ``Authorization: Bearer`` with ``token`` when there is one."""
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    return sent


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def query(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Query parameters from keyword values: None is left out, a list or tuple repeats its parameter."""
    params = []
    for name, value in values.items():
        for item in value if isinstance(value, list | tuple | set | frozenset) else (value,):
            if item is not None:
                params.append((name, _query_value(item)))
    return params


def read_answer(status_code: int, headers: Mapping[str, str], content: bytes, request: Request, response: Any) -> Any:
    """The decoded answer, or the error it stands for (see :mod:`jobpulse.client.errors`)."""
    if status_code >= 400 and status_code not in request.accept:
        raise error_for(status_code, headers, content)
    if response is None:
        return None
    try:
        return msgspec.json.decode(content, type=response)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise UnexpectedAnswer(f"{request.method} {request.path}: {error}") from None


class Endpoint(Generic[P, T_co]):
    """A REST endpoint: ``method`` and path ``template``, the request from the declared signature."""

    def __init__(
        self,
        method: str,
        template: str,
        function: Callable[Concatenate[Any, P], T_co],
        *,
        body: type[msgspec.Struct] | None = None,
        document: str | None = None,
        accept: tuple[int, ...] = (),
    ) -> None:
        self.method = method
        self.template = template
        self.function = function
        self.body = body
        self.document = document
        self.accept = accept
        self.signature = inspect.signature(function)
        self.path_params = tuple(re.findall(r"{(\w+)}", template))
        returned = typing.get_type_hints(function).get("return")
        self.response: Any = None if returned is type(None) else returned
        functools.update_wrapper(self, function)  # type: ignore[arg-type]

    @property
    def name(self) -> str:
        return self.function.__name__

    @property
    def body_params(self) -> tuple[str, ...]:
        """The parameters sent in the body rather than in the path or the query."""
        if self.document is not None:
            return (self.document,)
        if self.body is not None:
            return tuple(self.body.__struct_fields__)
        return ()

    def values(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The parameters a call with these arguments gives. Defaults are left to the sidecar (the
        signature shows them; a test holds them to the sidecar's)."""
        values = dict(self.signature.bind(None, *args, **kwargs).arguments)
        values.pop(next(iter(self.signature.parameters)))
        return values

    def request(self, *args: P.args, **kwargs: P.kwargs) -> Request:
        """The request a call with these arguments sends."""
        values = self.values(*args, **kwargs)
        path = self.template.format(**{name: quote(str(values.pop(name)), safe="") for name in self.path_params})
        if self.document is not None:
            body = msgspec.json.encode(values.pop(self.document))
            return Request(self.method, path, params=query(values), body=body, accept=self.accept)
        if self.body is not None:
            return Request(self.method, path, body=msgspec.json.encode(self.body(**values)), accept=self.accept)
        return Request(self.method, path, params=query(values), accept=self.accept)

    def call(self, client: Blocking | Awaiting) -> Callable[P, Any]:
        return functools.wraps(self.function)(
            lambda *args, **kwargs: client.send(self.request(*args, **kwargs), self.response)
        )

    @overload
    def __get__(self, client: None, owner: type) -> Endpoint[P, T_co]: ...
    @overload
    def __get__(self, client: Blocking, owner: type) -> Callable[P, T_co]: ...
    @overload
    def __get__(self, client: Awaiting, owner: type) -> Callable[P, Awaitable[T_co]]: ...
    def __get__(self, client: Blocking | Awaiting | None, owner: type) -> Any:
        return self if client is None else self.call(client)


class Streamed(Endpoint[P, T_co]):
    """An endpoint whose answer is read as it arrives, in chunks of bytes."""

    def call(self, client: Blocking | Awaiting) -> Callable[P, Any]:
        return functools.wraps(self.function)(lambda *args, **kwargs: client.stream(self.request(*args, **kwargs)))

    @overload  # type: ignore[override]
    def __get__(self, client: None, owner: type) -> Streamed[P, T_co]: ...
    @overload
    def __get__(self, client: Blocking, owner: type) -> Callable[P, Iterator[bytes]]: ...
    @overload
    def __get__(self, client: Awaiting, owner: type) -> Callable[P, AsyncIterator[bytes]]: ...
    def __get__(self, client: Blocking | Awaiting | None, owner: type) -> Any:
        return self if client is None else self.call(client)


class Pager(Generic[Item]):
    """The requests for the successive pages of a keyset-paged endpoint, from one call's arguments."""

    def __init__(self, endpoint: Endpoint[Any, Page[Item]], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.endpoint = endpoint
        self.args = args
        self.kwargs = kwargs
        self.page_type = endpoint.response

    def first(self) -> Request:
        return self.endpoint.request(*self.args, **self.kwargs)

    def after(self, page: Page[Item]) -> Request | None:
        """The request for the page after ``page``; None when it was the last."""
        if page.next_cursor is None:
            return None
        return self.endpoint.request(*self.args, **{**self.kwargs, "cursor": page.next_cursor})


class Pages(Generic[P, Item]):
    """Every item of a paged endpoint, page after page (keyset cursors: no duplicates, no gaps)."""

    def __init__(self, endpoint: Endpoint[P, Page[Item]]) -> None:
        self.endpoint = endpoint

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, client: None, owner: type) -> Pages[P, Item]: ...
    @overload
    def __get__(self, client: Blocking, owner: type) -> Callable[P, Iterator[Item]]: ...
    @overload
    def __get__(self, client: Awaiting, owner: type) -> Callable[P, AsyncIterator[Item]]: ...
    def __get__(self, client: Blocking | Awaiting | None, owner: type) -> Any:
        if client is None:
            return self

        def iterate(*args: Any, **kwargs: Any) -> Any:
            return client.iterate(Pager(self.endpoint, args, kwargs))

        iterate.__name__ = self.name
        iterate.__doc__ = f"Every item of :meth:`{self.endpoint.name}`, fetching page after page as they are read."
        return iterate


def get(path: str, *, accept: tuple[int, ...] = ()) -> Callable[[Callable[Concatenate[Any, P], T]], Endpoint[P, T]]:
    """Declare a GET endpoint (see the module's docstring)."""
    return lambda function: Endpoint("GET", path, function, accept=accept)


def streamed(path: str) -> Callable[[Callable[Concatenate[Any, P], T]], Streamed[P, T]]:
    """Declare a GET endpoint whose answer is streamed rather than decoded."""
    return lambda function: Streamed("GET", path, function)


def post(path: str, *, body: type[msgspec.Struct]) -> Callable[[Callable[Concatenate[Any, P], T]], Endpoint[P, T]]:
    """Declare a POST endpoint whose parameters not in the path are the fields of ``body``."""
    return lambda function: Endpoint("POST", path, function, body=body)


def patch(path: str, *, document: str) -> Callable[[Callable[Concatenate[Any, P], T]], Endpoint[P, T]]:
    """Declare a PATCH endpoint whose body is the parameter ``document``, sent as it is."""
    return lambda function: Endpoint("PATCH", path, function, document=document)


def put(path: str, *, document: str) -> Callable[[Callable[Concatenate[Any, P], T]], Endpoint[P, T]]:
    """Declare a PUT endpoint whose body is the parameter ``document``, sent as it is."""
    return lambda function: Endpoint("PUT", path, function, document=document)


def delete(path: str) -> Callable[[Callable[Concatenate[Any, P], T]], Endpoint[P, T]]:
    """Declare a DELETE endpoint."""
    return lambda function: Endpoint("DELETE", path, function)


def pages(endpoint: Endpoint[P, Page[Item]]) -> Pages[P, Item]:
    """Iterate over every item of a paged endpoint."""
    return Pages(endpoint)
