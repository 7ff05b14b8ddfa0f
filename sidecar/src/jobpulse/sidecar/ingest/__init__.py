"""OTLP/HTTP ingest: decoding requests and turning records into job events."""
