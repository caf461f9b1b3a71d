"""The plugin as users meet it: found through its entry point, light in ``--help``, a command."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from importlib import metadata

import anyio
import pytest

from trunkline import Runtime
from trunkline.testing.cli import TRUNKLINE, clean_env, imports_of, run
from trunkline_echo.adapter import EchoChannel

RunEcho = Callable[..., AbstractAsyncContextManager[tuple[Runtime, EchoChannel]]]
ADAPTER = "trunkline_echo.adapter"


def test_trunkline_plugins_lists_echo_with_its_distribution_and_version() -> None:
    result = run([*TRUNKLINE, "plugins"])
    assert result.returncode == 0, result.stderr
    version = re.escape(metadata.version("trunkline-echo"))
    line = rf"^\s+echo\s+trunkline-echo {version}\s+trunkline_echo\.plugin$"
    assert re.search(line, result.stdout, re.MULTILINE), result.stdout
    assert re.search(r"^\s+echo\s+kind=chat\s+from plugin echo$", result.stdout, re.MULTILINE)


def test_the_plugin_can_be_disabled_like_any_other() -> None:
    result = run([*TRUNKLINE, "plugins"], env=clean_env(TRUNKLINE_DISABLE_PLUGINS="echo"))
    assert result.returncode == 0, result.stderr
    assert "trunkline_echo" not in result.stdout
    assert "kind=chat       from plugin echo" not in result.stdout


def test_help_lists_echo_say_without_importing_the_adapter() -> None:
    result, imported = imports_of(["--help"], [ADAPTER])
    assert result.returncode == 0, result.stderr
    assert re.search(r"^\s+echo-say\s+Send TEXT as customer FROM", result.stdout, re.MULTILINE)
    assert imported == []


def test_listing_the_channels_does_import_the_adapter() -> None:
    # The control for the test above: the probe does see an import when there is one.
    result, imported = imports_of(["plugins"], [ADAPTER])
    assert imported == [ADAPTER], result.stderr


@pytest.mark.anyio
async def test_echo_say_sends_a_line_and_prints_the_answer(run_echo: RunEcho) -> None:
    async with run_echo() as (runtime, channel):
        command = [*TRUNKLINE, "echo-say", "127.0.0.1", str(channel.port), "ann", "hello there"]
        with anyio.fail_after(30):
            result = await anyio.run_process(command, env=clean_env(), check=False)
        assert result.returncode == 0, result.stderr.decode()
        answer = json.loads(result.stdout)
        assert answer["new_contact"] is True
        messages = await runtime.store.messages(channel.workspace, answer["contact"])
        assert [(m.id, m.body) for m in messages] == [(answer["ack"], "hello there")]


@pytest.mark.anyio
async def test_echo_say_exits_1_with_the_channels_error(run_echo: RunEcho) -> None:
    settings = {"shared_key": {"env": "ECHO_KEY"}}
    async with run_echo(settings, env={"ECHO_KEY": "right"}) as (_runtime, channel):
        command = [*TRUNKLINE, "echo-say", "--key-env", "MY_KEY", "127.0.0.1", str(channel.port)]
        with anyio.fail_after(30):
            result = await anyio.run_process(
                [*command, "ann", "hi"], env=clean_env(MY_KEY="wrong"), check=False
            )
        assert result.returncode == 1
        assert json.loads(result.stdout) == {
            "error": 'wrong "key": it does not match the shared key'
        }


def test_echo_say_explains_a_refused_connection() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run([*TRUNKLINE, "echo-say", "127.0.0.1", str(port), "ann", "hi"])
    assert result.returncode == 1
    assert f"cannot talk to 127.0.0.1:{port}" in result.stderr
