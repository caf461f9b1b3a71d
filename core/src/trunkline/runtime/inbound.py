"""The inbound pipeline: normalise → filter → resolve the customer → thread → the inbound
steps' claims → classify → durable append (with the routing decision, in one batch) →
acknowledge.

The pipeline names no feature: what surveys and delivery reports add to it are
:class:`~trunkline.runtime.steps.InboundStep` objects their built-in plugins register.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from .. import events as ev
from .. import hookspecs
from ..channels import Ack, InboundMessage, InboundRejected, TemporaryFailure, check_inbound
from ..model import Contact, Customer, Direction, Message, new_id
from ..routing import Classification, EnqueueContact
from .steps import Claim, InboundStep, Intake

if TYPE_CHECKING:
    from .desk import Desk
    from .protocols import PluginRuntime

__all__ = ["Inbound"]

log = logging.getLogger("trunkline.runtime")


class Inbound:
    """Takes what channels receive into the store and the routing."""

    def __init__(
        self,
        runtime: PluginRuntime,
        desk: Callable[[str], Desk],
        *,
        workspaces: Mapping[str, str],
        queues: Mapping[str, str | None],
        steps: Sequence[InboundStep] = (),
    ) -> None:
        self.runtime = runtime
        self._desk = desk
        self._workspace_of = workspaces  # channel instance -> workspace
        self._queue_of = queues  # channel instance -> its configured queue
        self.steps = tuple(steps)
        self._conversations: dict[tuple[str, str], list[Any]] = {}  # thread -> [lock, users]

    async def receive(self, message: InboundMessage) -> Ack:
        """The inbound pipeline. Returns only once the message is stored durably.

        Raises :class:`InboundMalformed` when a string of the message cannot be stored (see
        :func:`~trunkline.channels.check_inbound`), :class:`InboundRejected` when a filter
        refuses the message and :class:`TemporaryFailure` when it cannot be stored now (the
        sender should retry).
        """
        runtime = self.runtime
        if message.channel not in runtime.channels:
            raise InboundRejected(f'unknown channel "{message.channel}"')
        # Before any lookup: a string no store can encode would fail there, look like the
        # store's failure, and have the sender retry for ever.
        check_inbound(message)
        workspace = self._workspace_of[message.channel]
        desk = self._desk(workspace)
        store = runtime.store
        # Route at the runtime's clock, never the provider's: a message delivered late (a
        # retry, a drifting clock) would otherwise get offers that expired before they were
        # made. The provider's time is kept on the message as the customer's (``sent_at``).
        now = runtime.clock.now()
        sent_at = _provider_time(message)
        pm = runtime.pm
        reason = await pm.acall_first(
            hookspecs.trunkline_inbound_filter, message=message, workspace=workspace
        )
        if reason:
            raise InboundRejected(str(reason))
        key = f"{message.channel}:{message.provider_id}" if message.provider_id else None
        customer = await pm.acall_first(
            hookspecs.trunkline_resolve_customer,
            workspace=workspace,
            address=message.sender,
            message=message,
            store=store,
        )
        if customer is None:
            customer = await store.customer_by_address(workspace, message.sender)
        thread_key = await pm.acall_first(
            hookspecs.trunkline_thread_key,
            message=message,
            workspace=workspace,
            customer=customer or _placeholder(workspace, message),
        )
        if thread_key is None:
            thread_key = f"{message.channel}:{message.thread_hint or message.sender}"

        # One conversation at a time: its lookups, classification and append must not
        # interleave with another message of the same thread (a redelivery has the same
        # thread too). Other conversations go ahead; the workspace's lock is held only
        # around the engine and the append.
        async with self._conversation(workspace, thread_key):
            if key is not None and (seen := await store.seen(workspace, key)):
                return Ack(contact_id=seen[0], message_id=seen[1], duplicate=True)
            out: list[ev.Event] = []
            new_customer = customer is None
            if customer is None:
                customer = Customer(
                    id=new_id("cu"),
                    workspace=workspace,
                    addresses=(message.sender,),
                    name=message.sender_name,
                )
                out.append(ev.CustomerCreated(workspace=workspace, at=now, customer=customer))
            contact = await store.open_contact(workspace, thread_key)
            intake: Intake | None = None
            claim: Claim | None = None
            if self.steps:
                intake = Intake(
                    message=message,
                    workspace=desk.config,
                    customer=customer,
                    new_customer=new_customer,
                    thread_key=thread_key,
                    now=now,
                    runtime=runtime,
                )
                if contact is None:
                    claim = await self._attach(intake)
                    if claim is not None:
                        contact = claim.contact
            new_contact = contact is None
            if contact is None:
                contact = self._new_contact(workspace, message, customer, thread_key, now)
                classification = await self._classify(contact, message)
                contact = self._apply_classification(desk, contact, classification)
                out.append(ev.ContactReceived(workspace=workspace, at=now, contact=contact))
            stored = Message(
                id=new_id("ms"),
                workspace=workspace,
                contact_id=contact.id,
                direction=Direction.INBOUND,
                channel=message.channel,
                body=message.body,
                sender=message.sender,
                attachments=message.attachments,
                provider_id=message.provider_id,
                created_at=now,
                metadata={"subject": message.subject} if message.subject else {},
                sent_at=sent_at,
            )
            out.append(
                ev.MessageReceived(workspace=workspace, at=now, message=stored, idempotency_key=key)
            )
            if claim is not None:
                out += claim.events
            if intake is not None:
                out += await self._after(intake, contact, stored, new_contact)
            try:
                async with desk.lock:
                    if desk.owned:
                        for event in out:
                            desk.engine.apply(event)
                        if new_contact:
                            out += await desk.decide(EnqueueContact(contact), now)
                    pending = desk.submit(out)
                await pending.stored()
            except TemporaryFailure:
                # Another node may have stored the same provider id first: then it is a
                # redelivery, acknowledged as such; otherwise the sender must retry.
                if key is not None and (seen := await store.seen(workspace, key)):
                    return Ack(contact_id=seen[0], message_id=seen[1], duplicate=True)
                raise
        return Ack(contact_id=contact.id, message_id=stored.id, new_contact=new_contact)

    # The steps ----------------------------------------------------------------------------

    async def _attach(self, intake: Intake) -> Claim | None:
        """The first step's claim on a message that matches no open contact."""
        for step in self.steps:
            try:
                claim = await step.attach(intake)
            except TemporaryFailure:
                raise
            except Exception:
                log.exception('inbound step "%s" failed to attach a message; ignored', step.name)
                continue
            if claim is not None:
                return claim
        return None

    async def _after(
        self, intake: Intake, contact: Contact, message: Message, new_contact: bool
    ) -> list[ev.Event]:
        """What every step adds once the message's contact is known."""
        out: list[ev.Event] = []
        for step in self.steps:
            try:
                out += await step.after(intake, contact, message, new_contact=new_contact)
            except TemporaryFailure:
                raise
            except Exception:
                log.exception('inbound step "%s" failed after a message; ignored', step.name)
        return out

    # The parts ----------------------------------------------------------------------------

    @asynccontextmanager
    async def _conversation(self, workspace: str, thread_key: str) -> AsyncIterator[None]:
        """A lock per conversation, kept only while someone holds or waits for it."""
        slot = (workspace, thread_key)
        entry = self._conversations.get(slot)
        if entry is None:
            entry = self._conversations[slot] = [anyio.Lock(), 0]
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if not entry[1]:
                del self._conversations[slot]

    def _new_contact(
        self,
        workspace: str,
        message: InboundMessage,
        customer: Customer | None,
        thread_key: str,
        now: float,
    ) -> Contact:
        return Contact(
            id=new_id("ct"),
            workspace=workspace,
            channel=message.channel,
            channel_kind=self.runtime.channels[message.channel].kind,
            direction=Direction.INBOUND,
            customer_id=customer.id if customer is not None else "",
            address=message.sender,
            subject=message.subject,
            attributes=message.attributes,
            thread_key=thread_key,
            created_at=now,
        )

    async def _classify(self, contact: Contact, message: InboundMessage) -> Classification:
        merged = Classification()
        for result in await self.runtime.pm.acall_each(
            hookspecs.trunkline_classify, contact=contact, message=message
        ):
            if not isinstance(result, Classification):
                log.error("trunkline_classify returned %r, not a Classification; ignored", result)
                continue
            merged = Classification(
                attributes={**merged.attributes, **result.attributes},
                priority=result.priority if result.priority is not None else merged.priority,
                required_skills=result.required_skills
                if result.required_skills is not None
                else merged.required_skills,
                language=result.language or merged.language,
                queue=result.queue or merged.queue,
            )
        return merged

    def _apply_classification(self, desk: Desk, contact: Contact, c: Classification) -> Contact:
        contact = attrs.evolve(
            contact,
            attributes={**contact.attributes, **c.attributes},
            priority=c.priority if c.priority is not None else contact.priority,
            required_skills=c.required_skills
            if c.required_skills is not None
            else contact.required_skills,
            language=c.language or contact.language,
        )
        queues = {q.id: q for q in desk.config.queues}
        queue = c.queue if c.queue in queues else None
        if c.queue and queue is None:
            log.error(
                'classification chose unknown queue "%s" for contact %s; ignored',
                c.queue,
                contact.id,
            )
        if queue is None:
            picked = self.runtime.pm.call_first(
                hookspecs.trunkline_select_queue, contact=contact, queues=queues
            )
            queue = picked if picked in queues else None
        if queue is None:
            queue = self._queue_of.get(contact.channel) or next(iter(queues), None)
        if queue is None:
            raise InboundRejected(f'workspace "{contact.workspace}" has no queue to route to')
        return attrs.evolve(contact, queue=queue)


def _provider_time(message: InboundMessage) -> float | None:
    """The message's ``received_at`` if it is a time at all; a channel's bad value is logged
    and dropped rather than costing the customer's message."""
    value = message.received_at
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    log.warning(
        'channel "%s": received_at %r is not a time in seconds since the epoch; ignored',
        message.channel,
        value,
    )
    return None


def _placeholder(workspace: str, message: InboundMessage) -> Customer:
    """A customer not yet created, so thread-key hooks always receive one."""
    return Customer(
        id="", workspace=workspace, addresses=(message.sender,), name=message.sender_name
    )
