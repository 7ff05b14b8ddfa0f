"""``python -m jobpulse.sidecar`` is the ``jobpulse`` command."""

from jobpulse.sidecar.cli import main

# Guarded: the history writer process (spawned) imports the main module without running it.
if __name__ == "__main__":
    main()
