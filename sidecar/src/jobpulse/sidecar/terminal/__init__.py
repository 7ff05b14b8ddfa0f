"""The ``jobpulse`` commands that talk to a running sidecar: ``jobs ls|show|logs|pause|resume|cancel``
and ``watch``, all through :mod:`jobpulse.client` (docs/terminal.md)."""
