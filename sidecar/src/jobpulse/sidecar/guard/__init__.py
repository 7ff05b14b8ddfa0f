"""Limits and browser protections: rate limits, the live feed's connection caps, CORS, security headers.

Everything is wired by :class:`~jobpulse.sidecar.guard.plugin.GuardFeature` from the sidecar's settings
(docs/security.md, "Limits").
"""
