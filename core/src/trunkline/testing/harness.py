"""Building blocks shared by the fixtures and the conformance suite."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio
import attrs
import pluggy

from .. import hookspecs
from ..clock import Clock
from ..config import SettingsRegistry, config_from_dict
from ..events import Event
from ..plugins import PluginManager
from ..runtime import EngineFactory, Runtime
from ..store import Store

__all__ = ["HookCall", "HookRecorder", "build_runtime", "wait_for_event"]


@attrs.frozen
class HookCall:
    """One recorded hook call: its name and keyword arguments."""

    name: str
    kwargs: Mapping[str, Any]


class HookRecorder:
    """Records every hook call made through a plugin manager (pluggy's call monitoring).

    Isolated calls made by core (``call_each``, ``acall_first``…) are recorded as well.
    """

    def __init__(self, pm: PluginManager) -> None:
        self.calls: list[HookCall] = []
        self._pm = pm
        self._undo = pm.add_hookcall_monitoring(self._before, self._after)
        self._original = {
            name: getattr(pm, name)
            for name in ("call_each", "call_first", "acall_each", "acall_first")
        }
        for name, method in self._original.items():
            setattr(pm, name, self._wrap(method))

    def _wrap(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def record(hook: Callable[..., Any] | str, /, **kwargs: Any) -> Any:
            name = hook if isinstance(hook, str) else hook.__name__
            self.calls.append(HookCall(name, dict(kwargs)))
            return method(hook, **kwargs)

        return record

    def _before(
        self, hook_name: str, hook_impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]
    ) -> None:
        self.calls.append(HookCall(hook_name, dict(kwargs)))

    def _after(self, *args: Any) -> None:
        return None

    def names(self) -> list[str]:
        """The hook names called so far, in order."""
        return [call.name for call in self.calls]

    def get(self, name: str) -> list[HookCall]:
        """The recorded calls of one hook."""
        return [call for call in self.calls if call.name == name]

    def close(self) -> None:
        """Stop recording and restore the plugin manager."""
        self._undo()
        for name in self._original:
            delattr(self._pm, name)


def build_runtime(
    pm: PluginManager,
    data: Mapping[str, Any],
    *,
    clock: Clock | None = None,
    env: Mapping[str, str] | None = None,
    store: Store | None = None,
    serve: bool = False,
    engine_factory: EngineFactory | None = None,
) -> Runtime:
    """A runtime from configuration data (as a TOML file would hold it), checked first with
    the settings the plugins of ``pm`` declare (such as trunkline-web's ``[web]`` and users).

    ``store``, ``serve`` and ``engine_factory`` are passed to :class:`~trunkline.Runtime`
    (``serve=True`` starts the services that listen, such as trunkline-web's HTTP server on
    its configured port; ``port = 0`` picks a free one)."""
    adapters = {a.name: a for a in pm.collect(hookspecs.trunkline_register_channels)}
    strategies = {s.name for s in pm.collect(hookspecs.trunkline_register_strategies)}
    registry = SettingsRegistry()
    pm.hook.trunkline_add_settings.call_historic(kwargs={"registry": registry})
    config = config_from_dict(
        data,
        adapters=adapters,
        strategies=strategies,
        plugin_sections=registry.sections,
        tables=registry.tables,
        workspace_tables=registry.workspace_tables,
        env=env or {},
    )
    if engine_factory is None:
        return Runtime(config, pm, clock=clock, store=store, serve=serve)
    return Runtime(config, pm, clock=clock, store=store, serve=serve, engine_factory=engine_factory)


async def wait_for_event(
    stream: Any, predicate: Callable[[Event], bool], *, within: float = 5.0
) -> Event:
    """Receive from an event stream until ``predicate`` holds; fail after ``within`` seconds."""
    with anyio.fail_after(within):
        async for event in stream:
            if predicate(event):
                found: Event = event
                return found
    raise AssertionError("the event stream closed before the expected event arrived")
