"""The channel adapter: receives from the provider, hands messages to Trunkline, sends replies.

As shipped, the "provider" is an in-memory queue, so the plugin runs and passes the
conformance suite before any real code is written. Each ``TODO`` marks where the provider's
calls go: connect in ``run``, normalise its payloads in ``_normalise``, acknowledge it after
the runtime's handler returned, deliver in ``send``, disconnect in ``aclose``.
"""

from __future__ import annotations

import math
from typing import ClassVar

import anyio
import anyio.abc
import attrs

from trunkline import (
    Ack,
    Address,
    Capabilities,
    InboundHandler,
    InboundMessage,
    OutboundMessage,
    PermanentSendError,
    Receipt,
    Secret,
    secret,
)

__all__ = ["TemplateChannel", "TemplateSettings"]

# TODO: what the provider's addresses are: "e164" for phone numbers, "email", a user id kind…
ADDRESS_KIND = "template"


@attrs.frozen
class TemplateSettings:
    """The channel's settings: ``[workspaces.<w>.channels.<name>.settings]`` in the config.

    TODO: what your provider needs (account id, region, webhook path…). Mark credentials with
    ``secret()``: the configuration then takes ``{ env = "VARIABLE" }`` and never prints them.
    """

    api_key: Secret | None = secret()
    max_body_length: int = 1600


@attrs.define
class _ProviderEvent:
    """One inbound item as the provider hands it over (TODO: your SDK's payload instead)."""

    sender: str
    body: str
    provider_id: str | None
    answered: anyio.Event = attrs.field(factory=anyio.Event)
    ack: Ack | None = None
    error: Exception | None = None


class TemplateChannel:
    """TODO: one line about the channel."""

    name: ClassVar[str] = "template"  # used as adapter = "…" in the configuration
    kind: str = "chat"  # TODO: voice, email, chat, sms, fax, social…
    # TODO: declare what the provider can do; the conformance suite tests what you declare.
    capabilities: Capabilities = Capabilities(inbound=True, outbound=True, max_body_length=1600)
    Settings: ClassVar[type[TemplateSettings]] = TemplateSettings

    def __init__(self, settings: TemplateSettings, *, instance: str, workspace: str) -> None:
        self.settings = settings
        self.instance = instance
        self.workspace = workspace
        self.capabilities = attrs.evolve(
            type(self).capabilities, max_body_length=settings.max_body_length
        )
        self.sent: list[tuple[Address, OutboundMessage]] = []  # TODO: drop with the fake provider
        self._to_channel, self._from_provider = anyio.create_memory_object_stream[_ProviderEvent](
            math.inf
        )
        self._counter = 0

    # The adapter protocol -----------------------------------------------------------------

    async def run(
        self,
        inbound: InboundHandler,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Receive until cancelled. Call ``task_status.started()`` once ready to receive."""
        # TODO: connect to the provider here (open the SDK client, start a webhook route or a
        # polling loop). An exception before started() stops the runtime with your message.
        task_status.started()
        async for event in self._from_provider:
            try:
                event.ack = await inbound(self._normalise(event))
                # TODO: only now acknowledge the provider (HTTP 2xx, delete from its queue):
                # the message is stored, and a redelivery would be recognised as a duplicate.
            except Exception as exc:
                # TODO: answer the provider: InboundRejected means refused for good (HTTP 4xx),
                # TemporaryFailure means "try again later" (HTTP 503), ValueError is bad input.
                event.error = exc
            finally:
                event.answered.set()

    async def send(self, to: Address, message: OutboundMessage) -> Receipt:
        """Deliver one message. Raise PermanentSendError when retrying cannot help."""
        if to.kind != ADDRESS_KIND:
            raise PermanentSendError(
                f'channel "{self.instance}": cannot reach {to} (expected kind "{ADDRESS_KIND}")'
            )
        if len(message.body) > self.settings.max_body_length:
            raise PermanentSendError(
                f"body of {len(message.body)} characters exceeds "
                f"max_body_length={self.settings.max_body_length}"
            )
        # TODO: call the provider's send API here. Let network errors and 5xx answers raise as
        # they are (the outbox retries them); turn "bad address" answers into PermanentSendError.
        self._counter += 1
        self.sent.append((to, message))
        return Receipt(provider_id=f"{self.instance}-{self._counter}")  # TODO: the provider's id

    async def aclose(self) -> None:
        """Release connections; called once when the runtime stops."""
        # TODO: close the SDK client.
        self._to_channel.close()
        self._from_provider.close()

    # From the provider's payload to Trunkline's message -----------------------------------

    def _normalise(self, event: _ProviderEvent) -> InboundMessage:
        """TODO: map your provider's payload; raise ValueError naming what is wrong."""
        if not event.sender.strip():
            raise ValueError(f'channel "{self.instance}": the sender must not be empty')
        if len(event.body) > self.settings.max_body_length:
            raise ValueError(
                f'channel "{self.instance}": body of {len(event.body)} characters exceeds '
                f"max_body_length={self.settings.max_body_length}"
            )
        return InboundMessage(
            channel=self.instance,
            sender=Address(ADDRESS_KIND, event.sender),
            body=event.body,
            provider_id=event.provider_id,  # the provider's id: redeliveries are recognised
        )

    # The fake provider (TODO: delete once the real provider is wired in) ------------------

    async def simulate_inbound(self, sender: str, body: str, provider_id: str | None = None) -> Ack:
        """Act as the provider: hand over one message and wait for the runtime's answer."""
        event = _ProviderEvent(sender=sender, body=body, provider_id=provider_id)
        await self._to_channel.send(event)
        await event.answered.wait()
        if event.error is not None:
            raise event.error
        assert event.ack is not None
        return event.ack
