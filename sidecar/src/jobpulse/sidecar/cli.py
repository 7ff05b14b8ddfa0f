"""The ``jobpulse`` command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from jobpulse.sidecar.settings import Settings, SettingsError, Sources, load_settings, load_sources
from jobpulse.sidecar.terminal.commands import jobs_app, watch
from jobpulse.sidecar.terminal.options import DEFAULT_URL, TokenOption, UrlOption

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


def _fail(message: str, code: int) -> NoReturn:
    typer.secho(f"jobpulse: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


def serving_sources_or_exit(config: Path | None, **overrides: object) -> Sources:
    """Sources for a command that listens: also exit 2, before binding, when they would expose it unprotected."""
    sources = sources_or_exit(config, **overrides)
    if error := sources.settings.serving_error():
        _fail(error, 2)
    return sources


InsecureOption = Annotated[
    bool,
    typer.Option(
        "--insecure-no-auth",
        help="Serve without authentication on any address (JOBPULSE_INSECURE_NO_AUTH): only on a network you trust.",
    ),
]


WorkersOption = Annotated[
    int,
    typer.Option(
        min=1,
        help="Serve with this many sidecar processes on the one port (Linux; more than 1 needs broker_url and "
        "PostgreSQL: docs/deployment.md).",
    ),
]


@app.command()
def sidecar(
    config: ConfigOption = None,
    host: HostOption = None,
    port: PortOption = None,
    log_level: Annotated[str | None, typer.Option(help="Log level (JOBPULSE_LOG_LEVEL).")] = None,
    insecure_no_auth: InsecureOption = False,
    workers: WorkersOption = 1,
    worker: Annotated[int | None, typer.Option(hidden=True, help="Serve as this worker of --workers.")] = None,
) -> None:
    """Serve the sidecar: OTLP receiver, REST API, live feed. Every setting also reads JOBPULSE_* variables.

    Listening on an address other than loopback turns authentication on (docs/security.md).
    """
    flags = {"config": config, "host": host, "port": port, "log-level": log_level}
    sources = serving_sources_or_exit(
        config, host=host, port=port, log_level=log_level, insecure_no_auth=insecure_no_auth or None
    )
    if workers == 1 or worker is not None:
        from jobpulse.sidecar.server import serve

        serve(sources, shared_port=worker is not None)
        return
    from jobpulse.sidecar import workers as fleet

    settings = sources.settings
    if error := fleet.workers_error(settings, workers):
        _fail(error, 2)
    if error := fleet.port_error(settings.host, settings.port):
        _fail(error, 1)
    # The workers read the same file and environment, and are given the same flags.
    given = [arg for name, value in flags.items() if value is not None for arg in (f"--{name}", str(value))]
    given += ["--insecure-no-auth"] if insecure_no_auth else []
    command = [sys.executable, "-m", "jobpulse.sidecar", "sidecar", *given]
    fleet.log_to_stderr(settings.log_level)
    status = fleet.Supervisor([[*command, "--worker", str(number)] for number in range(1, workers + 1)]).run()
    raise typer.Exit(fleet.end_as(status))


@app.command()
def demo(
    config: ConfigOption = None,
    host: HostOption = None,
    port: PortOption = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.", show_default=False)] = None,
    once: Annotated[bool, typer.Option("--once", help="Run each demo job once, then exit.")] = False,
    speed: Annotated[float, typer.Option(help="Run the demo jobs this many times faster.")] = 1.0,
    database_url: DatabaseOption = None,
    insecure_no_auth: InsecureOption = False,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Do not open the console in a browser (never opened under CI).")
    ] = False,
) -> None:
    """Run the sidecar with realistic demo ETL jobs (CSV import, field mapping, API upload, a failing DB load),
    and open the web console in a browser.

    Ctrl+C stops the jobs (they end as cancelled), then the sidecar, which writes its history: exit status 130.
    """
    settings = serving_sources_or_exit(
        config, host=host, port=port, database_url=database_url, insecure_no_auth=insecure_no_auth or None
    ).settings
    from jobpulse.sidecar.demo.runner import run_demo

    raise typer.Exit(run_demo(settings, speed=speed, once=once, duration=duration, open_browser=not no_browser))


@app.command("prune")
def prune_command(
    config: ConfigOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would be removed.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Apply the retention policy to the job history now (the sidecar also does it periodically)."""
    from jobpulse.sidecar.app import features
    from jobpulse.sidecar.plugin import Core, retention_parts
    from jobpulse.sidecar.storage.prune import prune

    # The parts the sidecar's own sweep runs: those its features declare.
    core = Core(settings_or_exit(config, database_url=database_url))
    parts = retention_parts(features(core))
    prune(core.database, core.settings.retention_policy(), parts, dry_run=dry_run)


@app.command("run", add_help_option=False, context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run_command(context: typer.Context) -> None:
    """Run any command as a watched job: jobpulse run --name NAME -- CMD ARGS (see jobpulse run --help)."""
    # `jobpulse run` is dispatched before this module loads (jobpulse.cli); listed here for --help.
    from jobpulse.run.cli import main as run

    raise typer.Exit(run(context.args))


app.add_typer(jobs_app, name="jobs")
app.command("watch")(watch)


tokens_app = typer.Typer(
    help="Create, list and revoke API tokens. They live in the database, so every sidecar sharing it accepts them.",
    no_args_is_help=True,
)
app.add_typer(tokens_app, name="tokens")


@tokens_app.command("create")
def create_token(
    name: Annotated[str, typer.Argument(help="Who the token acts as: the owner name of the jobs it may control.")],
    role: Annotated[str, typer.Option("--role", help="ingest (jobs, Alertmanager), viewer, operator or admin.")],
    expires: Annotated[
        str | None, typer.Option(help="Lifetime, e.g. 90s, 15m, 12h, 30d, 2w (default: no expiry).", show_default=False)
    ] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Revoke the token of that name, if any, first.")] = False,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Create a token and print it on the last line of standard output: it is shown this once only."""
    from jobpulse.sidecar.auth.manage import with_tokens
    from jobpulse.sidecar.auth.tokens import TokenError, check_role, parse_duration

    settings = settings_or_exit(config, database_url=database_url)
    try:
        check_role(role)
        expires_in_s = parse_duration(expires) if expires is not None else None
    except ValueError as error:
        _fail(str(error), 2)
    try:
        info, token = with_tokens(
            settings.database_url,
            lambda tokens: tokens.create(name, role, expires_in_s=expires_in_s, replace=replace),
        )
    except TokenError as error:
        _fail(str(error), 1)
    until = f", expires {info.expires_at.isoformat(timespec='seconds')}" if info.expires_at else ""
    typer.echo(f"created token {name!r} (role {role}{until}); it is not shown again:", err=True)
    typer.echo(token)


@tokens_app.command("list")
def list_tokens(
    include_inactive: Annotated[bool, typer.Option("--all", help="Also revoked and expired tokens.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Name, role, state, creation, last use and expiry of each token (never its secret)."""
    import msgspec

    from jobpulse.sidecar.auth.manage import token_table, with_tokens
    from jobpulse.sidecar.terminal.views import console

    settings = settings_or_exit(config, database_url=database_url)
    tokens = with_tokens(
        settings.database_url, lambda repository: repository.list_tokens(include_inactive=include_inactive)
    )
    if as_json:
        typer.echo(msgspec.json.encode(tokens).decode())
    else:
        console().print(token_table(tokens))


@tokens_app.command("revoke")
def revoke_token(name: str, config: ConfigOption = None, database_url: DatabaseOption = None) -> None:
    """Revoke a token: every sidecar sharing the database refuses it within seconds, live feeds included."""
    from jobpulse.sidecar.auth.manage import with_tokens
    from jobpulse.sidecar.auth.tokens import TokenError

    settings = settings_or_exit(config, database_url=database_url)
    try:
        with_tokens(settings.database_url, lambda tokens: tokens.revoke(name))
    except TokenError as error:
        _fail(str(error), 1)
    typer.echo(f"revoked token {name!r}")


config_app = typer.Typer(help="Check a settings file, or show what a sidecar runs with.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("validate")
def validate_config(file: Annotated[Path, typer.Argument(help="TOML or YAML settings file.")]) -> None:
    """Check a settings file alone (no environment, no flags): exit 0 when valid, else 2 listing every problem."""
    try:
        settings = load_settings(file, environ={})
    except SettingsError as error:
        _invalid(error)
    # Valid values that the sidecar still refuses to serve with would fail its start just the same.
    if refusal := settings.serving_error():
        _fail(f"{file}: {refusal}", 2)
    typer.echo(f"{file}: valid")


@config_app.command("show")
def show_config(
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="The API's answer as it is.")] = False,
) -> None:
    """The settings a running sidecar uses, with the source of each (secrets masked); needs an admin token
    when the sidecar requires tokens."""
    from jobpulse.sidecar.terminal.configuration import show_config as show
    from jobpulse.sidecar.terminal.remote import Remote

    show(Remote(url, token), as_json)


def main() -> None:
    """The sidecar's commands of the ``jobpulse`` console script (`jobpulse.cli` dispatches them here)."""
    app()
