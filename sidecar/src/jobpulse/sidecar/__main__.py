"""``python -m jobpulse.sidecar`` is the ``jobpulse`` command."""

from jobpulse.sidecar.cli import main

main()
