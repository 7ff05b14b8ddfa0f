"""create_app: the features start in their order and stop in reverse, and ``jobpulse prune`` sweeps the
parts the running sidecar sweeps, and no route relies on a style Litestar 3 drops."""

from __future__ import annotations

import asyncio
import warnings

from litestar.exceptions import LitestarDeprecationWarning
from litestar.testing import AsyncTestClient
from typer.testing import CliRunner

from jobpulse.sidecar.app import create_app
from jobpulse.sidecar.cli import app as cli
from jobpulse.sidecar.plugin import features_of
from jobpulse.sidecar.settings import Settings
from jobpulse.sidecar.storage.plugin import StorageFeature

# The guard's request hooks come first; storage is migrated first; configuration applies the stored
# runtime changes before the features it reconfigures start; history restores memory before anything
# else runs; the bus folds its stream on top of that before ingest takes requests; the lost-job detector
# (ingest) starts once every listener runs and stops first.
START_ORDER = [
    "guard",
    "storage",
    "auth",
    "config",
    "history",
    "schedules",
    "alerting",
    "control",
    "feed",
    "bus",
    "jobs",
    "ingest",
    "metrics",
    "console",
]


def settings(tmp_path) -> Settings:
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'history.db'}")


async def test_features_start_in_order_and_stop_in_reverse(tmp_path, monkeypatch):
    app = create_app(settings(tmp_path))
    seen: list[tuple[str, str]] = []
    for feature in features_of(app):
        for step in ("start", "stop"):
            method = getattr(feature, step)

            async def recorded(step=step, name=feature.name, method=method) -> None:
                seen.append((step, name))
                await method()

            monkeypatch.setattr(feature, step, recorded)

    async with AsyncTestClient(app) as client:
        assert seen == [("start", name) for name in START_ORDER]
        assert (await client.get("/readyz")).status_code == 200
    assert seen[len(START_ORDER) :] == [("stop", name) for name in reversed(START_ORDER)]


def test_routes_declare_their_parameters_dependencies_and_bodies_explicitly(tmp_path):
    # Litestar 2 warns at registration about the inferred styles Litestar 3 stops understanding
    # (a bare path or query parameter, an unmarked dependency, an untyped body): each one is an error here.
    with warnings.catch_warnings():
        warnings.simplefilter("error", LitestarDeprecationWarning)
        app = create_app(settings(tmp_path))
        assert app.openapi_schema.paths


def test_prune_sweeps_every_part_the_sidecar_sweeps_and_no_other(tmp_path):
    app = create_app(settings(tmp_path))
    storage = app.plugins.get(StorageFeature)

    async def sweep_as_the_sidecar_does():
        await storage.start()
        try:
            return await storage.sweeper.sweep(dry_run=True)
        finally:
            await storage.stop()

    report = asyncio.run(sweep_as_the_sidecar_does())
    swept = {row[0] for counts in report.parts for row in counts.rows(storage.sweeper.policy)}
    assert len(swept) >= 4, swept

    result = CliRunner().invoke(
        cli, ["prune", "--dry-run", "--database-url", settings(tmp_path).database_url], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    rules = {line.split("│")[1].strip() for line in result.output.splitlines() if line.count("│") == 4}
    assert rules - {"rule"} == swept
