"""Live-configuration test helpers: sidecars with a settings file, and the configuration API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.alerting.receivers import HttpReceiver
from tests.support import loopback
from tests.support.sidecar import SidecarProcess

CONFIG = "/api/monitor/config"


def config_sidecar_process(workdir: Path, toml: str = "", **settings: Any) -> SidecarProcess:
    """A sidecar, not started yet, reading ``toml`` as its settings file (`settings_file`), watching it
    (and the database) five times a second.

    Control long polls are kept short: a graceful stop waits for open requests.
    """
    path = workdir / "jobpulse.toml"
    path.write_text(toml)
    settings = {"control_poll_max_wait_s": 1, "config_poll_interval_s": 0.2, **settings}
    return SidecarProcess(workdir, config=path, **settings)


def config_sidecar(workdir: Path, toml: str = "", **settings: Any) -> SidecarProcess:
    """`config_sidecar_process`, started."""
    return config_sidecar_process(workdir, toml, **settings).start()


def settings_file(sidecar: SidecarProcess) -> Path:
    """The settings file of a `config_sidecar_process`."""
    return sidecar.settings["config"]


def get_config(sidecar: SidecarProcess) -> dict[str, Any]:
    return sidecar.get_json(CONFIG)


def patch_config(sidecar: SidecarProcess, body: Any, user: str | None = None) -> httpx.Response:
    headers = {"X-JobPulse-User": user} if user else {}
    return loopback.patch(sidecar.url + CONFIG, json=body, headers=headers, timeout=30)


def put_config(sidecar: SidecarProcess, body: Any) -> httpx.Response:
    return loopback.put(sidecar.url + CONFIG, json=body, timeout=30)


def history(sidecar: SidecarProcess) -> list[dict[str, Any]]:
    return sidecar.get_json(CONFIG + "/history")["items"]


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    """A loopback HTTP server recording what Apprise's json:// channels send."""
    with HttpReceiver() as server:
        yield server
