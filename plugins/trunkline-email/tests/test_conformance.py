"""The email channel passes Trunkline's channel conformance suite, driven over real SMTP.

``inject`` sends the sample as a mail client would, with aiosmtplib to the channel's SMTP
port: the sample's provider id is the Message-ID, and a sender's later samples are replies
(In-Reply-To and References name their first message), because in email a second message
joins a conversation by replying to it. The ``Ack`` is read from the 250 reply, which names
the stored message and its contact. ``sent`` is what reached a bare SMTP server standing in
for the relay. The suite runs on asyncio only: aiosmtpd and aiosmtplib are asyncio libraries.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import re
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiosmtplib
import pytest

from trunkline import Ack, Address, OutboundMessage, Receipt, Runtime
from trunkline.testing.suite import WORKSPACE, ChannelConformance, Sample
from trunkline_email.adapter import EmailChannel

from .conftest import Sink, sink

DOMAIN = "conformance.test"
SETTINGS = {
    "smtp_port": 0,
    "max_message_bytes": 8192,
    "from_address": "support@cc.test",
    "domain": "cc.test",
}
_STORED = re.compile(r"stored as (ms_\w+) in (ct_\w+)")


class SmtpRefused(Exception):
    """The channel's SMTP server refused; the message is its reply."""


class TestEmailChannel(ChannelConformance):
    adapter = EmailChannel
    settings = SETTINGS  # data_dir and relay_port: set when running

    runtime: Runtime
    relay: Sink
    roots: dict[str, str]  # sender -> Message-ID of their first sample
    watched: dict[str, tuple[str, str | None]]  # message id -> (contact id, dedupe key)

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"

    @asynccontextmanager
    async def running(self) -> AsyncIterator[tuple[Runtime, Any]]:
        with tempfile.TemporaryDirectory() as data:
            async with sink() as relay:
                self.settings = {**SETTINGS, "data_dir": data, "relay_port": relay.port}
                async with super().running() as (runtime, channel):
                    self.runtime, self.relay, self.roots, self.watched = runtime, relay, {}, {}
                    self._watch_sends(channel)
                    yield runtime, channel

    def _watch_sends(self, channel: EmailChannel) -> None:
        send = channel.send

        async def watched(to: Address, message: OutboundMessage) -> Receipt:
            self.watched.setdefault(message.message_id, (message.contact_id, message.dedupe_key))
            return await send(to, message)

        channel.send = watched  # type: ignore[method-assign]

    async def inject(self, channel: EmailChannel, sample: Sample) -> Ack:
        msg = email.message.EmailMessage(policy=email.policy.SMTP)
        sender = f"{sample.sender}@{DOMAIN}"
        msg["From"] = sender
        msg["To"] = "support@cc.test"
        msg["Subject"] = sample.subject or "conformance"
        message_id = f"<{sample.provider_id or id(sample)}@{DOMAIN}>"
        msg["Message-ID"] = message_id
        root = self.roots.setdefault(sample.sender, message_id)
        if root != message_id:
            msg["In-Reply-To"] = root
            msg["References"] = root
        msg.set_content(sample.body)
        for attachment, content in sample.attachments:
            kind, _, sub = attachment.content_type.partition("/")
            msg.add_attachment(content, maintype=kind, subtype=sub, filename=attachment.filename)
        try:
            _, reply = await aiosmtplib.send(
                msg, hostname="127.0.0.1", port=channel.smtp_port, timeout=10
            )
        except aiosmtplib.SMTPResponseException as exc:
            raise SmtpRefused(f"{exc.code} {exc.message}") from None
        found = _STORED.search(reply)
        assert found is not None, reply
        message_id_stored, contact_id = found.groups()
        duplicate = "already stored" in reply
        messages = await self.runtime.store.messages(WORKSPACE, contact_id)
        return Ack(
            contact_id=contact_id,
            message_id=message_id_stored,
            duplicate=duplicate,
            new_contact=not duplicate and messages[0].id == message_id_stored,
        )

    def sent(self, channel: EmailChannel) -> Sequence[tuple[Address, OutboundMessage]]:
        found = []
        for _sender, recipients, raw in self.relay.received:
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(msg, email.message.EmailMessage)
            message_id = str(msg["X-Trunkline-Message"])
            contact_id, dedupe_key = self.watched.get(message_id, ("", None))
            body = msg.get_body(preferencelist=("plain",))
            assert body is not None
            found.append(
                (
                    Address("email", recipients[0]),
                    OutboundMessage(
                        message_id=message_id,
                        contact_id=contact_id,
                        body=body.get_content(),
                        subject=str(msg["Subject"]),
                        dedupe_key=dedupe_key,
                    ),
                )
            )
        return found

    async def inject_malformed(self, channel: EmailChannel) -> None:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=channel.smtp_port) as smtp:
            code, text = await smtp.execute_command(b"MAIL", b"FROM:")
        raise SmtpRefused(f"{code} {text}")
