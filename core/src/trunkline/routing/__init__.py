"""Routing: the engine (an ACD), its commands, the strategy protocol and explanations.

The public names live here; the modules below are the engine's parts:
:mod:`.commands` (what callers ask), :mod:`.strategy` (how a queue orders agents),
:mod:`.state` (the projection and its indexes), :mod:`.engine` (decisions) and
:mod:`.explain` ("why this agent, why not that one").
"""

from __future__ import annotations

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
