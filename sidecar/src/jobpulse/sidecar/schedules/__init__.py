"""Schedules: when each job name (or job type) is expected to run, and whether its runs start in time.

See docs/alerting.md (job_missed). The parts: ``config`` (the ``[[schedules]]`` settings), ``state``
(the pure schedule-state function), ``book`` (configured and learned schedules, last runs), ``tables``
and ``repository`` (learned schedules kept, last runs read from history), ``api`` (REST), ``plugin``
(the feature the app lists).
"""
