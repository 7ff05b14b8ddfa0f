"""The ``jobpulse`` command.

``jobpulse run`` needs only the job side, so it is dispatched here without loading anything of the
sidecar; every other command is the sidecar's (``pip install 'jobpulse[sidecar]'``).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

SIDECAR_CLI = "jobpulse.sidecar.cli"
WITHOUT_SIDECAR = "The sidecar's commands need pip install 'jobpulse[sidecar]'; `jobpulse run -- CMD` works without it."


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``jobpulse`` console script."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["run"]:
        from jobpulse.run.cli import main as run

        sys.exit(run(arguments[1:]))
    try:
        sidecar = importlib.import_module(SIDECAR_CLI)
    except ModuleNotFoundError as missing:
        if (missing.name or "").startswith("jobpulse"):
            raise
        if arguments[:1] in ([], ["-h"], ["--help"]):
            print(
                f"usage: jobpulse run [options] -- CMD [ARGS...]\n\n{WITHOUT_SIDECAR}",
                file=sys.stdout if arguments else sys.stderr,
            )
            sys.exit(0 if arguments else 2)
        sys.exit(
            f"jobpulse: `jobpulse {arguments[0]}` is part of the sidecar, which is not installed here "
            f"(no module {missing.name!r}). {WITHOUT_SIDECAR}"
        )
    sys.argv = [sys.argv[0], *arguments]
    sidecar.main()
