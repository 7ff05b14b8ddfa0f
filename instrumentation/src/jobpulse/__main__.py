"""``python -m jobpulse`` is the ``jobpulse`` command."""

from jobpulse.cli import main

main()
