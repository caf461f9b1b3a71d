"""The plugin manager: discovery, selection, validation and isolated, async-aware hook calls.

Discovery follows pytest. Core's built-in plugins are ordinary modules listed in
:data:`BUILTIN_PLUGINS`; third-party plugins come from the ``trunkline.plugins`` entry-point
group; a vendor distribution (entry point ``trunkline.distro``) may choose which plugins load.
Three environment variables override the choice:

``TRUNKLINE_PLUGINS``
    comma-separated allow-list of entry-point plugins; only these are loaded.
``TRUNKLINE_DISABLE_PLUGINS``
    comma-separated plugins (built-ins included) that are not loaded.
``TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD``
    when set to a non-empty value, entry points are not loaded unless ``TRUNKLINE_PLUGINS``
    names them.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import Any

import attrs
import pluggy

from . import hookspecs
from .errors import PluginError

__all__ = [
    "BUILTIN_PLUGINS",
    "DISTRO_GROUP",
    "ENTRY_POINT_GROUP",
    "Distro",
    "PluginInfo",
    "PluginManager",
    "load_plugins",
]

log = logging.getLogger("trunkline.plugins")

ENTRY_POINT_GROUP = "trunkline.plugins"
DISTRO_GROUP = "trunkline.distro"

#: Core's own plugins, registered like any other and blockable with TRUNKLINE_DISABLE_PLUGINS.
BUILTIN_PLUGINS: Mapping[str, str] = {
    "memory-channel": "trunkline.builtin.memory_channel",
    "memory-store": "trunkline.builtin.memory_store",
    "sqlite-store": "trunkline.builtin.sqlite_store",
    "strategies": "trunkline.builtin.strategies",
}


@attrs.frozen
class Distro:
    """A vendor distribution: which plugins to load, configuration defaults, and a name.

    A vendor package exposes one of these under the ``trunkline.distro`` entry point and
    usually ships its own console script calling ``trunkline.cli.main(distro="<name>")``.
    ``TRUNKLINE_DISTRO=<name>`` selects it as well.
    """

    name: str
    title: str = ""
    plugins: tuple[str, ...] | None = None  # allow-list of entry-point plugins; None = all
    disable: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = attrs.field(factory=dict)  # merged under the config file


@attrs.frozen
class PluginInfo:
    """Where a registered plugin came from, for ``trunkline plugins`` and error messages."""

    name: str
    module: str
    source: str  # "builtin", or "entry point" with the distribution
    distribution: str | None = None
    version: str | None = None


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _plugin_label(impl: pluggy.HookImpl) -> str:
    return impl.plugin_name


class PluginManager(pluggy.PluginManager):
    """pluggy's manager with Trunkline's discovery rules and isolated hook calls."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.distro: Distro | None = None
        # Historic: every plugin registered from now on gets this call as it arrives.
        self.hook.trunkline_addhooks.call_historic(kwargs={"pluginmanager": self})

    # Registration ---------------------------------------------------------------------

    def register_plugin(self, plugin: object, name: str, *, info: PluginInfo | None = None) -> None:
        """Register ``plugin`` under ``name`` and remember where it came from."""
        if self.get_plugin(name) is not None or self.is_blocked(name):
            raise PluginError(f'plugin "{name}": a plugin of that name is already registered')
        self.register(plugin, name=name)
        module = getattr(plugin, "__name__", type(plugin).__module__)
        self.infos[name] = info or PluginInfo(name=name, module=module, source="code")

    def check(self) -> None:
        """Refuse misspelled hooks and ``async def`` implementations of synchronous hooks."""
        try:
            self.check_pending()
        except pluggy.PluginValidationError as exc:
            name = exc.plugin if isinstance(exc.plugin, str) else self.get_name(exc.plugin)
            raise PluginError(f'plugin "{name}": {exc}') from None
        for hook_name in dir(self.hook):
            if not hook_name.startswith("trunkline_") or hook_name in hookspecs.ASYNC_HOOKS:
                continue
            for impl in getattr(self.hook, hook_name).get_hookimpls():
                if inspect.iscoroutinefunction(impl.function):
                    raise PluginError(
                        f'plugin "{impl.plugin_name}": {hook_name} must be a plain function, '
                        "not async def (it is called inside the routing engine or at setup)"
                    )

    # Isolated calls ---------------------------------------------------------------------

    def _impls(self, hook_name: str) -> list[pluggy.HookImpl]:
        impls = [
            impl
            for impl in getattr(self.hook, hook_name).get_hookimpls()
            if not (impl.hookwrapper or impl.wrapper)
        ]
        impls.reverse()  # pluggy calls the last registered (and tryfirst) first
        return impls

    def has_impls(self, hook_name: str, /) -> bool:
        """True when some plugin implements the hook (the engine skips unused hooks)."""
        return bool(getattr(self.hook, hook_name).get_hookimpls())

    def call_each(self, hook_name: str, /, **kwargs: Any) -> list[Any]:
        """Call every implementation; a raising plugin is logged and skipped.

        Returns the non-``None`` results in call order. Use for synchronous hooks.
        """
        results = []
        for impl in self._impls(hook_name):
            args = {name: kwargs[name] for name in impl.argnames}
            try:
                result = impl.function(**args)
            except Exception:
                log.exception(
                    'plugin "%s" raised in %s; its result is ignored',
                    _plugin_label(impl),
                    hook_name,
                )
                continue
            if result is not None:
                results.append(result)
        return results

    def call_first(self, hook_name: str, /, **kwargs: Any) -> Any:
        """The first non-``None`` result of a synchronous hook, with raising plugins skipped."""
        for impl in self._impls(hook_name):
            args = {name: kwargs[name] for name in impl.argnames}
            try:
                result = impl.function(**args)
            except Exception:
                log.exception(
                    'plugin "%s" raised in %s; its result is ignored',
                    _plugin_label(impl),
                    hook_name,
                )
                continue
            if result is not None:
                return result
        return None

    async def acall_each(self, hook_name: str, /, **kwargs: Any) -> list[Any]:
        """Like :meth:`call_each`, awaiting each result that is awaitable, one at a time."""
        results = []
        for impl in self._impls(hook_name):
            result = await self._acall_one(impl, hook_name, kwargs)
            if result is not None:
                results.append(result)
        return results

    async def acall_first(self, hook_name: str, /, **kwargs: Any) -> Any:
        """The first non-``None`` awaited result; later implementations are not called."""
        for impl in self._impls(hook_name):
            result = await self._acall_one(impl, hook_name, kwargs)
            if result is not None:
                return result
        return None

    async def _acall_one(
        self, impl: pluggy.HookImpl, hook_name: str, kwargs: Mapping[str, Any]
    ) -> Any:
        args = {name: kwargs[name] for name in impl.argnames}
        try:
            result = impl.function(**args)
            if inspect.isawaitable(result):
                result = await result
        except Exception:
            log.exception(
                'plugin "%s" raised in %s; its result is ignored', _plugin_label(impl), hook_name
            )
            return None
        return result

    def collect(self, hook_name: str) -> list[Any]:
        """Concatenate the lists returned by a ``register_*`` hook, with their plugin names."""
        items: list[Any] = []
        for result in self.call_each(hook_name):
            items.extend(result)
        return items

    def collect_by_plugin(self, hook_name: str) -> list[tuple[str, Any]]:
        """``(plugin name, item)`` for every item a ``register_*`` hook returns."""
        items: list[tuple[str, Any]] = []
        for impl in self._impls(hook_name):
            try:
                result: Any = impl.function()
            except Exception:
                log.exception('plugin "%s" raised in %s', impl.plugin_name, hook_name)
                continue
            items.extend((impl.plugin_name, item) for item in result or ())
        return items


# Discovery --------------------------------------------------------------------------------


def _entry_points(group: str) -> list[metadata.EntryPoint]:
    return sorted(metadata.entry_points(group=group), key=lambda ep: ep.name)


def find_distro(name: str | None) -> Distro | None:
    """Load the vendor distribution called ``name`` from the ``trunkline.distro`` group."""
    if not name:
        return None
    available = {ep.name: ep for ep in _entry_points(DISTRO_GROUP)}
    if name not in available:
        known = ", ".join(sorted(available)) or "none installed"
        raise PluginError(f'TRUNKLINE_DISTRO: unknown distribution "{name}" (known: {known})')
    distro = available[name].load()
    if not isinstance(distro, Distro):
        raise PluginError(f'distribution "{name}": entry point is not a trunkline.Distro')
    return distro


def load_plugins(
    env: Mapping[str, str] | None = None,
    *,
    distro: str | None = None,
    extra: Iterable[tuple[str, object]] = (),
) -> PluginManager:
    """Build a plugin manager: built-ins, then entry points, filtered by distro and env.

    ``extra`` registers in-process plugins (name, module or object) after discovery, the way
    an embedding application adds its own hooks. Raises :class:`PluginError` with one line
    naming the culprit when a plugin name is unknown, an import fails or a hook is misspelled.
    """
    env = os.environ if env is None else env
    pm = PluginManager()
    pm.distro = find_distro(distro or env.get("TRUNKLINE_DISTRO"))

    entry_points = {ep.name: ep for ep in _entry_points(ENTRY_POINT_GROUP)}
    known = set(BUILTIN_PLUGINS) | set(entry_points)

    allow = _split(env.get("TRUNKLINE_PLUGINS"))
    source_of_allow = "TRUNKLINE_PLUGINS"
    if not allow and pm.distro is not None and pm.distro.plugins is not None:
        allow, source_of_allow = list(pm.distro.plugins), f'distribution "{pm.distro.name}"'
    disable = _split(env.get("TRUNKLINE_DISABLE_PLUGINS"))
    if pm.distro is not None:
        disable += list(pm.distro.disable)
    for label, names in ((source_of_allow, allow), ("TRUNKLINE_DISABLE_PLUGINS", disable)):
        for name in names:
            if name not in known:
                listing = ", ".join(sorted(known))
                raise PluginError(f'{label}: unknown plugin "{name}" (installed: {listing})')
    autoload = not env.get("TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD")

    for name, module_name in BUILTIN_PLUGINS.items():
        if name in disable:
            pm.set_blocked(name)
            continue
        module = importlib.import_module(module_name)
        pm.register_plugin(
            module, name, info=PluginInfo(name=name, module=module_name, source="builtin")
        )

    for name, ep in entry_points.items():
        wanted = name in allow if (allow or not autoload) else True
        if name in disable or not wanted:
            continue
        pm.register_plugin(_load_entry_point(ep), name, info=_info(ep))

    for name, plugin in extra:
        pm.register_plugin(plugin, name)
    pm.check()
    return pm


def _info(ep: metadata.EntryPoint) -> PluginInfo:
    dist = ep.dist
    return PluginInfo(
        name=ep.name,
        module=ep.value,
        source="entry point",
        distribution=dist.name if dist else None,
        version=dist.version if dist else None,
    )


def _load_entry_point(ep: metadata.EntryPoint) -> object:
    try:
        plugin: object = ep.load()
        return plugin
    except Exception as exc:
        where = f" in distribution {ep.dist.name} {ep.dist.version}" if ep.dist else ""
        raise PluginError(
            f'plugin "{ep.name}" ({ep.value}{where}) failed to import: {type(exc).__name__}: {exc}'
        ) from exc
