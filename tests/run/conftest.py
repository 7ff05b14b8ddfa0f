"""Fixtures for ``jobpulse run`` tests: those of the instrumentation's (a real OTLP receiver)."""

from tests.instrumentation.conftest import capture

__all__ = ["capture"]
