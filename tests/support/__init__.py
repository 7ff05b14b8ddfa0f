"""Helpers shared by the test suites: a real OTLP receiver, waiting on conditions."""
