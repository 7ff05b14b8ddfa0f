"""Alerting: rules over job state, alerts with a lifecycle, notifications through Apprise.

See docs/alerting.md. The parts: ``config`` (settings), ``rules`` (pure rule functions), ``hints``
(suggested actions), ``host`` (psutil sampler), ``engine`` (lifecycle, dedupe, grouping, silences,
ticker), ``messages`` (notification text), ``delivery`` (queues, claims, retries), ``repository``
(database), ``api`` and ``webhook`` (REST), ``metrics`` (Prometheus collector), ``service`` (wiring),
``plugin`` (the feature the app lists).
"""
