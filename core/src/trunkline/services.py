"""Long-running services that plugins add to a runtime: an HTTP server, a coordinator, a poller.

A plugin returns :class:`Service` objects from ``trunkline_register_services(runtime)``; the
runtime starts each in its task group once its channels are up, with
``await task_group.start(service.run)``, so a service says it is ready with
``task_status.started()`` and runs until cancelled. A service that fails to start stops the
runtime's start-up with its error; one that fails later stops the runtime, as a crash of the
runtime itself would: a service is part of the centre, not a channel to restart.

A service that listens on the network (``listens=True``: an HTTP server, say) is started only
by a runtime asked to serve (``Runtime(..., serve=True)``, as ``trunkline serve`` and
``trunkline demo`` do), so an application embedding the runtime opens no port it did not ask
for. Such a service may announce where it is reached: ``task_status.started("http://…/")``
puts the address in ``runtime.addresses[name]``, and ``trunkline serve`` prints it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import attrs

__all__ = ["Service"]


@attrs.frozen
class Service:
    """A named long-running task: ``run(*, task_status)`` is started in the runtime's task
    group and cancelled when the runtime stops."""

    name: str
    run: Callable[..., Coroutine[Any, Any, None]]
    listens: bool = False  # it opens a network listener: started only when the runtime serves
