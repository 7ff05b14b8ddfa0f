"""Live configuration: the settings in force, changed over REST, on SIGHUP or when the file changes.

See docs/configuration.md. The parts: ``validation`` (every problem of a document at once),
``layers`` (sources and their precedence, JSON merge patch), ``secrets`` (masking), ``live`` (the
settings in force and who is told of a change), ``tables``/``repository`` (runtime changes and the
audit trail in the database), ``service`` (changes, reloads and replicas), ``api`` and ``plugin``.
"""
