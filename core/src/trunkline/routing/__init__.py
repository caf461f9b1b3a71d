"""Routing: the engine (an ACD), its commands, the strategy protocol and explanations.

The public names live here; the modules below are the engine's parts:
:mod:`.commands` (what callers ask), :mod:`.strategy` (how a queue orders agents),
:mod:`.state` (the projection and its indexes), :mod:`.engine` (decisions) and
:mod:`.explain` ("why this agent, why not that one").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .commands import (
        AbandonContact,
        AcceptOffer,
        Classification,
        CloseContact,
        Command,
        EndContact,
        EnqueueContact,
        RejectOffer,
        SetAgentStatus,
        Tick,
        TransferContact,
    )
    from .engine import Router, RoutingEngine, RoutingError, RoutingHooks
    from .explain import AgentVerdict, Explanation, explain_contact, explain_from_log
    from .state import ContactView
    from .strategy import AgentView, QueueView, Strategy

# Imported on first use (PEP 562): `import trunkline.routing` stays quick, and a plugin or a
# command pays only for the parts it touches.
_EXPORTS = {
    "AbandonContact": ".commands",
    "AcceptOffer": ".commands",
    "AgentVerdict": ".explain",
    "AgentView": ".strategy",
    "Classification": ".commands",
    "CloseContact": ".commands",
    "Command": ".commands",
    "ContactView": ".state",
    "EndContact": ".commands",
    "EnqueueContact": ".commands",
    "Explanation": ".explain",
    "QueueView": ".strategy",
    "RejectOffer": ".commands",
    "Router": ".engine",
    "RoutingEngine": ".engine",
    "RoutingError": ".engine",
    "RoutingHooks": ".engine",
    "SetAgentStatus": ".commands",
    "Strategy": ".strategy",
    "Tick": ".commands",
    "TransferContact": ".commands",
    "explain_contact": ".explain",
    "explain_from_log": ".explain",
}


__all__ = [
    "AbandonContact",
    "AcceptOffer",
    "AgentVerdict",
    "AgentView",
    "Classification",
    "CloseContact",
    "Command",
    "ContactView",
    "EndContact",
    "EnqueueContact",
    "Explanation",
    "QueueView",
    "RejectOffer",
    "Router",
    "RoutingEngine",
    "RoutingError",
    "RoutingHooks",
    "SetAgentStatus",
    "Strategy",
    "Tick",
    "TransferContact",
    "explain_contact",
    "explain_from_log",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
