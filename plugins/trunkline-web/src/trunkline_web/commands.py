"""trunkline-web's commands: ``trunkline demo`` and ``trunkline hash-secret``.

Imported by ``trunkline_register_commands``, so only click is imported here: the demo and its
web stack load when the command runs.
"""

from __future__ import annotations

from typing import TextIO

import click

from trunkline.cli import fail, plugin_manager, startup_error

__all__ = ["demo", "hash_secret"]


@click.command()
@click.option(
    "--duration",
    type=float,
    default=None,
    help="Stop after this many seconds (default: until Ctrl-C).",
)
@click.option(
    "--agents", type=click.IntRange(1, 500), default=8, show_default=True, help="Simulated agents."
)
@click.option(
    "--rate",
    type=click.FloatRange(0.01, 500),
    default=1.5,
    show_default=True,
    help="Contacts per second.",
)
@click.option("--seed", type=int, default=None, help="Seed for a repeatable run.")
@click.option(
    "--events",
    "events_file",
    type=click.File("w", encoding="utf-8"),
    default=None,
    help="Write every event to this file as JSON lines (for `trunkline explain`).",
)
@click.option(
    "--db",
    "database",
    type=click.Path(dir_okay=False),
    default=None,
    help="Keep the event log in this SQLite file (default: a temporary one).",
)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address of the web pages and API."
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port of the web pages and API (0: any free port).",
)
@click.option("--no-web", is_flag=True, help="Do not serve the web pages and API.")
@click.option(
    "--smtp-port",
    type=click.IntRange(-1, 65535),
    default=2525,
    show_default=True,
    help="Port that receives mail when the email plugin is installed (0: any free port; -1: none).",
)
@click.option(
    "--interval",
    type=click.FloatRange(0.1),
    default=2.0,
    show_default=True,
    help="Seconds between summary lines when stdout is not a terminal.",
)
def demo(
    duration: float | None,
    agents: int,
    rate: float,
    seed: int | None,
    events_file: TextIO | None,
    database: str | None,
    host: str,
    port: int,
    no_web: bool,
    smtp_port: int,
    interval: float,
) -> None:
    """Run an embedded contact centre with simulated customers and agents."""
    from trunkline_web.demo import DemoOptions, run_demo

    options = DemoOptions(
        agents=agents,
        rate=rate,
        seed=seed,
        duration=duration,
        interval=interval,
        database=database,
        web=not no_web,
        host=host,
        port=port,
        smtp_port=None if smtp_port < 0 else smtp_port,
    )
    try:
        run_demo(options, pm=plugin_manager(), events=events_file)
    except KeyboardInterrupt:
        click.echo("trunkline: demo stopped")
    except Exception as exc:
        found = startup_error(exc)
        if found is None:
            raise
        fail(found)


@click.command("hash-secret")
@click.option("--token", is_flag=True, help="Make a new API token and print it with its hash.")
def hash_secret(token: bool) -> None:
    """Print the hash of a login password (asked for) or of a new API token, for the
    password_hash and token_hash keys of a user in the configuration."""
    from trunkline import TrunklineError
    from trunkline_web.users import hash_password, hash_token, new_token

    if token:
        fresh = new_token()
        click.echo(f"token: {fresh}")
        click.echo(f'token_hash = "{hash_token(fresh)}"')
        return
    password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        fail(TrunklineError("the password is shorter than 8 characters"))
    click.echo(f'password_hash = "{hash_password(password)}"')
