"""The desk commands: what agents, supervisors and apps ask of a workspace's routing (status,
offers, ending and closing contacts, transfers), private notes, and replies into the outbox."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .. import events as ev
from ..channels import TemporaryFailure
from ..errors import TrunklineError
from ..model import AgentStatus, Attachment, Direction, Message, new_id
from ..routing import (
    AbandonContact,
    AcceptOffer,
    CloseContact,
    Command,
    EndContact,
    RejectOffer,
    SetAgentStatus,
    TransferContact,
)

if TYPE_CHECKING:
    from .desk import Desk
    from .outbox import Outbox
    from .protocols import PluginRuntime

__all__ = ["Commands"]


class Commands:
    """Each command is decided under the workspace's lock and returns once it is stored."""

    def __init__(self, runtime: PluginRuntime, desk: Callable[[str], Desk], outbox: Outbox) -> None:
        self.runtime = runtime
        self._desk = desk
        self._outbox = outbox

    async def command(self, workspace: str, command: Command) -> list[ev.Event]:
        """Send a routing command to a workspace's engine and commit what it decides."""
        desk = self._desk(workspace)
        async with desk.lock:
            if not desk.owned:
                raise TemporaryFailure(
                    f'workspace "{workspace}" is routed by another node; send routing commands '
                    "to the node that holds its lease"
                )
            events = await desk.decide(command, self.runtime.clock.now())
            pending = desk.submit(events)
        await pending.stored()
        return events

    # Agents -------------------------------------------------------------------------------

    async def set_agent_status(
        self, workspace: str, agent_id: str, status: AgentStatus | str, reason: str | None = None
    ) -> list[ev.Event]:
        return await self.command(workspace, SetAgentStatus(agent_id, AgentStatus(status), reason))

    async def accept(self, workspace: str, offer_id: str) -> list[ev.Event]:
        return await self.command(workspace, AcceptOffer(offer_id))

    async def reject(self, workspace: str, offer_id: str, reason: str = "") -> list[ev.Event]:
        return await self.command(workspace, RejectOffer(offer_id, reason))

    async def end_contact(self, workspace: str, contact_id: str) -> list[ev.Event]:
        return await self.command(workspace, EndContact(contact_id))

    async def close_contact(
        self, workspace: str, contact_id: str, disposition: str | None = None
    ) -> list[ev.Event]:
        return await self.command(workspace, CloseContact(contact_id, disposition))

    async def transfer(
        self, workspace: str, contact_id: str, queue: str | None = None, agent: str | None = None
    ) -> list[ev.Event]:
        return await self.command(workspace, TransferContact(contact_id, queue, agent))

    async def abandon(self, workspace: str, contact_id: str) -> list[ev.Event]:
        return await self.command(workspace, AbandonContact(contact_id))

    # Private notes ------------------------------------------------------------------------

    async def add_note(
        self,
        workspace: str,
        contact_id: str,
        text: str,
        *,
        author: str,
        agent_id: str | None = None,
    ) -> ev.NoteAdded:
        """Store a private note on a contact (open or not) as :class:`~trunkline.events.NoteAdded`.

        A note is for the centre only: nothing reaches the outbox or the customer's channel.
        Raises :class:`TrunklineError` for an unknown contact or an empty text.
        """
        if not text.strip():
            raise TrunklineError("a note needs some text")
        if await self.runtime.store.contact(workspace, contact_id) is None:
            raise TrunklineError(f'unknown contact "{contact_id}" in workspace "{workspace}"')
        desk = self._desk(workspace)
        note = ev.NoteAdded(
            workspace=workspace,
            at=self.runtime.clock.now(),
            contact_id=contact_id,
            note_id=new_id("nt"),
            author=author,
            agent_id=agent_id,
            text=text,
        )
        await desk.commit([note])
        return note

    # Outbound -----------------------------------------------------------------------------

    async def reply(
        self,
        workspace: str,
        contact_id: str,
        body: str,
        *,
        subject: str = "",
        attachments: Sequence[Attachment] = (),
    ) -> Message:
        """Write a message to the contact's customer into the outbox; the worker sends it.

        A body longer than the channel's ``max_body_length`` is refused with a
        :class:`TrunklineError` naming the limit, and nothing is stored: what is stored, shown
        to agents and in the customer's history is what the channel delivers.
        """
        contact = await self.runtime.store.contact(workspace, contact_id)
        if contact is None:
            raise TrunklineError(f'unknown contact "{contact_id}" in workspace "{workspace}"')
        adapter = self.runtime.channels.get(contact.channel)
        limit = None if adapter is None else adapter.capabilities.max_body_length
        if limit is not None and len(body) > limit:
            raise TrunklineError(
                f"the reply is {len(body)} characters long; channel "
                f'"{contact.channel}" carries at most {limit}: shorten it or split it'
            )
        message = Message(
            id=new_id("ms"),
            workspace=workspace,
            contact_id=contact_id,
            direction=Direction.OUTBOUND,
            channel=contact.channel,
            body=body,
            attachments=tuple(attachments),
            created_at=self.runtime.clock.now(),
            metadata={"subject": subject} if subject else {},
        )
        desk = self._desk(workspace)
        queued = ev.OutboundQueued(
            workspace=workspace, at=message.created_at, message=message, to=contact.address
        )
        await desk.commit([queued])
        self._outbox.wake()
        return message
