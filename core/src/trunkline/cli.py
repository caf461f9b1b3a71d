"""The ``trunkline`` command line: serve, check-config, show-config, explain, plugins, and more.

Plugins are loaded only when a command needs them (or to list plugin commands in
``--help``); plugin modules must keep their channel SDK imports out of module level.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, TypeVar

import click

from . import hookspecs
from .errors import TrunklineError

if TYPE_CHECKING:
    from .config import Config
    from .plugins import PluginManager
    from .store import Store

__all__ = [
    "build",
    "config_sources",
    "fail",
    "main",
    "plugin_manager",
    "startup_error",
    "with_store",
]

T = TypeVar("T")

BUILTIN_COMMANDS = (
    "serve",
    "check-config",
    "explain",
    "db",
    "report",
    "plugins",
    "show-config",
)

#: Commands that other distributions bring, as (distribution, plugin name, how to install it):
#: without the plugin, ``trunkline <command>`` says what to install instead of "No such command".
#: A name only, never an import: core imports no plugin distribution.
_WORKFORCE = ("trunkline-workforce", "workforce", "pip install 'trunkline-workforce[plots]'")
_WEB = ("trunkline-web", "web", "pip install trunkline-web")
PLUGIN_COMMANDS = {
    "erlang": _WORKFORCE,
    "simulate": _WORKFORCE,
    "replay": _WORKFORCE,
    "demo": _WEB,
    "hash-secret": _WEB,
}
#: Tables of the configuration file that other distributions declare, likewise: without the
#: plugin, the error names what to install instead of "unknown key". Workspace tables are
#: written ``workspaces.*.<key>``.
PLUGIN_TABLES = {"web": _WEB, "workspaces.*.users": _WEB, "workspaces.*.canned": _WEB}


class _State:
    """What the group hands its commands: the distribution name and a lazily built manager."""

    def __init__(self, distro: str | None) -> None:
        self.distro = distro
        self._pm: Any = None

    @property
    def pm(self) -> Any:
        if self._pm is None:
            from .plugins import load_plugins

            self._pm = load_plugins(distro=self.distro)
        return self._pm


def _fail(error: Exception) -> NoReturn:
    click.echo(f"trunkline: error: {error}", err=True)
    sys.exit(2)


def startup_error(error: BaseException) -> Exception | None:
    """The one error a failure to start comes down to, or None when it is not one.

    The runtime starts in a task group, so what fails comes wrapped in ``ExceptionGroup``s:
    they are unwrapped to the first error a user can act on, one of Trunkline's own (a store
    that cannot be opened, a plugin), a store that cannot be reached now, or the system's
    (a port in use, a file that cannot be made). Anything else is a bug and keeps its
    traceback.
    """
    from .channels import TemporaryFailure

    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = startup_error(inner)
            if found is not None:
                return found
        return None
    if isinstance(error, TrunklineError | TemporaryFailure | OSError):
        return error
    return None


def _run_or_fail(main: Any, *args: Any) -> Any:
    """``anyio.run(main, *args)``; a start-up failure is one line and exit status 2."""
    import anyio

    try:
        return anyio.run(main, *args)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        found = startup_error(exc)
        if found is None:
            raise
        _fail(found)


class TrunklineGroup(click.Group):
    """Adds the commands plugins return from ``trunkline_register_commands``."""

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        state = ctx.ensure_object(_State)
        try:
            commands = state.pm.collect(hookspecs.trunkline_register_commands)
        except TrunklineError as exc:
            _fail(exc)
        return {c.name: c for c in commands if c.name and c.name not in BUILTIN_COMMANDS}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self._plugin_commands(ctx)])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or self._plugin_commands(ctx).get(cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """The command ``args`` name; one another distribution brings, and whose plugin is not
        loaded, ends with one line saying what to install (or why its plugin is off)."""
        name = args[0] if args else None
        if name in PLUGIN_COMMANDS and self.get_command(ctx, name) is None:
            distribution, plugin, install = PLUGIN_COMMANDS[name]
            why = ctx.ensure_object(_State).pm.not_loaded.get(plugin)
            if why is None:
                _fail(
                    TrunklineError(
                        f'the command "{name}" comes with the {distribution} distribution, '
                        f"which is not installed: {install}"
                    )
                )
            _fail(
                TrunklineError(
                    f'the command "{name}" comes with plugin "{plugin}" ({distribution}), '
                    f"which is {why}"
                )
            )
        return super().resolve_command(ctx, args)

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The help's first lines: a vendor distribution's title and name when one is active."""
        state = ctx.ensure_object(_State)
        try:
            distro = state.pm.distro
        except TrunklineError as exc:
            _fail(exc)
        if distro is None:
            super().format_help_text(ctx, formatter)
            return
        from importlib import metadata

        formatter.write_paragraph()
        with formatter.indentation():
            formatter.write_text(
                f"{state.pm.product_title}: route contacts from any channel to the right agent."
            )
            formatter.write_paragraph()
            formatter.write_text(
                f'Distribution "{distro.name}" of Trunkline {metadata.version("trunkline")}.'
            )


def _speaker(pm: Any) -> str:
    """Who speaks in ``serve``'s lines: the distribution's title, or the command."""
    return str(pm.product_title) if pm.distro is not None else "trunkline"


@click.group(cls=TrunklineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="trunkline", prog_name="trunkline")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Trunkline: route contacts from any channel to the right agent."""
    ctx.ensure_object(_State)


def build(config_path: str | None, *, pm: Any, env: Mapping[str, str] | None = None) -> Any:
    """Load and check a configuration file with the plugins of ``pm``. Starts nothing."""
    assert config_path is not None
    return read(config_path, pm=pm, env=env).config


def read(config_path: str, *, pm: Any, env: Mapping[str, str] | None = None) -> Any:
    """The file as it takes effect (a :class:`~trunkline.config.LoadedConfig`): the active
    distribution's defaults merged under it, checked with the plugins of ``pm``."""
    from .config import read_config

    distro = pm.distro
    return read_config(
        config_path,
        **config_sources(pm, env),
        defaults=dict(distro.defaults) if distro is not None else {},
        defaults_source=(
            f'the defaults of distribution "{distro.name}"' if distro is not None else "defaults"
        ),
        unloaded_adapters=pm.unloaded_adapters(),
    )


def config_sources(pm: Any, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What checking a configuration needs from the plugins: adapters, strategies, settings."""
    from .config import SettingsRegistry

    registry = SettingsRegistry()
    pm.hook.trunkline_add_settings.call_historic(kwargs={"registry": registry})
    return {
        "adapters": {a.name: a for a in pm.collect(hookspecs.trunkline_register_channels)},
        "strategies": {s.name for s in pm.collect(hookspecs.trunkline_register_strategies)},
        "plugin_sections": registry.sections,
        "tables": registry.tables,
        "workspace_tables": registry.workspace_tables,
        "unavailable_tables": _unavailable_tables(pm, registry),
        "stores": {f.name: f.Settings for f in pm.collect(hookspecs.trunkline_register_stores)},
        "env": os.environ if env is None else env,
    }


def _unavailable_tables(pm: Any, registry: Any) -> dict[str, str]:
    """Tables of the file that another distribution's plugin declares, and that no loaded
    plugin does -> why (not installed: what to install; installed: why it is not loaded)."""
    found = {}
    for table, (distribution, plugin, install) in PLUGIN_TABLES.items():
        declared = registry.workspace_tables if "." in table else registry.tables
        if table.rpartition(".")[2] in declared:
            continue
        why = pm.not_loaded.get(plugin)
        found[table] = (
            f"it comes with the {distribution} distribution, which is not installed: {install}"
            if why is None
            else f'it comes with plugin "{plugin}" ({distribution}), which is {why}'
        )
    return found


@cli.command("check-config")
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.pass_obj
def check_config(state: _State, config_file: str) -> None:
    """Check CONFIG_FILE completely without starting anything: the store it names (or
    serve's default) too, that it can be created or opened."""
    try:
        config = build(config_file, pm=state.pm)
    except TrunklineError as exc:
        _fail(exc)
    _run_or_fail(_check_store, config, config_file, state.pm)
    summary = ", ".join(
        f"{wid} ({len(w.queues)} queues, {len(w.agents)} agents, {len(w.channels)} channels)"
        for wid, w in config.workspaces.items()
    )
    click.echo(f"{config_file}: OK: {summary or 'no workspaces'}")


@cli.command("show-config")
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of TOML.")
@click.pass_obj
def show_config(state: _State, config_file: str, as_json: bool) -> None:
    """Print CONFIG_FILE as it takes effect: the distribution's defaults merged in, secrets
    masked."""
    from .showconfig import render_json, render_toml

    try:
        loaded = read(config_file, pm=state.pm)
    except TrunklineError as exc:
        _fail(exc)
    distro = state.pm.distro
    if as_json:
        click.echo(render_json(loaded), nl=False)
        return
    source = f'distribution "{distro.name}"' if distro is not None and distro.defaults else None
    click.echo(render_toml(loaded, name=config_file, defaults_source=source), nl=False)


@cli.command()
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.option("--duration", type=float, default=None, help="Stop after this many seconds.")
@click.pass_obj
def serve(state: _State, config_file: str, duration: float | None) -> None:
    """Run the contact centre described by CONFIG_FILE until Ctrl-C."""
    import anyio

    from .runtime import Runtime

    try:
        config = build(config_file, pm=state.pm)
        runtime = Runtime(
            config, state.pm, store=default_store(config, config_file, state.pm), serve=True
        )
    except TrunklineError as exc:
        _fail(exc)

    async def run() -> None:
        async with runtime.running():
            served = "".join(
                f", {name} on {address}" for name, address in runtime.addresses.items()
            )
            click.echo(
                f"{_speaker(state.pm)}: serving {config_file} ({len(runtime.channels)} "
                f"channels{served}); Ctrl-C stops"
            )
            if not runtime.addresses and "web" not in state.pm.infos:
                click.echo(f"{_speaker(state.pm)}: {_headless(state.pm)}")
            async with anyio.create_task_group() as tg:
                tg.start_soon(_reload_on_hangup, runtime, config_file, state.pm)
                if duration is None:
                    await anyio.sleep_forever()
                else:
                    await anyio.sleep(duration)
                tg.cancel_scope.cancel()

    try:
        _run_or_fail(run)
    except KeyboardInterrupt:
        click.echo(f"{_speaker(state.pm)}: stopped")


def _headless(pm: Any) -> str:
    """The line of a ``serve`` without the web: why, and how to add it."""
    distribution, plugin, install = _WEB
    why = pm.not_loaded.get(plugin)
    if why is None:
        return f"no web server: install {distribution} to serve the API and the pages ({install})"
    return f'no web server: its plugin "{plugin}" ({distribution}) is {why}'


async def _reload_on_hangup(runtime: Any, config_file: str, pm: Any) -> None:
    """On SIGHUP, read the file again and take the plugins' tables (``Runtime.reload``): with
    trunkline-web, a changed password or a removed user takes effect without a restart.
    POSIX only."""
    import signal

    import anyio

    hangup = getattr(signal, "SIGHUP", None)
    if hangup is None:
        return
    with anyio.open_signal_receiver(hangup) as signals:
        async for _ in signals:
            try:
                config = build(config_file, pm=pm)
            except TrunklineError as exc:
                click.echo(f"{_speaker(pm)}: not reloaded, the file has an error: {exc}")
                continue
            runtime.reload(config)
            click.echo(f"{_speaker(pm)}: reloaded from {config_file}")


@cli.command()
@click.argument("contact_id")
@click.option(
    "--events",
    "events_file",
    type=click.File("r", encoding="utf-8"),
    default=None,
    help="Read the event log from this JSON-lines file (as `trunkline demo --events` writes).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="The configuration the log was made with (default: the one the log names, as "
    "`trunkline demo --events` writes it).",
)
@click.option("--workspace", default=None, help="The contact's workspace (default: the only one).")
@click.option("--agent", "agents", multiple=True, help="Also say why not this agent (repeatable).")
@click.pass_obj
def explain(
    state: _State,
    contact_id: str,
    events_file: TextIO | None,
    config_file: str | None,
    workspace: str | None,
    agents: tuple[str, ...],
) -> None:
    """Say why CONTACT_ID went to its agent, or why it waits, and why not other agents.

    The engine is deterministic, so the explanation replays the event log up to the decision
    and judges every agent of the contact's pools as the engine saw them then.
    """
    try:
        click.echo(_explain(state.pm, contact_id, events_file, config_file, workspace, agents))
    except TrunklineError as exc:
        _fail(exc)


def _explain(
    pm: Any,
    contact_id: str,
    events_file: TextIO | None,
    config_file: str | None,
    workspace: str | None,
    agents: tuple[str, ...],
) -> str:
    from .codec import read_events
    from .routing import explain_from_log
    from .runtime import default_engine

    if events_file is None:
        raise TrunklineError(
            "give the event log with --events FILE (`trunkline demo --events FILE` writes one); "
            "reading it from a durable store comes with the SQLite and PostgreSQL stores"
        )
    log = list(read_events(events_file, source=events_file.name))
    if config_file is not None:
        config = build(config_file, pm=pm)
    else:
        config = pm.call_first(hookspecs.trunkline_log_config, events=log, pluginmanager=pm)
        if config is None:
            raise TrunklineError(
                "give the configuration the log was made with: --config FILE (no plugin "
                "knows the configuration of this log)"
            )
    from .config import choose_workspace

    workspace = choose_workspace(config.workspaces, workspace)
    strategies = {s.name: s for s in pm.collect(hookspecs.trunkline_register_strategies)}
    chosen = config.workspaces[workspace]
    explanation = explain_from_log(
        (e for e in log if e.workspace == workspace),
        lambda: default_engine(chosen, strategies, pm),
        contact_id,
        agents,
    )
    return explanation.render()


@cli.group()
def db() -> None:
    """Look after the database of a configuration: schema upgrades, retention."""


def _with_store(state: _State, config_file: str, work: Any, *, upgrade: bool = False) -> Any:
    """Open the configuration's store as ``serve`` would, run ``await work(config, store)``,
    and close the store, all in one event loop. Errors come out as one line."""
    from .runtime import Runtime

    async def run() -> Any:
        config = build(config_file, pm=state.pm)
        runtime = Runtime(config, state.pm, store=default_store(config, config_file, state.pm))
        store = runtime.store
        if upgrade:
            store.upgrade = True  # type: ignore[attr-defined]
        await store.open()
        try:
            return await work(config, store)
        finally:
            await store.aclose()

    return _run_or_fail(run)


@db.command("upgrade")
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.pass_obj
def db_upgrade(state: _State, config_file: str) -> None:
    """Bring the database of CONFIG_FILE to the schema this Trunkline needs."""
    from .sql import SCHEMA_VERSION

    async def work(config: Any, store: Any) -> str:
        return str(store.name)

    name = _with_store(state, config_file, work, upgrade=True)
    click.echo(f"{config_file}: the {name} database is at schema version {SCHEMA_VERSION}")


@db.command("retention")
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Report what would be done; change nothing.")
@click.option(
    "--now",
    type=float,
    default=None,
    help="The current time as Unix seconds (default: the clock); for tests and replays.",
)
@click.pass_obj
def db_retention(state: _State, config_file: str, dry_run: bool, now: float | None) -> None:
    """Delete or anonymise contacts closed longer ago than each workspace keeps them."""
    import time

    today = time.time() if now is None else now

    async def work(config: Any, store: Any) -> list[str]:
        lines = []
        for wid, workspace in config.workspaces.items():
            rule = workspace.retention
            if not rule.days:
                lines.append(f'workspace "{wid}": keeps contacts for ever (no retention)')
                continue
            report = await store.retain(wid, today - rule.days * 86_400, rule.mode, dry_run=dry_run)
            lines.append(report.line() + f" (closed more than {rule.days} days ago)")
        return lines

    for line in _with_store(state, config_file, work):
        click.echo(line)


@cli.command()
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.option("--workspace", default=None, help="The workspace (default: the only one).")
@click.option(
    "--by",
    type=click.Choice(["interval", "agent"]),
    default="interval",
    show_default=True,
    help="One row per queue and interval, or per agent.",
)
@click.option(
    "--interval",
    type=click.Choice(["15m", "hour", "day"]),
    default=None,
    help="Interval length, aligned to UTC [hour with --by interval; none with --by agent].",
)
@click.option("--from", "start", default=None, help="Contacts first queued from (ISO 8601).")
@click.option("--to", "end", default=None, help="...and before this time (ISO 8601).")
@click.option(
    "--fcr-days",
    type=click.FloatRange(min=0),
    default=7.0,
    show_default=True,
    help="Days without a new contact from the customer for first-contact resolution.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["csv", "json"]),
    default="csv",
    show_default=True,
)
@click.option("--output", type=click.Path(dir_okay=False), default=None, help="Write here.")
@click.option("--now", type=float, default=None, help="The current time as Unix seconds.")
@click.pass_obj
def report(
    state: _State,
    config_file: str,
    workspace: str | None,
    by: str,
    interval: str | None,
    start: str | None,
    end: str | None,
    fcr_days: float,
    output_format: str,
    output: str | None,
    now: float | None,
) -> None:
    """Figures per queue and interval, or per agent, from the stored events of CONFIG_FILE."""
    from .reports import run_report_command

    async def work(config: Any, store: Any) -> str:
        return await run_report_command(
            config, store, workspace, by, interval, start, end, fcr_days, output_format, now
        )

    text = _with_store(state, config_file, work)
    if output is None:
        click.echo(text, nl=False)
    else:
        with open(output, "w", encoding="utf-8", newline="") as out:
            out.write(text)


@cli.command()
@click.pass_obj
def plugins(state: _State) -> None:
    """List installed plugins, channels and strategies, with versions and origins."""
    try:
        pm = state.pm
    except TrunklineError as exc:
        _fail(exc)
    if pm.distro is not None:
        click.echo(f"distribution: {pm.distro.name} {pm.distro.title}".rstrip())
    click.echo("plugins:")
    for info in sorted(pm.infos.values(), key=lambda i: (i.source != "builtin", i.name)):
        origin = (
            "trunkline (built-in)"
            if info.source == "builtin"
            else f"{info.distribution} {info.version}"
        )
        click.echo(f"  {info.name:<20} {origin:<32} {info.module}")
    click.echo("channels:")
    for plugin, adapter in pm.collect_by_plugin(hookspecs.trunkline_register_channels):
        click.echo(f"  {adapter.name:<20} kind={adapter.kind:<10} from plugin {plugin}")
    click.echo("strategies:")
    for plugin, strategy in pm.collect_by_plugin(hookspecs.trunkline_register_strategies):
        click.echo(f"  {strategy.name:<20} from plugin {plugin}")
    click.echo("stores:")
    for plugin, factory in pm.collect_by_plugin(hookspecs.trunkline_register_stores):
        click.echo(f"  {factory.name:<20} from plugin {plugin}")
    absent = {
        name: f"disabled by {source}; no plugin of that name is installed"
        for name, source in pm.disabled.items()
        if name not in pm.not_loaded
    }
    if pm.not_loaded or absent:
        click.echo("not loaded:")
        for name, why in sorted({**pm.not_loaded, **absent}.items()):
            click.echo(f"  {name:<20} {why}")


async def _check_store(config: Any, config_file: str, pm: Any) -> None:
    """Raise what opening the store ``serve`` would use would raise, changing nothing.

    The default store (SQLite beside the file) is checked, and a configured backend whose
    factory can check (``async check(settings)``); one that cannot is taken on trust.
    """
    store = default_store(config, config_file, pm)
    if store is not None:
        await store.check()
        return
    factories = {f.name: f for f in pm.collect(hookspecs.trunkline_register_stores)}
    check = getattr(factories.get(config.store.backend), "check", None)
    if check is not None:
        await check(config.store.options)


def default_store(config: Any, config_file: str, pm: Any) -> Any:
    """The store ``serve`` uses when the file names none: SQLite beside the file."""
    if config.store.backend is not None:
        return None  # the runtime builds the one the file chose
    from pathlib import Path

    factories = {f.name: f for f in pm.collect(hookspecs.trunkline_register_stores)}
    if "sqlite" not in factories:
        why = pm.not_loaded.get("sqlite-store", "not loaded")
        raise TrunklineError(
            "the file names no [store] and the default, SQLite, is not available (its plugin "
            f'"sqlite-store" is {why}): name a backend with [store] backend = "…"'
        )
    path = Path(config_file).resolve().parent / "trunkline.db"
    factory = factories["sqlite"]
    return factory(factory.Settings(path=str(path)))


# For plugin commands ---------------------------------------------------------------------------


def plugin_manager() -> PluginManager:
    """The plugins of the command line running now (a vendor distribution's, with
    ``TRUNKLINE_PLUGINS`` and the rest applied), for a plugin command's strategies, settings and
    hooks. Call it inside the command's function."""
    manager: PluginManager = click.get_current_context().ensure_object(_State).pm
    return manager


def fail(error: Exception) -> NoReturn:
    """End a command as the built-in ones end on input they cannot use: the line
    ``trunkline: error: <error>`` on standard error, and exit status 2."""
    _fail(error)


def with_store(config_file: str, work: Callable[[Config, Store], Awaitable[T]]) -> T:
    """Read ``config_file`` and open its store as ``serve`` would (SQLite beside the file when
    it names none), return ``await work(config, store)`` and close the store, in one event
    loop. A configuration or store that cannot be used ends the command with one line."""
    state = click.get_current_context().ensure_object(_State)
    result: T = _with_store(state, config_file, work)
    return result


def main(argv: Sequence[str] | None = None, *, distro: str | None = None) -> None:
    """Entry point of the ``trunkline`` script; vendors call it with ``distro="<name>"``."""
    cli.main(args=list(argv) if argv is not None else None, obj=_State(distro), prog_name=None)
