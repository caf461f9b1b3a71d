"""Configuration: one TOML file, checked completely before anything starts.

Every table and key is checked against the model and against the settings classes that
channel adapters and plugins declare. An unknown key or a bad value raises
:class:`~trunkline.errors.ConfigError` naming the key and its line and column in the file.
Secrets are never written in the file: a secret field takes ``{ env = "VARIABLE" }``.
"""

from __future__ import annotations

import bisect
import itertools
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import attrs

from .channels import ChannelAdapter, Secret, is_secret
from .errors import ConfigError, NestedValueError, TrunklineError
from .hours import Schedule
from .model import Agent, Queue, RoutingSettings, Workspace
from .requirements import RequirementError, parse_requirement
from .retention import RetentionSettings
from .survey import SurveySettings

__all__ = [
    "MASKED",
    "ChannelConfig",
    "Config",
    "LoadedConfig",
    "OutboxSettings",
    "SettingsRegistry",
    "SettingsTable",
    "StoreSettings",
    "WorkspaceConfig",
    "config_from_dict",
    "load_config",
    "read_config",
]

KeyPath = tuple[str, ...]

#: Field metadata (``attrs.field(metadata={MASKED: True})``) for a value that is not a secret
#: but helps nobody who reads a pasted configuration, such as a password's hash:
#: ``trunkline show-config`` masks it as it masks secrets.
MASKED = "trunkline.masked"

#: The top-level tables core checks itself; plugins add theirs (``SettingsRegistry.add_table``).
_CORE_TABLES = ("store", "outbox", "plugins", "workspaces")
#: The keys of a ``[workspaces.<id>]`` table core checks itself.
_WORKSPACE_KEYS = (
    "name",
    "skills",
    "routing",
    "hours",
    "retention",
    "dispositions",
    "survey",
    "queues",
    "agents",
    "channels",
)


@attrs.frozen
class ChannelConfig:
    """One configured channel instance: which adapter, its checked settings, its queue."""

    name: str
    adapter: str
    settings: Any
    queue: str | None = None


@attrs.frozen
class WorkspaceConfig:
    """Everything configured for one workspace."""

    workspace: Workspace
    skills: tuple[str, ...] = ()
    routing: RoutingSettings = RoutingSettings()
    hours: Mapping[str, Schedule] = attrs.field(factory=dict)
    retention: RetentionSettings = RetentionSettings()
    dispositions: tuple[str, ...] = ("resolved", "follow-up", "no-answer")
    survey: SurveySettings | None = None  # CSAT after close; None: off
    queues: tuple[Queue, ...] = ()
    agents: tuple[Agent, ...] = ()
    channels: tuple[ChannelConfig, ...] = ()
    #: The per-workspace tables plugins declare (``SettingsRegistry.add_workspace_table``), by
    #: name; a table the file leaves out holds its declared default.
    tables: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class OutboxSettings:
    """How outbound messages are retried: ``backoff`` seconds, doubling up to ``max_backoff``."""

    max_attempts: int = 5
    backoff: float = 1.0
    max_backoff: float = 300.0
    poll_interval: float = 1.0


@attrs.frozen
class StoreSettings:
    """Which store backend keeps the event log; other keys of ``[store]`` go to the backend.

    ``backend`` None means the file did not choose: an embedded runtime then keeps its log in
    memory, and ``trunkline serve`` uses SQLite beside the configuration file. ``options`` is
    the backend's checked ``Settings`` instance (or, when no backends were known while
    checking, the raw table). ``snapshot_every`` is how many events pass between routing
    snapshots, which keep restarts short (0: never).
    """

    backend: str | None = None
    options: Any = attrs.field(factory=dict)
    snapshot_every: int = 50_000
    lease_ttl: float = 5.0  # shared stores: seconds a node's hold on a workspace lasts


@attrs.frozen
class Config:
    """The whole checked configuration."""

    workspaces: Mapping[str, WorkspaceConfig]
    store: StoreSettings = StoreSettings()
    outbox: OutboxSettings = OutboxSettings()
    plugin_settings: Mapping[str, Any] = attrs.field(factory=dict)
    #: The top-level tables plugins declare (``SettingsRegistry.add_table``), by name; a table
    #: the file leaves out holds its declared default.
    tables: Mapping[str, Any] = attrs.field(factory=dict)
    source: str = "<config>"


@attrs.frozen
class SettingsTable:
    """A table of the configuration file that a plugin declares (see :class:`SettingsRegistry`).

    ``hint`` is what the table holds, as a type the checker knows: an attrs class, a
    ``Mapping[str, X]`` (a table of tables) or a ``tuple[X, ...]`` (an array of tables).
    ``default`` makes the value of a table the file leaves out. ``validate(value, workspace)``
    (per-workspace tables only) checks what a type cannot, such as a name that must be one of
    the workspace's agents: it raises :class:`~trunkline.errors.NestedValueError` whose ``at``
    is the key path inside the table, so the error points at that key in the file.
    ``retired`` maps a key path inside the table (``("login_attempts_per_minute",)``) to what
    to write instead: an old file gets that, not "unknown key".
    """

    name: str
    hint: Any
    default: Callable[[], Any]
    validate: Callable[[Any, WorkspaceConfig], None] | None = None
    retired: Mapping[tuple[str, ...], str] = attrs.field(factory=dict)


class SettingsRegistry:
    """Collects the ``[plugins.<name>]`` sections plugins declare in ``trunkline_add_settings``."""

    def __init__(self) -> None:
        self.sections: dict[str, type[Any]] = {}
        self.tables: dict[str, SettingsTable] = {}
        self.workspace_tables: dict[str, SettingsTable] = {}

    def add(self, name: str, settings_class: type[Any]) -> None:
        """Declare that ``[plugins.<name>]`` is checked against the attrs class given."""
        if not attrs.has(settings_class):
            raise TypeError(f"settings section {name!r}: {settings_class!r} is not an attrs class")
        self.sections[name] = settings_class

    def add_table(
        self,
        name: str,
        settings_class: type[Any],
        *,
        retired: Mapping[tuple[str, ...], str] | None = None,
    ) -> None:
        """Declare a top-level ``[name]`` table checked against the attrs class given; the
        checked instance (the class's defaults when the file has no such table) is in
        ``config.tables[name]``."""
        if not attrs.has(settings_class):
            raise TypeError(f"table {name!r}: {settings_class!r} is not an attrs class")
        if name in _CORE_TABLES or name in self.tables:
            raise ValueError(f"table {name!r} is declared already")
        self.tables[name] = SettingsTable(
            name=name, hint=settings_class, default=settings_class, retired=retired or {}
        )

    def add_workspace_table(
        self,
        name: str,
        hint: Any,
        *,
        default: Callable[[], Any],
        validate: Callable[[Any, WorkspaceConfig], None] | None = None,
    ) -> None:
        """Declare a key of every ``[workspaces.<id>]`` table (see :class:`SettingsTable`):
        ``workspace.tables[name]`` holds its checked value, ``default()`` when absent."""
        if name in _WORKSPACE_KEYS or name in self.workspace_tables:
            raise ValueError(f"workspace table {name!r} is declared already")
        self.workspace_tables[name] = SettingsTable(
            name=name, hint=hint, default=default, validate=validate
        )


# Positions ----------------------------------------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR_END = frozenset(",]}#\r\n")


def locate_keys(text: str) -> dict[KeyPath, tuple[int, int]]:
    """Map each table and key path in a TOML document to its (line, column), 1-based.

    Paths are those of the data the document holds: the items of an array (of values, or of
    tables written ``[[...]]``) by their index as a string, keys inside inline tables, and
    every table a header implies (``[workspace.acme]`` also places ``workspace``). The
    document is expected to be valid TOML (parse it with :mod:`tomllib` first).
    """
    return _Locator(text).run()


class _Locator:
    """A scanner that follows TOML's structure just enough to know where each key starts."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.positions: dict[KeyPath, tuple[int, int]] = {}
        self.lines = [0] + [m.end() for m in re.finditer("\n", text)]
        self.arrays: dict[KeyPath, int] = {}  # each array of tables: its items so far

    def run(self) -> dict[KeyPath, tuple[int, int]]:
        text = self.text
        table: KeyPath = ()
        while True:
            self.blank()
            if self.i >= len(text):
                return self.positions
            if text[self.i] == "[":
                table = self.header()
            else:
                path = self.key(table)
                self.i = text.index("=", self.i) + 1
                self.value(path)

    def where(self, index: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.lines, index)
        return line, index - self.lines[line - 1] + 1

    def mark(self, path: KeyPath, index: int) -> None:
        self.positions.setdefault(path, self.where(index))

    def spaces(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in " \t":
            self.i += 1

    def blank(self) -> None:
        """Skip spaces, line ends and comments."""
        text = self.text
        while self.i < len(text):
            char = text[self.i]
            if char in " \t\r\n":
                self.i += 1
            elif char == "#":
                end = text.find("\n", self.i)
                self.i = len(text) if end < 0 else end
            else:
                return

    def header(self) -> KeyPath:
        """A ``[table]`` or ``[[array item]]`` header: the path of the table it opens."""
        double = self.text.startswith("[[", self.i)
        self.i += 2 if double else 1
        parts = self.parts()
        self.i = self.text.index("]", self.i) + (2 if double else 1)
        path: KeyPath = ()
        for number, (part, start) in enumerate(parts):
            path = (*path, part)
            last = number == len(parts) - 1
            if path in self.arrays and not (double and last):  # inside its latest item
                path = (*path, str(self.arrays[path] - 1))
            if double and last:
                self.mark(path, parts[0][1])
                self.arrays[path] = self.arrays.get(path, 0) + 1
                path = (*path, str(self.arrays[path] - 1))
            # The table a header opens is at the header's key; those it implies, at their part.
            self.mark(path, parts[0][1] if last else start)
        return path

    def key(self, base: KeyPath) -> KeyPath:
        """A (dotted) key: each table it implies, and itself, placed at its parts."""
        path = base
        parts = self.parts()
        for number, (part, start) in enumerate(parts):
            path = (*path, part)
            self.mark(path, parts[0][1] if number == len(parts) - 1 else start)
        return path

    def parts(self) -> list[tuple[str, int]]:
        """A dotted key's parts (bare or quoted), each with where it starts."""
        text = self.text
        found: list[tuple[str, int]] = []
        while True:
            self.spaces()
            start = self.i
            if text[start] in "\"'":
                self.string()
                part = tomllib.loads(f"k = {text[start : self.i]}")["k"]
            else:
                match = _BARE_KEY.match(text, start)
                end = match.end() if match else start + 1
                part, self.i = text[start:end], end
            found.append((part, start))
            self.spaces()
            if self.i < len(text) and text[self.i] == ".":
                self.i += 1
                continue
            return found

    def string(self) -> None:
        """Skip a string of any of TOML's four kinds."""
        text = self.text
        quote = text[self.i]
        if text.startswith(quote * 3, self.i):
            self.i += 3
            while not text.startswith(quote * 3, self.i):
                self.i += 2 if quote == '"' and text[self.i] == "\\" else 1
            self.i += 3
            while self.i < len(text) and text[self.i] == quote:  # up to two quotes end it
                self.i += 1
            return
        self.i += 1
        while text[self.i] != quote:
            self.i += 2 if quote == '"' and text[self.i] == "\\" else 1
        self.i += 1

    def value(self, path: KeyPath) -> None:
        """Skip a value, placing the keys of inline tables and the items of arrays in it."""
        text = self.text
        self.spaces()
        char = text[self.i]
        if char in "\"'":
            self.string()
        elif char == "[":
            self.i += 1
            for index in itertools.count():
                self.blank()
                if text[self.i] == "]":
                    break
                self.mark((*path, str(index)), self.i)
                self.value((*path, str(index)))
                self.blank()
                if text[self.i] == ",":
                    self.i += 1
            self.i += 1
        elif char == "{":
            self.i += 1
            while True:
                self.blank()
                if text[self.i] == "}":
                    break
                inner = self.key(path)
                self.i = text.index("=", self.i) + 1
                self.value(inner)
                self.blank()
                if text[self.i] == ",":
                    self.i += 1
            self.i += 1
        else:  # a number, a boolean, a date: up to what ends it
            while self.i < len(text) and text[self.i] not in _SCALAR_END:
                self.i += 1


class _Checker:
    """Turns raw TOML data into typed values, raising errors that point into the file."""

    def __init__(
        self, source: str, positions: Mapping[KeyPath, tuple[int, int]], env: Mapping[str, str]
    ):
        self.source = source
        self.positions = positions
        self.env = env
        self.secrets: list[KeyPath] = []  # where a value was read from the environment
        self.masked: list[KeyPath] = []  # values of fields marked MASKED, hidden when shown
        self.unloaded_adapters: Mapping[str, str] = {}  # adapter -> why its plugin is not loaded
        # A value the file does not set but the defaults do is blamed on the defaults.
        self.file_data: Mapping[str, Any] = {}
        self.defaults: Mapping[str, Any] = {}
        self.defaults_source = "defaults"
        self.retired: dict[KeyPath, str] = {}  # keys a release removed -> what to write instead
        #: Tables no loaded plugin declares but an installed or known one would -> why missing.
        self.unavailable_tables: Mapping[str, str] = {}

    def error(self, path: KeyPath, message: str) -> ConfigError:
        if path and _holds(self.defaults, path) and not _holds(self.file_data, path):
            return ConfigError(message, key=".".join(path), file=self.defaults_source)
        line = column = None
        for end in range(len(path), 0, -1):
            if path[:end] in self.positions:
                line, column = self.positions[path[:end]]
                break
        return ConfigError(
            message, key=".".join(path) or None, file=self.source, line=line, column=column
        )

    def table(self, value: Any, path: KeyPath) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(path, f"expected a table, got {_describe(value)}")
        return value

    def only(self, data: Mapping[str, Any], allowed: typing.Iterable[str], path: KeyPath) -> None:
        allowed = sorted(allowed)
        for key in data:
            if key not in allowed:
                if (retired := self.retired.get((*path, key))) is not None:
                    raise self.error((*path, key), f"no longer a setting: {retired}")
                where = ("workspaces", "*") if path[:1] == ("workspaces",) else path
                if (why := self.unavailable_tables.get(".".join((*where, key)))) is not None:
                    raise self.error(
                        (*path, key),
                        f"no loaded plugin declares this table: {why} "
                        f"(allowed here: {', '.join(allowed)})",
                    )
                raise self.error((*path, key), f"unknown key (allowed: {', '.join(allowed)})")

    def attrs_instance(
        self,
        cls: type[Any],
        data: Mapping[str, Any],
        path: KeyPath,
        *,
        fixed: Mapping[str, Any] | None = None,
    ) -> Any:
        """Build an attrs class from a table, checking keys, types and secrets."""
        fixed = dict(fixed or {})
        fields = {f.name: f for f in attrs.fields(cls) if f.name not in fixed and f.init}
        self.only(data, fields, path)
        hints = typing.get_type_hints(cls)
        kwargs = dict(fixed)
        for name, value in data.items():
            field = fields[name]
            if is_secret(field):
                kwargs[name] = self.secret(value, (*path, name))
            else:
                kwargs[name] = self.value(value, hints[name], (*path, name))
                if field.metadata.get(MASKED) and value:
                    self.masked.append((*path, name))
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            # Which key was it? Point there, not at the table (the check runs only now).
            blamed = _blame(cls, kwargs)
            if blamed is None:
                raise self.error(path, str(exc)) from None
            at, problem = blamed
            message = str(problem)
            if message.startswith(f"{at[0]}: "):  # the key path names it already
                message = message[len(at[0]) + 2 :]
            raise self.error((*path, *at), message) from None

    def secret(self, value: Any, path: KeyPath) -> Secret:
        if not (
            isinstance(value, dict) and set(value) == {"env"} and isinstance(value["env"], str)
        ):
            raise self.error(
                path, 'is a secret: write { env = "VARIABLE" } and put the value in the environment'
            )
        variable = value["env"]
        if variable not in self.env:
            raise self.error(path, f"environment variable {variable} is not set")
        self.secrets.append(path)
        return Secret(self.env[variable])

    def value(self, value: Any, hint: Any, path: KeyPath) -> Any:
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin in (typing.Union, types.UnionType):
            if value is None and type(None) in args:
                return None
            errors = []
            for option in (a for a in args if a is not type(None)):
                try:
                    return self.value(value, option, path)
                except ConfigError as exc:
                    errors.append(exc.message)
            raise self.error(path, "; ".join(errors))
        if hint is Any:
            return value
        if hint is bool:
            if not isinstance(value, bool):
                raise self.error(path, f"expected true or false, got {_describe(value)}")
            return value
        if hint is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.error(path, f"expected a whole number, got {_describe(value)}")
            return value
        if hint is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self.error(path, f"expected a number, got {_describe(value)}")
            return float(value)
        if hint is str:
            if not isinstance(value, str):
                raise self.error(path, f"expected a string, got {_describe(value)}")
            return value
        if origin in (tuple, list) or origin is typing.Sequence:
            if not isinstance(value, list):
                raise self.error(path, f"expected a list, got {_describe(value)}")
            item = args[0] if args else Any
            return tuple(self.value(v, item, (*path, str(i))) for i, v in enumerate(value))
        if origin in (dict, Mapping) or origin is typing.Mapping or hint in (dict, Mapping):
            table = self.table(value, path)
            item = args[1] if len(args) == 2 else Any
            return {k: self.value(v, item, (*path, k)) for k, v in table.items()}
        if isinstance(hint, type) and attrs.has(hint):
            return self.attrs_instance(hint, self.table(value, path), path)
        raise self.error(path, f"cannot check a value of type {hint!r}")


def _blame(cls: type[Any], kwargs: Mapping[str, Any]) -> tuple[KeyPath, Exception] | None:
    """The key that made ``cls(**kwargs)`` fail, and its error: ``(field, *inside)``.

    attrs runs the converters of every field, then the validators, without saying which one
    raised. They run here again, one at a time and in the same order, on an instance built
    without them; a :class:`NestedValueError` adds the key path inside the field. None when
    no single field is to blame (a check in ``__attrs_post_init__``, say).
    """
    values: dict[str, Any] = {}
    fields = [f for f in attrs.fields(cls) if f.init]
    for field in fields:
        converter = field.converter
        if field.name in kwargs:
            value = kwargs[field.name]
        elif isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
            if field.default.takes_self:
                return None
            value = field.default.factory()
        elif field.default is attrs.NOTHING:
            return None
        else:
            value = field.default
        if callable(converter):
            try:
                value = converter(value)
            except (TypeError, ValueError) as exc:
                return (field.name, *getattr(exc, "at", ())), exc
        values[field.name] = value
    instance = object.__new__(cls)
    for name, value in values.items():
        object.__setattr__(instance, name, value)
    for field in fields:
        if field.validator is not None:
            try:
                field.validator(instance, field, values[field.name])
            except (TypeError, ValueError) as exc:
                return (field.name, *getattr(exc, "at", ())), exc
    return None


def _holds(data: Any, path: KeyPath) -> bool:
    """True when raw configuration ``data`` has a value at ``path`` (list items by index)."""
    for key in path:
        if isinstance(data, dict) and key in data:
            data = data[key]
        elif isinstance(data, list) and key.isdigit() and int(key) < len(data):
            data = data[int(key)]
        else:
            return False
    return True


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


# Loading ------------------------------------------------------------------------------------


@attrs.frozen
class LoadedConfig:
    """A configuration file as it takes effect (what ``trunkline show-config`` prints).

    ``data`` is the defaults merged under the file, as read; ``file_data`` the file alone;
    ``config`` the checked result; ``secrets`` the key paths whose values were read from the
    environment.
    """

    config: Config
    data: Mapping[str, Any]
    file_data: Mapping[str, Any]
    defaults: Mapping[str, Any]
    secrets: tuple[KeyPath, ...] = ()
    masked: tuple[KeyPath, ...] = ()  # values of fields marked MASKED (not secrets, not shown)


def read_config(
    path: str | os.PathLike[str],
    *,
    adapters: Mapping[str, type[ChannelAdapter]],
    strategies: typing.Collection[str],
    plugin_sections: Mapping[str, type[Any]] | None = None,
    tables: Mapping[str, SettingsTable] | None = None,
    workspace_tables: Mapping[str, SettingsTable] | None = None,
    unavailable_tables: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    stores: Mapping[str, type[Any]] | None = None,
    defaults_source: str = "defaults",
    unloaded_adapters: Mapping[str, str] | None = None,
) -> LoadedConfig:
    """Read and check a configuration file with ``defaults`` merged under it.

    A mistake in a value that only the defaults set is reported against ``defaults_source``
    (such as ``the defaults of distribution "acme"``) rather than the file.
    ``unloaded_adapters`` (adapter -> why; :meth:`PluginManager.unloaded_adapters`) explains
    an adapter that an installed plugin would provide but that plugin is not loaded.
    Raises ConfigError; starts nothing.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror}", file=source) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        line, column = (int(match[1]), int(match[2])) if match else (None, None)
        raise ConfigError(
            f"not valid TOML: {message}", file=source, line=line, column=column
        ) from None
    merged = _merge(defaults or {}, data)
    check = _Checker(source, locate_keys(text), os.environ if env is None else env)
    check.unloaded_adapters = unloaded_adapters or {}
    check.unavailable_tables = unavailable_tables or {}
    check.file_data, check.defaults, check.defaults_source = data, defaults or {}, defaults_source
    config = _check_config(
        check,
        merged,
        adapters=adapters,
        strategies=strategies,
        plugin_sections=plugin_sections,
        tables=tables,
        workspace_tables=workspace_tables,
        stores=stores,
    )
    return LoadedConfig(
        config=config,
        data=merged,
        file_data=data,
        defaults=dict(defaults or {}),
        secrets=tuple(check.secrets),
        masked=tuple(check.masked),
    )


def load_config(
    path: str | os.PathLike[str],
    *,
    adapters: Mapping[str, type[ChannelAdapter]],
    strategies: typing.Collection[str],
    plugin_sections: Mapping[str, type[Any]] | None = None,
    tables: Mapping[str, SettingsTable] | None = None,
    workspace_tables: Mapping[str, SettingsTable] | None = None,
    unavailable_tables: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    stores: Mapping[str, type[Any]] | None = None,
    defaults_source: str = "defaults",
    unloaded_adapters: Mapping[str, str] | None = None,
) -> Config:
    """Read and check a configuration file (see :func:`read_config`). Raises ConfigError;
    starts nothing."""
    return read_config(
        path,
        adapters=adapters,
        strategies=strategies,
        plugin_sections=plugin_sections,
        tables=tables,
        workspace_tables=workspace_tables,
        unavailable_tables=unavailable_tables,
        env=env,
        defaults=defaults,
        stores=stores,
        defaults_source=defaults_source,
        unloaded_adapters=unloaded_adapters,
    ).config


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def choose_workspace(workspaces: Collection[str], name: str | None) -> str:
    """The workspace a command works on: ``name`` (``--workspace``), or the only one.

    Raises :class:`TrunklineError` naming the choices when ``name`` is unknown, or missing
    while there are several.
    """
    known = ", ".join(sorted(workspaces)) or "none"
    if name is None:
        if len(workspaces) != 1:
            raise TrunklineError(
                f"the configuration has {len(workspaces)} workspaces: choose one with "
                f"--workspace ({known})"
            )
        (name,) = workspaces
        return name
    if name not in workspaces:
        raise TrunklineError(f'--workspace: unknown workspace "{name}" (known: {known})')
    return name


def config_from_dict(
    data: Mapping[str, Any],
    *,
    adapters: Mapping[str, type[ChannelAdapter]],
    strategies: typing.Collection[str],
    plugin_sections: Mapping[str, type[Any]] | None = None,
    tables: Mapping[str, SettingsTable] | None = None,
    workspace_tables: Mapping[str, SettingsTable] | None = None,
    unavailable_tables: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    source: str = "<config>",
    positions: Mapping[KeyPath, tuple[int, int]] | None = None,
    stores: Mapping[str, type[Any]] | None = None,
    unloaded_adapters: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    defaults_source: str = "defaults",
) -> Config:
    """Check configuration data already parsed (from TOML or built in code).

    ``stores`` maps each installed store backend to its ``Settings`` class; with it, the
    ``[store]`` table is checked completely. ``defaults`` are merged under ``data``;
    ``defaults_source`` and ``unloaded_adapters`` are as for :func:`read_config`.
    """
    check = _Checker(source, positions or {}, os.environ if env is None else env)
    check.unloaded_adapters = unloaded_adapters or {}
    check.unavailable_tables = unavailable_tables or {}
    check.file_data, check.defaults, check.defaults_source = data, defaults or {}, defaults_source
    return _check_config(
        check,
        _merge(defaults or {}, data),
        adapters=adapters,
        strategies=strategies,
        plugin_sections=plugin_sections,
        tables=tables,
        workspace_tables=workspace_tables,
        stores=stores,
    )


def _check_config(
    check: _Checker,
    data: Mapping[str, Any],
    *,
    adapters: Mapping[str, type[ChannelAdapter]],
    strategies: typing.Collection[str],
    plugin_sections: Mapping[str, type[Any]] | None,
    tables: Mapping[str, SettingsTable] | None,
    workspace_tables: Mapping[str, SettingsTable] | None,
    stores: Mapping[str, type[Any]] | None,
) -> Config:
    tables = dict(tables or {})
    workspace_tables = dict(workspace_tables or {})
    for table in tables.values():
        check.retired.update({(table.name, *key): text for key, text in table.retired.items()})
    top = check.table(dict(data), ())
    check.only(top, (*_CORE_TABLES, *tables), ())

    store = _store(check, check.table(top.get("store", {}), ("store",)), stores)
    outbox = check.attrs_instance(
        OutboxSettings, check.table(top.get("outbox", {}), ("outbox",)), ("outbox",)
    )
    plugin_tables = {
        name: (check.value(top[name], table.hint, (name,)) if name in top else table.default())
        for name, table in tables.items()
    }

    sections = dict(plugin_sections or {})
    plugins_data = check.table(top.get("plugins", {}), ("plugins",))
    check.only(plugins_data, sections, ("plugins",))
    plugin_settings = {
        name: check.attrs_instance(
            sections[name], check.table(value, ("plugins", name)), ("plugins", name)
        )
        for name, value in plugins_data.items()
    }

    workspaces_data = check.table(top.get("workspaces", {}), ("workspaces",))
    workspaces = {
        wid: _workspace(
            check,
            wid,
            check.table(value, ("workspaces", wid)),
            adapters,
            strategies,
            workspace_tables,
        )
        for wid, value in workspaces_data.items()
    }
    return Config(
        workspaces=workspaces,
        store=store,
        outbox=outbox,
        plugin_settings=plugin_settings,
        tables=plugin_tables,
        source=check.source,
    )


def _store(
    check: _Checker, table: Mapping[str, Any], stores: Mapping[str, type[Any]] | None
) -> StoreSettings:
    data = dict(table)
    backend = data.pop("backend", None)
    if backend is not None and not isinstance(backend, str):
        raise check.error(("store", "backend"), f"expected a string, got {_describe(backend)}")
    every = check.value(data.pop("snapshot_every", 50_000), int, ("store", "snapshot_every"))
    if every < 0:
        raise check.error(("store", "snapshot_every"), f"must not be negative, got {every}")
    ttl = check.value(data.pop("lease_ttl", 5.0), float, ("store", "lease_ttl"))
    if not ttl > 0:
        raise check.error(("store", "lease_ttl"), f"must be more than 0, got {ttl}")
    options: Any = data
    if stores is not None:
        if backend is None and data:
            raise check.error(
                ("store",), f'name the backend: backend = "…" (one of: {", ".join(sorted(stores))})'
            )
        if backend is not None:
            if backend not in stores:
                raise check.error(
                    ("store", "backend"),
                    f'unknown store backend "{backend}" (installed: {", ".join(sorted(stores))})',
                )
            options = check.attrs_instance(stores[backend], data, ("store",))
    return StoreSettings(backend=backend, options=options, snapshot_every=every, lease_ttl=ttl)


def _workspace(
    check: _Checker,
    wid: str,
    data: Mapping[str, Any],
    adapters: Mapping[str, type[ChannelAdapter]],
    strategies: typing.Collection[str],
    workspace_tables: Mapping[str, SettingsTable],
) -> WorkspaceConfig:
    base: KeyPath = ("workspaces", wid)
    check.only(data, (*_WORKSPACE_KEYS, *workspace_tables), base)
    name = check.value(data.get("name", wid), str, (*base, "name"))
    skills: tuple[str, ...] = check.value(
        data.get("skills", []), tuple[str, ...], (*base, "skills")
    )

    def known_skills(levels: Mapping[str, int], path: KeyPath) -> None:
        for skill in levels:
            if skill not in skills:
                listing = (
                    ", ".join(skills)
                    if skills
                    else f"none: add skills = [...] to [workspaces.{wid}]"
                )
                raise check.error((*path, skill), f'unknown skill "{skill}" (known: {listing})')

    routing_path = (*base, "routing")
    routing: RoutingSettings = check.attrs_instance(
        RoutingSettings, check.table(data.get("routing", {}), routing_path), routing_path
    )
    retention_path = (*base, "retention")
    retention: RetentionSettings = check.attrs_instance(
        RetentionSettings, check.table(data.get("retention", {}), retention_path), retention_path
    )
    hours = {
        name: check.attrs_instance(
            Schedule, check.table(raw, (*base, "hours", name)), (*base, "hours", name)
        )
        for name, raw in check.table(data.get("hours", {}), (*base, "hours")).items()
    }

    def requirement(text: str, path: KeyPath) -> None:
        try:
            parse_requirement(text, skills=skills)
        except RequirementError as exc:
            raise check.error(path, str(exc)) from None

    queues_data = check.table(data.get("queues", {}), (*base, "queues"))
    queue_ids = set(queues_data)

    def known_queue(qid: str, path: KeyPath) -> None:
        if qid not in queue_ids:
            raise check.error(
                path, f'unknown queue "{qid}" (known: {", ".join(sorted(queue_ids)) or "none"})'
            )

    queues = []
    for qid, raw in queues_data.items():
        path = (*base, "queues", qid)
        queue: Queue = check.attrs_instance(
            Queue, check.table(raw, path), path, fixed={"id": qid, "workspace": wid}
        )
        known_skills(queue.skills, (*path, "skills"))
        if queue.strategy not in strategies:
            raise check.error(
                (*path, "strategy"),
                f'unknown strategy "{queue.strategy}" (known: {", ".join(sorted(strategies))})',
            )
        if queue.requirement:
            requirement(queue.requirement, (*path, "requirement"))
        if queue.hours and queue.hours not in hours:
            raise check.error(
                (*path, "hours"),
                f'unknown business hours "{queue.hours}" (known: '
                f"{', '.join(sorted(hours)) or f'none: add [workspaces.{wid}.hours.NAME]'})",
            )
        if queue.closed_queue:
            known_queue(queue.closed_queue, (*path, "closed_queue"))
        for number, step in enumerate(queue.escalation):
            step_path = (*path, "escalation", str(number))
            if step.requirement is not None:
                requirement(step.requirement, (*step_path, "requirement"))
            if step.skills is not None:
                known_skills(step.skills, (*step_path, "skills"))
            for i, other in enumerate(step.queues):
                known_queue(other, (*step_path, "queues", str(i)))
            if step.overflow is not None:
                known_queue(step.overflow, (*step_path, "overflow"))
        queues.append(queue)

    agents = []
    for aid, raw in check.table(data.get("agents", {}), (*base, "agents")).items():
        path = (*base, "agents", aid)
        agent: Agent = check.attrs_instance(
            Agent, check.table(raw, path), path, fixed={"id": aid, "workspace": wid}
        )
        known_skills(agent.skills, (*path, "skills"))
        for i, qid in enumerate(agent.queues):
            known_queue(qid, (*path, "queues", str(i)))
        agents.append(agent)

    channels = []
    for cname, raw in check.table(data.get("channels", {}), (*base, "channels")).items():
        path = (*base, "channels", cname)
        table = check.table(raw, path)
        check.only(table, ("adapter", "queue", "settings"), path)
        if "adapter" not in table:
            raise check.error(
                path, f'missing key "adapter" (one of: {", ".join(sorted(adapters))})'
            )
        adapter_name = check.value(table["adapter"], str, (*path, "adapter"))
        if adapter_name not in adapters and adapter_name in check.unloaded_adapters:
            raise check.error(
                (*path, "adapter"),
                f'channel adapter "{adapter_name}" is not available: '
                f"{check.unloaded_adapters[adapter_name]} "
                f"(loaded adapters: {', '.join(sorted(adapters)) or 'none'})",
            )
        if adapter_name not in adapters:
            raise check.error(
                (*path, "adapter"),
                f'unknown channel adapter "{adapter_name}" '
                f"(installed: {', '.join(sorted(adapters))})",
            )
        queue_name = table.get("queue")
        if queue_name is not None:
            known_queue(check.value(queue_name, str, (*path, "queue")), (*path, "queue"))
        settings_path = (*path, "settings")
        settings = check.attrs_instance(
            adapters[adapter_name].Settings,
            check.table(table.get("settings", {}), settings_path),
            settings_path,
        )
        channels.append(
            ChannelConfig(name=cname, adapter=adapter_name, settings=settings, queue=queue_name)
        )

    survey: SurveySettings | None = None
    if "survey" in data:
        survey_path = (*base, "survey")
        survey = check.attrs_instance(
            SurveySettings, check.table(data["survey"], survey_path), survey_path
        )
        channel_names = [c.name for c in channels]
        for i, name in enumerate(survey.channels):
            if name not in channel_names:
                raise check.error(
                    (*survey_path, "channels", str(i)),
                    f'unknown channel "{name}" (channels of workspace "{wid}": '
                    f"{', '.join(channel_names) or 'none'})",
                )

    groups = {g for agent in agents for g in agent.groups}
    for queue in queues:
        for number, step in enumerate(queue.escalation):
            for i, group in enumerate(step.groups):
                if group not in groups:
                    raise check.error(
                        (*base, "queues", queue.id, "escalation", str(number), "groups", str(i)),
                        f'unknown agent group "{group}" (known: '
                        f"{', '.join(sorted(groups)) or 'none: give agents groups = [...]'})",
                    )

    workspace = WorkspaceConfig(
        workspace=Workspace(id=wid, name=name),
        skills=skills,
        routing=routing,
        hours=hours,
        retention=retention,
        dispositions=check.value(
            data.get("dispositions", ["resolved", "follow-up", "no-answer"]),
            tuple[str, ...],
            (*base, "dispositions"),
        ),
        survey=survey,
        queues=tuple(queues),
        agents=tuple(agents),
        channels=tuple(channels),
    )
    if not workspace_tables:
        return workspace
    values: dict[str, Any] = {}
    for key, declared in workspace_tables.items():
        path = (*base, key)
        values[key] = (
            check.value(data[key], declared.hint, path) if key in data else declared.default()
        )
        if declared.validate is not None:
            try:
                declared.validate(values[key], workspace)
            except NestedValueError as exc:
                raise check.error((*path, *exc.at), str(exc)) from None
    return attrs.evolve(workspace, tables=values)
