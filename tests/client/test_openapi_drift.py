"""The client cannot drift from the sidecar: each endpoint it offers against a real sidecar's OpenAPI document.

Every endpoint exists with the client's method and path, takes exactly the client's parameters with
the same types and defaults, and answers with the fields and types the client's Structs read. The
live feed has no OpenAPI description: test_feed.py holds its messages to real ones.
"""

from __future__ import annotations

import inspect
import typing
from typing import Any

import msgspec
import pytest

from jobpulse.client import alerting, analytics, config, jobs, monitor
from jobpulse.client.api import Api
from jobpulse.client.endpoints import Endpoint, Streamed
from tests.client.schemas import Comparison, Document

ENDPOINTS = [value for value in vars(Api).values() if isinstance(value, Endpoint)]

# Structs not in the OpenAPI document: the client's own, and the data of live-feed messages, which
# test_feed.py holds field for field to real messages of a real sidecar.
NOT_IN_OPENAPI = {"CommandOutcome", "Filters", "FieldError", "Progress"}


@pytest.fixture(scope="module")
def openapi(shared_sidecar) -> dict[str, Any]:
    return shared_sidecar.get_json("/schema/openapi.json")


@pytest.fixture(scope="module")
def server_document(openapi) -> Document:
    return Document(openapi["components"]["schemas"])


def client_schema(*types: Any) -> tuple[list[dict[str, Any]], Document]:
    schemas, definitions = msgspec.json.schema_components(types)
    return schemas, Document(definitions)


def operation(openapi: dict[str, Any], endpoint: Endpoint[Any, Any]) -> dict[str, Any]:
    path = openapi["paths"].get(endpoint.template)
    assert path is not None, f"{endpoint.name}: the sidecar has no {endpoint.template}"
    found = path.get(endpoint.method.lower())
    assert found is not None, f"{endpoint.name}: {endpoint.template} does not answer {endpoint.method}"
    return found


def answer_comparisons(openapi: dict[str, Any], server: Document, endpoint: Endpoint[Any, Any]) -> list[Comparison]:
    """The endpoint's answer types against what the sidecar documents (success, and accepted errors)."""
    responses = operation(openapi, endpoint)["responses"]
    [success] = [status for status in responses if status.startswith("2")]
    comparisons = []
    for answer in [responses[success], *(responses[str(status)] for status in endpoint.accept)]:
        content = answer.get("content") or {}
        if isinstance(endpoint, Streamed):
            assert content and "application/json" not in content, endpoint.name
        elif endpoint.response is None:
            assert content == {}, endpoint.name
        else:
            [schema], document = client_schema(endpoint.response)
            comparison = Comparison(document, server)
            comparison.compare(schema, content["application/json"]["schema"], endpoint.name)
            comparisons.append(comparison)
    return comparisons


def body_type(endpoint: Endpoint[Any, Any]) -> Any:
    """What the endpoint sends as its body: its Struct of fields, or its one parameter sent as it is."""
    if endpoint.document is not None:
        return typing.get_type_hints(endpoint.function)[endpoint.document]
    return endpoint.body


def body_comparison(openapi: dict[str, Any], server: Document, endpoint: Endpoint[Any, Any]) -> Comparison:
    """The endpoint's request body against the one the sidecar documents."""
    body = operation(openapi, endpoint)["requestBody"]["content"]["application/json"]["schema"]
    [schema], document = client_schema(body_type(endpoint))
    comparison = Comparison(document, server, request=True)
    comparison.compare(schema, body, endpoint.name, optional=True)
    return comparison


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda endpoint: endpoint.name)
def test_each_endpoint_takes_the_parameters_the_sidecar_takes(openapi, endpoint) -> None:
    server = {(param["name"], param["in"]): param for param in operation(openapi, endpoint).get("parameters", [])}
    hints = typing.get_type_hints(endpoint.function)
    declared = [
        param for param in list(endpoint.signature.parameters.values())[1:] if param.name not in endpoint.body_params
    ]
    client = {(param.name, "path" if param.name in endpoint.path_params else "query"): param for param in declared}
    assert sorted(client) == sorted(server)
    for key, param in client.items():
        [schema], document = client_schema(hints[param.name])
        comparison = Comparison(document, Document({}), naive_times=True)
        comparison.compare(schema, server[key]["schema"], f"{endpoint.name}({param.name})")
        # An optional query parameter may be left out: null means "not sent", whatever the server's schema.
        assert [problem for problem in comparison.problems if ": null " not in problem] == []
        if param.default is not inspect.Parameter.empty and param.default is not None:
            assert server[key]["schema"].get("default") == param.default, f"{endpoint.name}({param.name}) default"


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda endpoint: endpoint.name)
def test_each_answer_reads_as_the_sidecar_documents_it(openapi, server_document, endpoint) -> None:
    for comparison in answer_comparisons(openapi, server_document, endpoint):
        assert comparison.problems == []


WITH_BODY = [endpoint for endpoint in ENDPOINTS if endpoint.body_params]


@pytest.mark.parametrize("endpoint", WITH_BODY, ids=lambda endpoint: endpoint.name)
def test_each_request_body_is_what_the_sidecar_reads(openapi, server_document, endpoint) -> None:
    assert "requestBody" in operation(openapi, endpoint), f"{endpoint.name}: the sidecar reads no body"
    if endpoint.body is not None:
        assert endpoint.body.__struct_config__.omit_defaults, "fields left at None are left out, never sent as null"
        body_fields = [name for name in list(endpoint.signature.parameters)[1:] if name not in endpoint.path_params]
        assert set(body_fields) == set(endpoint.body.__struct_fields__)
    assert body_comparison(openapi, server_document, endpoint).problems == []


def test_every_endpoint_with_a_body_in_the_sidecar_sends_one(openapi) -> None:
    for endpoint in ENDPOINTS:
        if "requestBody" in operation(openapi, endpoint):
            assert endpoint in WITH_BODY, f"{endpoint.name}: the sidecar reads a body the client does not send"


def test_every_struct_the_client_decodes_is_compared(openapi, server_document) -> None:
    comparisons = []
    for endpoint in ENDPOINTS:
        comparisons += answer_comparisons(openapi, server_document, endpoint)
        if endpoint.body_params:
            comparisons.append(body_comparison(openapi, server_document, endpoint))
    compared = {name for comparison in comparisons for pair in comparison.compared for name in pair[:1] if name}
    structs = {
        name
        for module in (jobs, analytics, monitor, alerting, config)
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, msgspec.Struct) and value.__module__ == module.__name__
    }
    assert structs - compared - NOT_IN_OPENAPI == set()


def problems(struct: type[msgspec.Struct], server: Document) -> list[str]:
    """How ``struct`` differs from the sidecar's schema of the same name."""
    [schema], document = client_schema(struct)
    comparison = Comparison(document, server)
    comparison.compare(schema, {"$ref": f"#/components/schemas/{struct.__name__}"}, struct.__name__)
    return comparison.problems


def test_a_renamed_field_is_caught(server_document) -> None:
    class JobPage(msgspec.Struct):
        items: list[jobs.JobSummary]
        total: int
        exact_total: bool
        next_cursor: str | None

    assert problems(JobPage, server_document) == [
        "JobPage.exact_total: in the client, not in the server",
        "JobPage.total_exact: in the server, not in the client",
    ]


def test_a_changed_type_or_nullability_is_caught(server_document) -> None:
    class StepInfo(msgspec.Struct):
        name: str | None
        index: float | None = None
        count: int | None = None

    assert problems(StepInfo, server_document) == [
        "StepInfo.index: number in the client, integer in the server",
        "StepInfo.name: null allowed by the client, not the server",
    ]
