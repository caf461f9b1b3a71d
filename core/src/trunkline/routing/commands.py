"""Routing commands: what the outside world asks of the engine.

Commands are values. :meth:`trunkline.routing.Router.handle` decides what a command means at a
given time and returns the events that record the decision; the events, not the commands,
are stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ..model import AgentStatus, Contact

__all__ = [
    "AbandonContact",
    "AcceptOffer",
    "Classification",
    "CloseContact",
    "Command",
    "EndContact",
    "EnqueueContact",
    "RejectOffer",
    "SetAgentStatus",
    "Tick",
    "TransferContact",
]


@attrs.frozen
class Classification:
    """What ``trunkline_classify`` returns: routing data to set on a new contact."""

    attributes: Mapping[str, Any] = attrs.field(factory=dict)
    priority: int | None = None
    required_skills: Mapping[str, int] | None = None
    language: str | None = None
    queue: str | None = None


@attrs.frozen
class EnqueueContact:
    """Put a contact (received now, or earlier) in its queue, ``contact.queue``."""

    contact: Contact


@attrs.frozen
class SetAgentStatus:
    """The person (or a supervisor) sets a status: offline, available, or break with a reason."""

    agent_id: str
    status: AgentStatus = attrs.field(converter=AgentStatus)
    reason: str | None = None


@attrs.frozen
class AcceptOffer:
    """The agent takes the offered contact. With several agents offered, the first wins."""

    offer_id: str


@attrs.frozen
class RejectOffer:
    """The agent declines; the contact is routed again without them."""

    offer_id: str
    reason: str = ""


@attrs.frozen
class EndContact:
    """The agent ends the conversation; wrap-up starts.

    With ``agent_id``, only while that agent handles the contact: an agent who passed it on
    (a transfer) can no longer end it for its new agent.
    """

    contact_id: str
    agent_id: str | None = None


@attrs.frozen
class CloseContact:
    """The agent finishes wrap-up, with an optional disposition code.

    With ``agent_id``, only while that agent handles the contact (as for :class:`EndContact`).
    """

    contact_id: str
    disposition: str | None = None
    agent_id: str | None = None


@attrs.frozen
class AbandonContact:
    """The customer left (hung up, closed the chat).

    A waiting or offered contact is abandoned; a contact an agent is handling ends as if the
    agent had ended it.
    """

    contact_id: str


@attrs.frozen
class TransferContact:
    """Pass a contact on to a queue, to one agent, or to both.

    An active contact: its agent hands it on. With ``agent`` set, that agent is offered the
    contact first and, should they decline, the queue (``queue``, or the contact's own)
    routes it as usual.

    A waiting contact (queued, or offered but not yet accepted): a supervisor moves it. With
    ``queue``, it moves to that queue and keeps its waiting time; with ``agent``, that agent
    is offered it at once (open offers are withdrawn), or the command is refused when they
    cannot take it now (not available, an open offer, no room for its channel). Should they
    decline, the contact is back in line where it was.
    """

    contact_id: str
    queue: str | None = None
    agent: str | None = None


@attrs.frozen
class Tick:
    """Time passed: expire offers, wrap-ups and escalation steps whose deadline is due."""


Command = (
    EnqueueContact
    | SetAgentStatus
    | AcceptOffer
    | RejectOffer
    | EndContact
    | CloseContact
    | AbandonContact
    | TransferContact
    | Tick
)
