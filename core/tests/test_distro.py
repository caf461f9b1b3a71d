"""Vendor distributions: what they disable, the errors they cause, and where their name shows.

Each test installs a tiny distribution (a module holding a ``Distro`` and its entry point in
``trunkline.distro``) into a temporary directory and loads it the way Trunkline does: through
the entry point, in this process (the directory on ``sys.path``) or in a ``trunkline``
subprocess (the directory on ``PYTHONPATH``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from trunkline import ConfigError, PluginError
from trunkline.cli import build
from trunkline.plugins import load_plugins
from trunkline.testing.cli import install

CHECKED_CONFIG = """\
[workspaces.acme.queues.support]
[workspaces.acme.channels.web]
adapter = "memory"
queue = "support"
"""


def install_distro(site: Path, name: str, fields: str, *, prelude: str = "") -> None:
    """A vendor distribution called ``name``: ``Distro(name=name, <fields>)``."""
    module = f"distro_{name.replace('-', '_')}"
    source = (
        f"{prelude}\nfrom trunkline import Distro\n\ndistro = Distro(name={name!r}, {fields})\n"
    )
    install(site, f"{name}-cc", module, source, {"trunkline.distro": {name: f"{module}:distro"}})


def install_plugin(site: Path, name: str, source: str) -> None:
    module = f"plugin_{name.replace('-', '_')}"
    install(
        site, f"tl-{name}", module, textwrap.dedent(source), {"trunkline.plugins": {name: module}}
    )


ADAPTER_PLUGIN = """
from trunkline import hookimpl


@hookimpl
def trunkline_register_channels():
    from trunkline.builtin.memory_channel import MemoryChannel

    class SmsChannel(MemoryChannel):
        name = "sms"

    return [SmsChannel]
"""


def trunkline(
    site: Path, *args: str, main: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    """Run the command line with ``site`` installed; ``main`` is ``main()``'s arguments."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TRUNKLINE_")}
    environ["PYTHONPATH"] = str(site)
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", f"from trunkline.cli import main; main({main})", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory for tiny distributions, on this process's ``sys.path`` too."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    for name in list(sys.modules):
        if name.startswith(("distro_", "plugin_")):
            monkeypatch.delitem(sys.modules, name)
    return site


# Disabling (issue 12, item 8) ---------------------------------------------------------------


def test_a_distribution_may_disable_a_plugin_that_is_not_installed(site: Path) -> None:
    install_distro(site, "helpline", 'title="Helpline", disable=("sms-gateway",)')
    pm = load_plugins({}, distro="helpline")
    assert pm.distro is not None
    assert pm.distro.name == "helpline"
    assert "sms-gateway" not in pm.infos
    assert pm.disabled == {"sms-gateway": 'distribution "helpline"'}


@pytest.mark.parametrize(
    ("how", "main", "env"),
    [
        ("vendor's command", 'distro="helpline"', {}),
        ("TRUNKLINE_DISTRO", "", {"TRUNKLINE_DISTRO": "helpline"}),
    ],
)
def test_every_command_runs_when_the_distribution_disables_an_absent_plugin(
    site: Path, tmp_path: Path, how: str, main: str, env: dict[str, str]
) -> None:
    install_distro(site, "helpline", 'disable=("sms-gateway",)')
    config = tmp_path / "cc.toml"
    config.write_text(CHECKED_CONFIG, encoding="utf-8")
    for args in (["plugins"], ["check-config", str(config)], ["--help"]):
        result = trunkline(site, *args, main=main, **env)
        assert result.returncode == 0, f"{how}, {args}: {result.stderr}"
        assert "TRUNKLINE_DISABLE_PLUGINS" not in result.stderr


def test_disabling_an_absent_plugin_by_variable_is_not_an_error_and_is_listed(site: Path) -> None:
    result = trunkline(site, "plugins", TRUNKLINE_DISABLE_PLUGINS="sms-gatway")
    assert result.returncode == 0, result.stderr
    listing = result.stdout.split("not loaded:\n", 1)[1]
    name, why = listing.splitlines()[0].split(maxsplit=1)
    assert (name, why) == (
        "sms-gatway",
        "disabled by TRUNKLINE_DISABLE_PLUGINS; no plugin of that name is installed",
    )


def test_a_distribution_still_disables_an_installed_plugin(site: Path) -> None:
    install_plugin(site, "sms", ADAPTER_PLUGIN)
    install_distro(site, "helpline", 'disable=("sms", "absent")')
    pm = load_plugins({}, distro="helpline")
    assert "sms" not in pm.infos
    assert pm.not_loaded["sms"] == 'disabled by distribution "helpline"'
    assert "sms" in load_plugins({}).infos  # and without the distribution it loads


# Every distribution error names the distribution ------------------------------------------


@pytest.mark.parametrize(
    ("fields", "prelude", "expected"),
    [
        (
            'plugins=("sms-gatway",)',
            "",
            'distribution "helpline": unknown plugin "sms-gatway" in its plugins (installed: ',
        ),
        (
            'plugins="sms"',
            "",
            'distribution "helpline" (distro_helpline:distro in distribution helpline-cc 1.0.0) '
            'failed to import: ValueError: distribution "helpline": plugins must be a tuple of '
            "plugin names, not the string 'sms' (write (\"sms\",))",
        ),
        (
            "",
            "import module_that_is_not_installed",
            'distribution "helpline" (distro_helpline:distro in distribution helpline-cc 1.0.0) '
            "failed to import: ModuleNotFoundError: No module named 'module_that_is_not_installed'",
        ),
    ],
)
def test_errors_of_a_distribution_name_it(
    site: Path, fields: str, prelude: str, expected: str
) -> None:
    install_plugin(site, "sms", ADAPTER_PLUGIN)
    install_distro(site, "helpline", fields, prelude=prelude)
    result = trunkline(site, "plugins", main='distro="helpline"')
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"trunkline: error: {expected}"), line
    assert "TRUNKLINE_" not in line


def test_an_entry_point_that_holds_something_else_names_the_distribution(site: Path) -> None:
    install(
        site,
        "odd-cc",
        "distro_odd",
        "distro = 42\n",
        {"trunkline.distro": {"odd": "distro_odd:distro"}},
    )
    with pytest.raises(
        PluginError, match=r'^distribution "odd": the entry point distro_odd:distro'
    ):
        load_plugins({}, distro="odd")


def test_an_entry_point_whose_distro_has_another_name_is_refused(site: Path) -> None:
    source = 'from trunkline import Distro\n\ndistro = Distro(name="help-line")\n'
    install(site, "x-cc", "distro_x", source, {"trunkline.distro": {"helpline": "distro_x:distro"}})
    with pytest.raises(PluginError) as info:
        load_plugins({}, distro="helpline")
    assert str(info.value) == (
        'distribution "helpline": the entry point holds Distro(name="help-line"); '
        "the two names must be the same"
    )


def test_an_unknown_distribution_from_the_vendor_command_does_not_blame_the_variable(
    site: Path,
) -> None:
    result = trunkline(site, "plugins", main='distro="helpline"')
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(
        'trunkline: error: distribution "helpline" is not installed: no entry point "helpline" '
        "in the group trunkline.distro (installed: "
    ), line
    by_variable = trunkline(site, "plugins", TRUNKLINE_DISTRO="helpline")
    assert 'TRUNKLINE_DISTRO: unknown distribution "helpline"' in by_variable.stderr


def test_a_bad_default_names_the_distribution_not_the_file(site: Path, tmp_path: Path) -> None:
    install_distro(site, "helpline", 'defaults={"outbox": {"max_attempt": 8}}')
    config = tmp_path / "cc.toml"
    config.write_text(CHECKED_CONFIG, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        build(str(config), pm=load_plugins({}, distro="helpline"), env={})
    message = str(info.value)
    assert message.startswith(
        'the defaults of distribution "helpline": outbox.max_attempt: unknown key (allowed: '
    ), message
    assert str(config) not in message
    # A mistake in the file still points into the file, also where a default is overridden.
    install_distro(site, "fine", 'defaults={"outbox": {"max_attempts": 8}}')
    config.write_text("[outbox]\nmax_attempts = 0.5\n" + CHECKED_CONFIG, encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{config}:2:1: outbox.max_attempts: "):
        build(str(config), pm=load_plugins({}, distro="fine"), env={})


# A disabled adapter (issue 12, item 9) ------------------------------------------------------


def test_an_adapter_the_distribution_disabled_is_reported_as_disabled(
    site: Path, tmp_path: Path
) -> None:
    install_distro(site, "helpline", 'disable=("memory-channel",)')
    config = tmp_path / "cc.toml"
    config.write_text(CHECKED_CONFIG, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        build(str(config), pm=load_plugins({}, distro="helpline"), env={})
    assert info.value.key == "workspaces.acme.channels.web.adapter"
    assert info.value.message.startswith(
        'channel adapter "memory" is not available: its plugin "memory-channel" is disabled by '
        'distribution "helpline" (loaded adapters: '
    ), info.value.message
    assert "unknown" not in info.value.message


def test_an_adapter_disabled_by_the_variable_says_how_to_load_it(
    site: Path, tmp_path: Path
) -> None:
    install_plugin(site, "sms", ADAPTER_PLUGIN)
    config = tmp_path / "cc.toml"
    config.write_text(CHECKED_CONFIG.replace('"memory"', '"sms"'), encoding="utf-8")
    result = trunkline(
        site, "check-config", str(config), TRUNKLINE_PLUGINS="sms", TRUNKLINE_DISABLE_PLUGINS="sms"
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"trunkline: error: {config}:3:1: workspaces.acme.channels.web.adapter: channel adapter "
        '"sms" is not available: its plugin "sms" is disabled by TRUNKLINE_DISABLE_PLUGINS '
        "(remove it from there to load it) (loaded adapters: memory)"
    )


def test_an_adapter_outside_the_distributions_plugins_says_how_to_load_it(
    site: Path, tmp_path: Path
) -> None:
    install_plugin(site, "sms", ADAPTER_PLUGIN)
    install_plugin(site, "fax", ADAPTER_PLUGIN.replace('"sms"', '"fax"'))
    install_distro(site, "helpline", 'plugins=("fax",)')
    config = tmp_path / "cc.toml"
    config.write_text(CHECKED_CONFIG.replace('"memory"', '"sms"'), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        build(str(config), pm=load_plugins({}, distro="helpline"), env={})
    assert info.value.message == (
        'channel adapter "sms" is not available: its plugin "sms" is not among the plugins of '
        'distribution "helpline" (name it in TRUNKLINE_PLUGINS to load it anyway) '
        "(loaded adapters: fax, memory)"
    )


def test_a_truly_unknown_adapter_is_still_unknown(site: Path, tmp_path: Path) -> None:
    install_distro(site, "helpline", 'disable=("memory-channel",)')
    config = tmp_path / "cc.toml"
    config.write_text(CHECKED_CONFIG.replace('"memory"', '"fax"'), encoding="utf-8")
    with pytest.raises(ConfigError, match='unknown channel adapter "fax"'):
        build(str(config), pm=load_plugins({}, distro="helpline"), env={})


# Branding (issue 12, item 10) ---------------------------------------------------------------

BRANDED = 'title="Helpline <Plus>"'


def test_help_names_the_distribution(site: Path) -> None:
    install_distro(site, "helpline", BRANDED)
    result = trunkline(site, "--help", main='distro="helpline"')
    assert result.returncode == 0, result.stderr
    about = result.stdout.split("Options:")[0]
    assert "  Helpline <Plus>: route contacts from any channel to the right agent." in about
    assert 'Distribution "helpline" of Trunkline ' in about
    assert "Trunkline: route" not in about
    plain = trunkline(site, "--help")
    assert "  Trunkline: route contacts from any channel to the right agent." in plain.stdout
    assert "Distribution" not in plain.stdout


def test_a_distribution_without_a_title_is_called_by_its_name(site: Path) -> None:
    install_distro(site, "helpline", "")
    assert load_plugins({}, distro="helpline").product_title == "helpline"
    assert load_plugins({}).product_title == "Trunkline"


def test_serve_names_the_distribution(site: Path, tmp_path: Path) -> None:
    install_distro(site, "helpline", BRANDED)
    config = tmp_path / "cc.toml"
    config.write_text(CHECKED_CONFIG, encoding="utf-8")
    headless = {"TRUNKLINE_DISABLE_PLUGINS": "web"}  # core alone: nothing served
    result = trunkline(
        site, "serve", str(config), "--duration", "0.3", main='distro="helpline"', **headless
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Helpline <Plus>: serving {config} (1 channels); Ctrl-C")
    plain = trunkline(site, "serve", str(config), "--duration", "0.3", **headless)
    assert plain.stdout.startswith(f"trunkline: serving {config} (1 channels); Ctrl-C stops")


def test_serve_says_which_distribution_disabled_its_default_store(
    site: Path, tmp_path: Path
) -> None:
    install_distro(site, "helpline", 'disable=("sqlite-store",)')
    config = tmp_path / "cc.toml"
    config.write_text(CHECKED_CONFIG, encoding="utf-8")
    result = trunkline(site, "serve", str(config), "--duration", "0.1", main='distro="helpline"')
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "trunkline: error: the file names no [store] and the default, SQLite, is not available "
        '(its plugin "sqlite-store" is disabled by distribution "helpline"): name a backend '
        'with [store] backend = "…"'
    )
