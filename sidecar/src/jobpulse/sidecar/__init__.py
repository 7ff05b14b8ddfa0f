"""The jobpulse sidecar service."""

from importlib.metadata import version

# pyproject.toml is the one place the version is written; /metrics and the OpenAPI document read it here.
__version__ = version("jobpulse")
