"""The plugin manager: discovery, selection, validation and isolated, async-aware hook calls.

Discovery follows pytest. Core's built-in plugins are ordinary modules listed in
:data:`BUILTIN_PLUGINS`; third-party plugins come from the ``trunkline.plugins`` entry-point
group; a vendor distribution (entry point ``trunkline.distro``) may choose which plugins load.
Three environment variables override the choice:

``TRUNKLINE_PLUGINS``
    comma-separated allow-list of entry-point plugins; only these are loaded.
``TRUNKLINE_DISABLE_PLUGINS``
    comma-separated plugins (built-ins included) that are not loaded; naming a plugin that is
    not installed is not an error.
``TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD``
    when set to a non-empty value, entry points are not loaded unless ``TRUNKLINE_PLUGINS``
    names them.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from importlib import metadata
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

import attrs
import pluggy

from . import hookspecs
from .errors import PluginError

if TYPE_CHECKING:
    from .model import Agent, Contact, Queue

_P = ParamSpec("_P")
_R = TypeVar("_R")
#: A hook to call: its spec function (checked by mypy), or its name (unchecked; for hooks a
#: plugin declared without importing them).
Hook = Callable[..., Any] | str

__all__ = [
    "BUILTIN_PLUGINS",
    "DISTRO_GROUP",
    "ENTRY_POINT_GROUP",
    "PRODUCT",
    "Distro",
    "PluginInfo",
    "PluginManager",
    "load_plugins",
]

log = logging.getLogger("trunkline.plugins")

ENTRY_POINT_GROUP = "trunkline.plugins"
DISTRO_GROUP = "trunkline.distro"
#: What the pages and the command line call the product when no distribution is active.
PRODUCT = "Trunkline"

#: Core's own plugins, registered like any other and blockable with TRUNKLINE_DISABLE_PLUGINS.
BUILTIN_PLUGINS: Mapping[str, str] = {
    "memory-channel": "trunkline.builtin.memory_channel",
    "memory-store": "trunkline.builtin.memory_store",
    "sqlite-store": "trunkline.builtin.sqlite_store",
    "strategies": "trunkline.builtin.strategies",
    "surveys": "trunkline.builtin.surveys",
    "delivery-reports": "trunkline.builtin.delivery_reports",
    "cluster": "trunkline.builtin.cluster",
}


def _plugin_names(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """``plugins`` and ``disable`` hold plugin names; a lone string is the classic slip."""
    if value is None and attribute.name == "plugins":
        return
    if isinstance(value, str):
        raise ValueError(
            f'distribution "{instance.name}": {attribute.name} must be a tuple of plugin names, '
            f'not the string {value!r} (write ("{value}",))'
        )
    if not all(isinstance(name, str) for name in value):
        raise ValueError(
            f'distribution "{instance.name}": {attribute.name} must hold plugin names (strings), '
            f"got {value!r}"
        )


@attrs.frozen
class Distro:
    """A vendor distribution: which plugins to load, configuration defaults, and a name.

    A vendor package exposes one of these under the ``trunkline.distro`` entry point and
    usually ships its own console script calling ``trunkline.cli.main(distro="<name>")``.
    ``TRUNKLINE_DISTRO=<name>`` selects it as well. ``title`` is what people see: the command
    line's help and banners and the pages' titles use it (``name`` when it is empty).
    """

    name: str
    title: str = ""
    # allow-list of entry-point plugins; None = all
    plugins: tuple[str, ...] | None = attrs.field(default=None, validator=_plugin_names)
    disable: tuple[str, ...] = attrs.field(default=(), validator=_plugin_names)
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
        #: Every plugin name asked to be disabled, installed or not -> who asked: the variable
        #: ``TRUNKLINE_DISABLE_PLUGINS`` or ``distribution "<name>"``.
        self.disabled: dict[str, str] = {}
        #: Installed plugins that were not loaded -> why, as a phrase ("disabled by ...").
        self.not_loaded: dict[str, str] = {}
        self._unloaded: dict[str, Callable[[], object]] = {}
        self._first_results: set[str] = set()  # hooks checked to be first-result ones
        #: The routing hooks as the engine calls them: ``Router(..., hooks=pm.routing_hooks)``.
        self.routing_hooks = PluginRoutingHooks(self)
        # Historic: every plugin registered from now on gets this call as it arrives.
        self.hook.trunkline_addhooks.call_historic(kwargs={"pluginmanager": self})

    @property
    def product_title(self) -> str:
        """What to call the product for people: the active distribution's title (its name
        when the title is empty), or "Trunkline" when no distribution is active."""
        if self.distro is None:
            return PRODUCT
        return self.distro.title or self.distro.name

    def unloaded_adapters(self) -> Mapping[str, str]:
        """Channel adapters that installed but unloaded plugins provide -> why they are missing.

        The value completes ``channel adapter "x" is not available: …``. Finding the adapters
        imports those plugins, so it happens on the first lookup only: when a configuration
        names an adapter that no loaded plugin provides.
        """
        return _UnloadedAdapters(self._unloaded, self.not_loaded)

    # Registration ---------------------------------------------------------------------

    def register_plugin(self, plugin: object, name: str, *, info: PluginInfo | None = None) -> None:
        """Register ``plugin`` under ``name`` and remember where it came from."""
        if self.get_plugin(name) is not None or self.is_blocked(name):
            raise PluginError(f'plugin "{name}": a plugin of that name is already registered')
        self.register(plugin, name=name)
        module = getattr(plugin, "__name__", type(plugin).__module__)
        self.infos[name] = info or PluginInfo(name=name, module=module, source="code")

    def check(self) -> None:
        """Refuse misspelled hooks and ``async def`` implementations of synchronous hooks.

        A hook no loaded plugin specifies is a misspelling, unless its implementation is
        marked ``@hookimpl(optionalhook=True)``: then it is a hook another plugin adds
        (``trunkline_addhooks``), such as trunkline-web's ``trunkline_register_routes``, and
        is simply never called while that plugin is not installed or not loaded."""
        try:
            self.check_pending()
        except pluggy.PluginValidationError as exc:
            name = exc.plugin if isinstance(exc.plugin, str) else self.get_name(exc.plugin)
            raise PluginError(
                f'plugin "{name}": {exc}; if another plugin adds that hook, mark the '
                "implementation @hookimpl(optionalhook=True)"
            ) from None
        for hook_name in dir(self.hook):
            caller = getattr(self.hook, hook_name)
            if not isinstance(caller, pluggy.HookCaller) or caller.spec is None:
                continue
            if hookspecs.spec_info(caller.spec.function).may_be_async:
                continue
            for impl in caller.get_hookimpls():
                if inspect.iscoroutinefunction(impl.function):
                    raise PluginError(
                        f'plugin "{impl.plugin_name}": {hook_name} must be a plain function, '
                        "not async def (it is called inside the routing engine or at setup)"
                    )

    # Isolated calls ---------------------------------------------------------------------
    #
    # Core passes each hook's spec function: ``pm.call_first(hookspecs.trunkline_select_queue,
    # contact=c, queues=q)``, so mypy checks the keywords against the spec, and the return
    # type follows it. A name (a string) still works, unchecked.

    def _impls(self, hook: Hook) -> list[pluggy.HookImpl]:
        impls = [
            impl
            for impl in getattr(self.hook, _name(hook)).get_hookimpls()
            if not (impl.hookwrapper or impl.wrapper)
        ]
        impls.reverse()  # pluggy calls the last registered (and tryfirst) first
        return impls

    def _first(self, hook: Hook) -> str:
        """The hook's name, once checked that its spec lets a first result win (checked once
        per hook: the inbound path asks three times a message)."""
        name = _name(hook)
        if name in self._first_results:
            return name
        caller = getattr(self.hook, name)
        function = hook if callable(hook) else caller.spec.function if caller.spec else None
        info = None if function is None else hookspecs.marked_info(function)
        if info is not None and not info.first_result:
            raise TypeError(f"{name} is not a first-result hook: call every implementation")
        self._first_results.add(name)
        return name

    def has_impls(self, hook: Hook, /) -> bool:
        """True when some plugin implements the hook (the engine skips unused hooks)."""
        return bool(getattr(self.hook, _name(hook)).get_hookimpls())

    @overload
    def call_each(self, hook: str, /, **kwargs: Any) -> list[Any]: ...
    @overload
    def call_each(
        self, hook: Callable[_P, _R | None], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> list[_R]: ...
    def call_each(self, hook: Hook, /, *args: Any, **kwargs: Any) -> list[Any]:
        """Call every implementation; a raising plugin is logged and skipped.

        Returns the non-``None`` results in call order. Use for synchronous hooks.
        """
        assert not args, "hooks are called with keyword arguments"
        name = _name(hook)
        results = []
        for impl in self._impls(name):
            call = {arg: kwargs[arg] for arg in impl.argnames}
            try:
                result = impl.function(**call)
            except Exception:
                log.exception(
                    'plugin "%s" raised in %s; its result is ignored', _plugin_label(impl), name
                )
                continue
            if result is not None:
                results.append(result)
        return results

    @overload
    def call_first(self, hook: str, /, **kwargs: Any) -> Any: ...
    @overload
    def call_first(
        self, hook: Callable[_P, _R | None], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> _R | None: ...
    def call_first(self, hook: Hook, /, *args: Any, **kwargs: Any) -> Any:
        """The first non-``None`` result of a synchronous first-result hook, with raising
        plugins skipped."""
        assert not args, "hooks are called with keyword arguments"
        name = self._first(hook)
        for impl in self._impls(name):
            call = {arg: kwargs[arg] for arg in impl.argnames}
            try:
                result = impl.function(**call)
            except Exception:
                log.exception(
                    'plugin "%s" raised in %s; its result is ignored', _plugin_label(impl), name
                )
                continue
            if result is not None:
                return result
        return None

    @overload
    async def acall_each(
        self,
        hook: Callable[_P, _R | Awaitable[_R | None] | None],
        /,
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> list[_R]: ...
    @overload
    async def acall_each(self, hook: str, /, **kwargs: Any) -> list[Any]: ...
    async def acall_each(self, hook: Hook, /, *args: Any, **kwargs: Any) -> list[Any]:
        """Like :meth:`call_each`, awaiting each result that is awaitable, one at a time."""
        assert not args, "hooks are called with keyword arguments"
        name = _name(hook)
        results = []
        for impl in self._impls(name):
            result = await self._acall_one(impl, name, kwargs)
            if result is not None:
                results.append(result)
        return results

    @overload
    async def acall_first(
        self,
        hook: Callable[_P, _R | Awaitable[_R | None] | None],
        /,
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> _R | None: ...
    @overload
    async def acall_first(self, hook: str, /, **kwargs: Any) -> Any: ...
    async def acall_first(self, hook: Hook, /, *args: Any, **kwargs: Any) -> Any:
        """The first non-``None`` awaited result; later implementations are not called."""
        assert not args, "hooks are called with keyword arguments"
        name = self._first(hook)
        for impl in self._impls(name):
            result = await self._acall_one(impl, name, kwargs)
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

    @overload
    def collect(self, hook: Callable[[], Sequence[_R] | None], /) -> list[_R]: ...
    @overload
    def collect(self, hook: str, /) -> list[Any]: ...
    def collect(self, hook: Hook, /) -> list[Any]:
        """Concatenate the lists returned by a ``register_*`` hook."""
        items: list[Any] = []
        for result in self.call_each(hook):
            items.extend(result)
        return items

    def collect_by_plugin(self, hook: Hook, /, **kwargs: Any) -> list[tuple[str, Any]]:
        """``(plugin name, item)`` for every item a ``register_*`` hook returns, in call
        order; a raising plugin is logged and skipped."""
        name = _name(hook)
        items: list[tuple[str, Any]] = []
        for impl in self._impls(name):
            try:
                result: Any = impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
            except Exception:
                log.exception('plugin "%s" raised in %s', impl.plugin_name, name)
                continue
            items.extend((impl.plugin_name, item) for item in result or ())
        return items


def _name(hook: Hook) -> str:
    return hook if isinstance(hook, str) else hook.__name__


class PluginRoutingHooks:
    """The routing hooks of a plugin manager, as the engine calls them
    (:class:`trunkline.routing.RoutingHooks`): synchronous, isolated calls."""

    def __init__(self, pm: PluginManager) -> None:
        self._pm = pm

    def active(self) -> bool:
        """True when some plugin implements a routing hook (else the engine skips them)."""
        return any(self._pm.has_impls(name) for name in hookspecs.ROUTING_HOOKS)

    def filter_agents(
        self, contact: Contact, queue: Queue, agents: Sequence[Agent]
    ) -> list[Sequence[str]]:
        return self._pm.call_each(
            hookspecs.trunkline_filter_agents, contact=contact, queue=queue, agents=agents
        )

    def score_agents(
        self, contact: Contact, queue: Queue, agents: Sequence[Agent]
    ) -> list[Mapping[str, float]]:
        return self._pm.call_each(
            hookspecs.trunkline_score_agents, contact=contact, queue=queue, agents=agents
        )

    def pick_agent(
        self,
        contact: Contact,
        queue: Queue,
        agents: Sequence[Agent],
        scores: Mapping[str, float],
    ) -> str | None:
        return self._pm.call_first(
            hookspecs.trunkline_pick_agent,
            contact=contact,
            queue=queue,
            agents=agents,
            scores=scores,
        )


# Discovery --------------------------------------------------------------------------------


def _entry_points(group: str) -> list[metadata.EntryPoint]:
    return sorted(metadata.entry_points(group=group), key=lambda ep: ep.name)


def find_distro(name: str | None, *, from_variable: bool = True) -> Distro | None:
    """Load the vendor distribution called ``name`` from the ``trunkline.distro`` group.

    ``from_variable`` says the name came from ``TRUNKLINE_DISTRO`` (errors then name the
    variable); otherwise it came from code, such as a vendor's ``main(distro=...)``.
    """
    if not name:
        return None
    available = {ep.name: ep for ep in _entry_points(DISTRO_GROUP)}
    if name not in available:
        if from_variable:
            known = ", ".join(sorted(available)) or "none installed"
            raise PluginError(f'TRUNKLINE_DISTRO: unknown distribution "{name}" (known: {known})')
        known = ", ".join(sorted(available)) or "none"
        raise PluginError(
            f'distribution "{name}" is not installed: no entry point "{name}" in the group '
            f"{DISTRO_GROUP} (installed: {known})"
        )
    ep = available[name]
    try:
        distro = ep.load()
    except Exception as exc:
        where = f" in distribution {ep.dist.name} {ep.dist.version}" if ep.dist else ""
        raise PluginError(
            f'distribution "{name}" ({ep.value}{where}) failed to import: '
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(distro, Distro):
        raise PluginError(
            f'distribution "{name}": the entry point {ep.value} holds '
            f"{type(distro).__name__} {distro!r:.60}, not a trunkline.Distro"
        )
    if distro.name != name:
        raise PluginError(
            f'distribution "{name}": the entry point holds Distro(name="{distro.name}"); '
            "the two names must be the same"
        )
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
    pm.distro = find_distro(distro or env.get("TRUNKLINE_DISTRO"), from_variable=not distro)

    entry_points = {ep.name: ep for ep in _entry_points(ENTRY_POINT_GROUP)}
    known = set(BUILTIN_PLUGINS) | set(entry_points)

    allow = _split(env.get("TRUNKLINE_PLUGINS"))
    source_of_allow = "TRUNKLINE_PLUGINS"
    if not allow and pm.distro is not None and pm.distro.plugins is not None:
        allow, source_of_allow = list(pm.distro.plugins), f'distribution "{pm.distro.name}"'
    for name in allow:
        if name not in known:
            listing = ", ".join(sorted(known))
            where = "" if source_of_allow == "TRUNKLINE_PLUGINS" else " in its plugins"
            raise PluginError(
                f'{source_of_allow}: unknown plugin "{name}"{where} (installed: {listing})'
            )
    # Disabling a plugin that is not installed is not an error: a distribution may disable
    # what some of its users have installed, and there is nothing to keep out otherwise.
    if pm.distro is not None:
        for name in pm.distro.disable:
            pm.disabled.setdefault(name, f'distribution "{pm.distro.name}"')
    for name in _split(env.get("TRUNKLINE_DISABLE_PLUGINS")):
        pm.disabled.setdefault(name, "TRUNKLINE_DISABLE_PLUGINS")
    autoload = not env.get("TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD")

    for name, module_name in BUILTIN_PLUGINS.items():
        if name in pm.disabled:
            pm.set_blocked(name)
            pm.not_loaded[name] = _disabled_by(pm.disabled[name])
            pm._unloaded[name] = _importer(module_name)
            continue
        module = importlib.import_module(module_name)
        pm.register_plugin(
            module, name, info=PluginInfo(name=name, module=module_name, source="builtin")
        )

    for name, ep in entry_points.items():
        if name in pm.disabled:
            pm.not_loaded[name] = _disabled_by(pm.disabled[name])
        elif allow and name not in allow:
            pm.not_loaded[name] = (
                "not in TRUNKLINE_PLUGINS (add it there to load it)"
                if source_of_allow == "TRUNKLINE_PLUGINS"
                else f"not among the plugins of {source_of_allow} (name it in TRUNKLINE_PLUGINS "
                "to load it anyway)"
            )
        elif not allow and not autoload:
            pm.not_loaded[name] = (
                "not loaded because TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD is set (name it in "
                "TRUNKLINE_PLUGINS to load it)"
            )
        else:
            pm.register_plugin(_load_entry_point(ep), name, info=_info(ep))
            continue
        pm._unloaded[name] = ep.load

    for name, plugin in extra:
        pm.register_plugin(plugin, name)
    pm.check()
    return pm


def _disabled_by(source: str) -> str:
    if source == "TRUNKLINE_DISABLE_PLUGINS":
        return f"disabled by {source} (remove it from there to load it)"
    return f"disabled by {source}"


def _importer(module_name: str) -> Callable[[], object]:
    return lambda: importlib.import_module(module_name)


class _UnloadedAdapters(Mapping[str, str]):
    """Adapter name -> why it is missing, for the channels of plugins that were not loaded."""

    def __init__(
        self, loaders: Mapping[str, Callable[[], object]], reasons: Mapping[str, str]
    ) -> None:
        self._loaders = loaders
        self._reasons = reasons
        self._found: dict[str, str] | None = None

    def _adapters(self) -> dict[str, str]:
        if self._found is None:
            self._found = {}
            for name, load in self._loaders.items():
                for adapter in _channels_of(name, load):
                    self._found.setdefault(adapter, f'its plugin "{name}" is {self._reasons[name]}')
        return self._found

    def __getitem__(self, adapter: str) -> str:
        return self._adapters()[adapter]

    def __iter__(self) -> Iterator[str]:
        return iter(self._adapters())

    def __len__(self) -> int:
        return len(self._adapters())


def _channels_of(name: str, load: Callable[[], object]) -> list[str]:
    """The adapter names an unloaded plugin registers, asked of it in a scratch manager."""
    try:
        scratch = pluggy.PluginManager(hookspecs.PROJECT)
        scratch.add_hookspecs(hookspecs)
        scratch.register(load(), name=name)
        return [
            adapter.name
            for result in scratch.hook.trunkline_register_channels()
            for adapter in result or ()
        ]
    except Exception:  # a plugin that cannot say is one we cannot blame
        log.debug('plugin "%s" (not loaded) could not list its channels', name, exc_info=True)
        return []


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
