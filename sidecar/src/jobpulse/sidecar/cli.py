"""The ``jobpulse`` command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from jobpulse.sidecar.settings import Settings, SettingsError, Sources, load_settings, load_sources

app = typer.Typer(
    name="jobpulse",
    help="Watch, steer and look back at ETL and batch jobs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML or YAML settings file (also JOBPULSE_CONFIG).", show_default=False),
]
HostOption = Annotated[str | None, typer.Option(help="Address to listen on (JOBPULSE_HOST).", show_default=False)]
PortOption = Annotated[int | None, typer.Option(help="Port to listen on (JOBPULSE_PORT).", show_default=False)]
DatabaseOption = Annotated[
    str | None, typer.Option(help="History database (JOBPULSE_DATABASE_URL).", show_default=False)
]


@app.callback()
def _group() -> None:
    """Watch, steer and look back at ETL and batch jobs."""


def _invalid(error: SettingsError) -> NoReturn:
    """Every problem on its own line, and exit code 2."""
    count = len(error.problems)
    typer.secho(f"jobpulse: {count} invalid setting{'s' if count != 1 else ''}:", err=True, fg=typer.colors.RED)
    for problem in error.problems:
        typer.secho(f"  {problem}", err=True, fg=typer.colors.RED)
    raise typer.Exit(2)


def sources_or_exit(config: Path | None, **overrides: object) -> Sources:
    """Load settings and their sources, turning bad ones into a list of problems and exit code 2."""
    try:
        return load_sources(config, overrides=overrides)
    except SettingsError as error:
        _invalid(error)


def settings_or_exit(config: Path | None, **overrides: object) -> Settings:
    """Load settings, turning bad ones into a list of problems and exit code 2."""
    return sources_or_exit(config, **overrides).settings


@app.command()
def sidecar(
    config: ConfigOption = None,
    host: HostOption = None,
    port: PortOption = None,
    log_level: Annotated[str | None, typer.Option(help="Log level (JOBPULSE_LOG_LEVEL).")] = None,
) -> None:
    """Serve the sidecar: OTLP receiver, REST API, live feed. Every setting also reads JOBPULSE_* variables."""
    from jobpulse.sidecar.server import serve

    serve(sources_or_exit(config, host=host, port=port, log_level=log_level))


@app.command()
def demo(
    config: ConfigOption = None,
    host: HostOption = None,
    port: PortOption = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.", show_default=False)] = None,
    once: Annotated[bool, typer.Option("--once", help="Run each demo job once, then exit.")] = False,
    speed: Annotated[float, typer.Option(help="Run the demo jobs this many times faster.")] = 1.0,
    database_url: DatabaseOption = None,
) -> None:
    """Run the sidecar with realistic demo ETL jobs (CSV import, field mapping, API upload, a failing DB load).

    Ctrl+C stops the jobs (they end as cancelled), then the sidecar, which writes its history: exit status 130.
    """
    from jobpulse.sidecar.demo.runner import run_demo

    settings = settings_or_exit(config, host=host, port=port, database_url=database_url)
    raise typer.Exit(run_demo(settings, speed=speed, once=once, duration=duration))


@app.command("prune")
def prune_command(
    config: ConfigOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would be removed.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Apply the retention policy to the job history now (the sidecar also does it periodically)."""
    from jobpulse.sidecar.alerting.retention import expire_alerts
    from jobpulse.sidecar.history.retention import expire_dead_letters, sweep_jobs
    from jobpulse.sidecar.storage.prune import prune

    settings = settings_or_exit(config, database_url=database_url)
    parts = [sweep_jobs, expire_alerts, expire_dead_letters]
    prune(settings.database_url, settings.retention_policy(), parts, dry_run=dry_run)


jobs_app = typer.Typer(help="Pause, resume or cancel a running job.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")

UrlOption = Annotated[str, typer.Option("--url", envvar="JOBPULSE_URL", help="The sidecar's base URL (JOBPULSE_URL).")]
ReasonOption = Annotated[str | None, typer.Option(help="Why; kept in the job's command history.")]


def _control(action: str, job_id: str, url: str, reason: str | None) -> None:
    from jobpulse.sidecar.control.client import request_control
    from jobpulse.sidecar.printable import printable

    try:
        command = request_control(url, job_id, action, reason)
    except RuntimeError as error:
        typer.secho(f"jobpulse: {printable(str(error))}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
    typer.echo(
        f"{action} of job {printable(job_id)} requested (command {command['id']}, {command['state']}); "
        "the job obeys at its next checkpoint"
    )


@jobs_app.command("pause")
def pause_job(job_id: str, url: UrlOption = "http://127.0.0.1:4318", reason: ReasonOption = None) -> None:
    """Ask a running job to pause at its next checkpoint."""
    _control("pause", job_id, url, reason)


@jobs_app.command("resume")
def resume_job(job_id: str, url: UrlOption = "http://127.0.0.1:4318", reason: ReasonOption = None) -> None:
    """Ask a paused job to resume."""
    _control("resume", job_id, url, reason)


@jobs_app.command("cancel")
def cancel_job(job_id: str, url: UrlOption = "http://127.0.0.1:4318", reason: ReasonOption = None) -> None:
    """Ask a job to stop; it ends as cancelled."""
    _control("cancel", job_id, url, reason)


config_app = typer.Typer(help="Check a settings file, or show what a sidecar runs with.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("validate")
def validate_config(file: Annotated[Path, typer.Argument(help="TOML or YAML settings file.")]) -> None:
    """Check a settings file alone (no environment, no flags): exit 0 when valid, else 2 listing every problem."""
    try:
        load_settings(file, environ={})
    except SettingsError as error:
        _invalid(error)
    typer.echo(f"{file}: valid")


@config_app.command("show")
def show_config(
    url: UrlOption = "http://127.0.0.1:4318",
    token: Annotated[
        str | None,
        typer.Option(envvar="JOBPULSE_TOKEN", help="An admin's API token (JOBPULSE_TOKEN).", show_default=False),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The API's answer as it is.")] = False,
) -> None:
    """The settings a running sidecar uses, with the source of each (secrets masked)."""
    from jobpulse.sidecar.config.client import describe_config, fetch_config
    from jobpulse.sidecar.printable import printable

    try:
        view = fetch_config(url, token)
    except RuntimeError as error:
        typer.secho(f"jobpulse: {printable(str(error))}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(view, indent=2))
        return
    for line in describe_config(view):
        typer.echo(line)


def main() -> None:
    """Entry point of the ``jobpulse`` console script."""
    app()
