"""Jobs: the REST API over job state, live and past.

``api`` serves ``/api/jobs`` (search, detail, status, metrics, logs) and ``analytics`` ``/api/analytics``,
from memory and history together; ``monitor`` serves ``/api/monitor/jobs``, the jobs running now, from
memory; ``plugin`` is the feature.
"""
