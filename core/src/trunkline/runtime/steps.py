"""Steps plugins add to the runtime's pipelines: inbound steps and decision steps.

An :class:`InboundStep` (``trunkline_register_inbound_steps``) takes part in the inbound
pipeline after the customer and the thread are known: ``attach`` may claim a message that
matches no open contact for an existing contact (a survey answer joins the contact it rates),
and ``after`` may add events once the contact and the stored message are known (a delivery
report fails the outbound message it names). A :class:`DecisionStep`
(``trunkline_register_decision_steps``) adds events to a routing decision, appended in the
same atomic batch (a survey question after a close).

Steps are collected once, when the runtime is built. A step that raises is isolated: the
error is logged with the step's name and the message or decision goes on without it, except
a :class:`~trunkline.TemporaryFailure`, which the inbound pipeline passes to the sender (who
retries).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import attrs

if TYPE_CHECKING:
    from .. import events as ev
    from ..channels import InboundMessage
    from ..config import WorkspaceConfig
    from ..model import Contact, Customer, Message
    from .protocols import DeskView, PluginRuntime

__all__ = ["Claim", "DecisionStep", "InboundStep", "Intake"]


@attrs.frozen
class Intake:
    """An inbound message on its way in, as the steps see it.

    ``customer`` is the sender (``new_customer``: created by this very message, so it has no
    history). ``thread_key`` names its conversation; ``now`` is the runtime's clock.
    """

    message: InboundMessage
    workspace: WorkspaceConfig
    customer: Customer
    new_customer: bool
    thread_key: str
    now: float
    runtime: PluginRuntime


@attrs.frozen
class Claim:
    """An inbound step's claim: the message joins ``contact`` (no new contact is opened) and
    ``events`` are appended after its ``MessageReceived``, in the same batch."""

    contact: Contact
    events: Sequence[ev.Event] = ()


class InboundStep:
    """A step of the inbound pipeline. Subclass it and override what the step needs."""

    name: ClassVar[str] = "inbound-step"

    async def attach(self, intake: Intake) -> Claim | None:
        """Called when the message matches no open contact: claim it for an existing one.

        The first step that returns a :class:`Claim` wins; ``None`` lets the message open a
        new contact as usual.
        """
        return None

    async def after(
        self, intake: Intake, contact: Contact, message: Message, *, new_contact: bool
    ) -> Sequence[ev.Event]:
        """Events to append with the message, once its contact and the stored ``message``
        are known (``new_contact``: the message opens it). Every step's are appended."""
        return ()


class DecisionStep:
    """Adds events to a routing decision, appended in the same batch as the decision.

    ``follows`` names the event types the step reacts to; for each such event of a decision
    :meth:`follow` is called and what it returns goes right after that event. The caller
    holds the workspace's lock: keep it short, and never raise.
    """

    name: ClassVar[str] = "decision-step"
    follows: ClassVar[tuple[type[ev.Event], ...]] = ()

    async def follow(
        self,
        event: ev.Event,
        before: Sequence[ev.Event],
        desk: DeskView,
        runtime: PluginRuntime,
    ) -> Sequence[ev.Event]:
        """Events to add after ``event`` (``before``: the decision's events before it)."""
        return ()
