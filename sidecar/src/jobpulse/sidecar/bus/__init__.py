"""The bus: how replicas share job events (docs/architecture.md, "Replicas").

Without a broker the sidecar folds what it receives at once, as one process always did. With
``broker_url`` set, every OTLP request's events go to a Redis stream and every replica folds every
entry of it, so every replica holds the same live state and serves the same feed.
"""
