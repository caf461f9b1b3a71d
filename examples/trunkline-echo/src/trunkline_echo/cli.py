"""The ``trunkline echo-say`` command: send one line to an echo channel and print the answer."""

from __future__ import annotations

import json
import os
from typing import Any

import click

__all__ = ["echo_say"]


@click.command("echo-say")
@click.argument("host")
@click.argument("port", type=click.IntRange(1, 65535))
@click.argument("sender", metavar="FROM")
@click.argument("text")
@click.option("--id", "message_id", default=None, help="Message id (default: a new one).")
@click.option(
    "--key-env",
    metavar="VARIABLE",
    default=None,
    help="Read the channel's shared key from this environment variable.",
)
@click.option(
    "--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for the answer."
)
def echo_say(
    host: str,
    port: int,
    sender: str,
    text: str,
    message_id: str | None,
    key_env: str | None,
    timeout: float,
) -> None:
    """Send TEXT as customer FROM to the echo channel at HOST PORT and print its answer.

    The answer is the channel's JSON line: {"ack": …} once the message is stored (exit 0), or
    {"error": …} when it is refused (exit 1).
    """
    import anyio

    from .client import EchoClient

    key = None
    if key_env is not None:
        if key_env not in os.environ:
            raise click.UsageError(f"--key-env: environment variable {key_env} is not set")
        key = os.environ[key_env]

    async def say() -> dict[str, Any]:
        with anyio.fail_after(timeout):
            async with await EchoClient.connect(host, port, key=key) as client:
                return await client.say(sender, text, id=message_id)

    try:
        answer = anyio.run(say)
    except TimeoutError:
        raise click.ClickException(f"no answer from {host}:{port} within {timeout:g}s") from None
    except OSError as exc:
        raise click.ClickException(f"cannot talk to {host}:{port}: {exc}") from None
    click.echo(json.dumps(answer, ensure_ascii=False))
    if "error" in answer:
        click.get_current_context().exit(1)
