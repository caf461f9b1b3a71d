"""One fold of events: a class whose methods each handle some event types, dispatched by type.

Live figures (:class:`~trunkline.metrics.Metrics`) and historical reports
(:class:`~trunkline.reports.ReportFold`) read the same events; each marks its handlers with
:func:`handles`, and :class:`Fold` maps every event type to its handler once per class, when
the class is created. :meth:`Fold.apply` is then one dictionary lookup on the event's class:
the simulator folds every event of every simulated contact through it.

Dispatch is on the event's exact class, as the log stores it: an event type without a handler
is ignored (a fold reads only what it needs), and so is a subclass of a handled type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar

from .events import Event

__all__ = ["Fold", "handles"]

_Handler = TypeVar("_Handler", bound=Callable[..., None])
_MARK = "__trunkline_handles__"
_GENERATED = "__trunkline_dispatch__"


def handles(*types: type[Event]) -> Callable[[_Handler], _Handler]:
    """Mark a method of a :class:`Fold` as the handler of ``types``: ``handler(self, event)``."""
    if not types:
        raise TypeError("handles() needs at least one event type")
    for kind in types:
        if not (isinstance(kind, type) and issubclass(kind, Event)):
            raise TypeError(f"handles({kind!r}): not an event type (a subclass of Event)")

    def mark(handler: _Handler) -> _Handler:
        setattr(handler, _MARK, (*getattr(handler, _MARK, ()), *types))
        return handler

    return mark


class Fold:
    """Folds events one at a time into the state of a subclass.

    ``handlers`` maps each event type to the method marked ``@handles(EventType)``, over the
    class and its bases; a subclass may override a handler by defining a method of the same
    name (marked again or not), or handle a type its base handles with another method. Two
    methods of one class that handle the same type are an error when the class is created.
    """

    handlers: ClassVar[Mapping[type[Event], Callable[[Any, Any], None]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names: dict[type[Event], str] = {}
        for base in reversed(cls.__mro__):
            mine: dict[type[Event], str] = {}
            for name, value in vars(base).items():
                for kind in getattr(value, _MARK, ()):
                    if kind in mine:
                        raise TypeError(
                            f"{base.__qualname__}: {kind.__name__} is handled by both "
                            f"{mine[kind]} and {name}"
                        )
                    mine[kind] = name
            names.update(mine)
        # By name, so that a subclass's override of a handler is the one called.
        cls.handlers = handlers = {kind: getattr(cls, name) for kind, name in names.items()}
        if getattr(cls.apply, _GENERATED, False) or cls.apply is Fold.apply:
            cls.apply = _dispatcher(handlers)  # type: ignore[method-assign]

    def apply(self, event: Event) -> None:
        """Fold one event in. An event of a type with no handler is ignored."""
        handler = self.handlers.get(type(event))
        if handler is not None:
            handler(self, event)

    def apply_all(self, events: Iterable[Event]) -> None:
        """Fold ``events`` in, in order (through :meth:`apply`, which a subclass may extend)."""
        apply = self.apply
        for event in events:
            apply(event)


def _dispatcher(handlers: Mapping[type[Event], Callable[[Any, Any], None]]) -> Any:
    """:meth:`Fold.apply` with the class's table in a closure rather than read from ``self``:
    the simulator's hot path, where that attribute lookup cost some 5% of the fold. A class
    that defines ``apply`` itself (to see every event first) keeps its own, and its
    ``super().apply`` is the generic one."""
    get = handlers.get

    def apply(self: Fold, event: Event) -> None:
        handler = get(type(event))
        if handler is not None:
            handler(self, event)

    apply.__doc__ = Fold.apply.__doc__
    setattr(apply, _GENERATED, True)
    return apply
