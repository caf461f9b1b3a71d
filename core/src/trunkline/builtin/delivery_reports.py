"""Built-in plugin: a delivery report (an inbound message with ``fails_message``, such as a
bounce) that joins an open contact fails the outbound message of that contact it names.

The report itself is stored as a message of the contact, as any other (agents see it); this
step adds ``MessageFailed`` for the named message, so the agent sees the reply undelivered.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import ClassVar

from .. import events as ev
from ..hookspecs import hookimpl
from ..model import Contact, Direction, Message
from ..runtime.steps import InboundStep, Intake

log = logging.getLogger("trunkline.runtime")


class DeliveryReports(InboundStep):
    """``MessageFailed`` for the outbound message a delivery report names, if it is one of
    the contact's (see :class:`~trunkline.InboundMessage`); nothing otherwise."""

    name: ClassVar[str] = "delivery-reports"

    async def after(
        self, intake: Intake, contact: Contact, message: Message, *, new_contact: bool
    ) -> Sequence[ev.Event]:
        report = intake.message
        if not report.fails_message or new_contact:
            return ()
        workspace = contact.workspace
        messages = await intake.runtime.store.messages(workspace, contact.id)
        if not any(
            m.id == report.fails_message and m.direction is Direction.OUTBOUND for m in messages
        ):
            log.warning(
                'channel "%s": a delivery report names %s, not an outbound message of %s; '
                "stored as a message only",
                report.channel,
                report.fails_message,
                contact.id,
            )
            return ()
        error = report.failure or "the channel reported it undelivered"
        return (
            ev.MessageFailed(
                workspace=workspace,
                at=intake.now,
                message_id=str(report.fails_message),
                error=error,
            ),
        )


@hookimpl
def trunkline_register_inbound_steps() -> Sequence[InboundStep]:
    return [DeliveryReports()]
