"""Fixtures for instrumentation tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.otlp_capture import OtlpCapture


@pytest.fixture
def capture() -> Iterator[OtlpCapture]:
    """A fresh OTLP/HTTP receiver for the test."""
    with OtlpCapture() as receiver:
        yield receiver
