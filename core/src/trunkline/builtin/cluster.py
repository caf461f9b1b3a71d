"""Built-in plugin: on a store several nodes share, the coordinator of their leases is a service.

See :mod:`trunkline.cluster`. On any other store there is nothing to coordinate: each
workspace is routed by this process alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..hookspecs import hookimpl
from ..services import Service
from ..store import SharedStore

if TYPE_CHECKING:
    from ..runtime import Runtime


@hookimpl
def trunkline_register_services(runtime: Runtime) -> Sequence[Service]:
    store = runtime.store
    if not isinstance(store, SharedStore):
        return []
    from ..cluster import Coordinator

    return [Service("cluster", Coordinator(runtime, store).run)]
