"""The email channel adapter: one place where mail from SMTP or IMAP becomes a stored message,
and where an agent's reply becomes mail to the relay.

:meth:`EmailChannel.deliver` is the inbound pipeline, and it returns the SMTP reply: the raw
bytes and every part are kept by hash first, then loops are refused, automatic mail and
authenticity results are recorded as contact attributes, a bounce is attached to the contact
of the message that bounced, the thread is found, and the runtime stores the message. Only when
the runtime's ``Ack`` is back is the answer 250; a temporary store failure is 451, a filter's
refusal 550, a header or sender that is not UTF-8 (no store can keep it) 554. The channel runs
on asyncio only (aiosmtpd, aiosmtplib and aioimaplib are asyncio libraries); on trio ``run``
says so.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import anyio
import anyio.abc
import attrs

from trunkline import (
    Ack,
    Address,
    Attachment,
    Capabilities,
    InboundHandler,
    InboundMalformed,
    InboundMessage,
    InboundRejected,
    OutboundMessage,
    PermanentSendError,
    Receipt,
    TemporaryFailure,
    check_text,
)

from . import auth_results, bounces, loops, outbound, threads
from .files import BlobStore
from .parse import ParsedMail, parse_mail
from .settings import EmailSettings
from .state import MailState

__all__ = ["ADDRESS_KIND", "RUNNING", "EmailChannel", "EmailSettings"]

log = logging.getLogger("trunkline_email")

ADDRESS_KIND = "email"
RAW_NAME = "original.eml"  # the whole message as received, attached to every stored email
UNKNOWN_SENDER = "unknown-sender@invalid"
RECENT = 1000

#: Running channels by (workspace, instance), for the plugin's classify hook.
RUNNING: weakref.WeakValueDictionary[tuple[str, str], EmailChannel] = weakref.WeakValueDictionary()


class EmailChannel:
    """An email channel: SMTP in, IMAP polling in, SMTP relay out."""

    name: ClassVar[str] = "email"
    kind: str = "email"
    capabilities: Capabilities = Capabilities(
        inbound=True,
        outbound=True,
        attachments=True,
        rich_text=False,
        dedupe_key=True,
        max_body_length=10 * 1024 * 1024,
    )
    Settings: ClassVar[type[EmailSettings]] = EmailSettings

    def __init__(self, settings: EmailSettings, *, instance: str, workspace: str) -> None:
        self.settings = settings
        self.instance = instance
        self.workspace = workspace
        # No body can be longer than the message that carries it: the size limit is declared
        # as the body limit, so core never hands send() a reply the relay would refuse for size.
        self.capabilities = attrs.evolve(
            type(self).capabilities, max_body_length=settings.max_message_bytes
        )
        data = Path(settings.data_dir).absolute()
        self.blobs = BlobStore(data / "files")
        self.state_path = data / "state.sqlite3"
        self.what = f'email channel "{instance}"'
        self.smtp_port: int | None = None
        self.poller: Any = None
        self._state: MailState | None = None
        self._inbound: InboundHandler | None = None
        self._receipts: collections.OrderedDict[str, Receipt] = collections.OrderedDict()

    @property
    def state(self) -> MailState:
        if self._state is None:
            self._state = MailState(self.state_path)
        return self._state

    # The adapter protocol -----------------------------------------------------------------

    async def run(
        self,
        inbound: InboundHandler,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen for SMTP and poll IMAP (as configured) until cancelled."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                f"{self.what}: the email channel runs on asyncio only (aiosmtpd, aiosmtplib "
                "and aioimaplib are asyncio libraries); run Trunkline on asyncio"
            ) from None
        from .smtp_server import SmtpServer

        self._inbound = inbound
        _ = self.state  # open (and create) the state now, not on the first message
        server = None
        RUNNING[(self.workspace, self.instance)] = self
        try:
            if self.settings.smtp_enabled:
                server = SmtpServer(self.settings, self.deliver_smtp)
                await server.start()
                self.smtp_port = server.port
                log.info("%s: SMTP on %s:%s", self.what, self.settings.smtp_host, server.port)
            async with anyio.create_task_group() as tasks:
                if self.settings.imap_host:
                    from .imap import ImapPoller

                    self.poller = ImapPoller(self.settings, self.state, self.deliver_raw)
                    tasks.start_soon(self.poller.run)
                task_status.started()
                await anyio.sleep_forever()
        finally:
            self._inbound = None
            RUNNING.pop((self.workspace, self.instance), None)
            if server is not None:
                with anyio.CancelScope(shield=True):
                    await server.close()

    async def send(self, to: Address, message: OutboundMessage) -> Receipt:
        """Send an agent's reply through the relay; the provider id is its Message-ID.

        A ``dedupe_key`` already sent (by this channel, across restarts) is not sent again.
        """
        if to.kind != ADDRESS_KIND or "@" not in to.value:
            raise PermanentSendError(
                f'{self.what}: cannot reach {to} (expected an address of kind "{ADDRESS_KIND}")'
            )
        if not self.settings.from_address:
            raise PermanentSendError(
                f"{self.what}: no from_address is configured, so replies cannot be sent; "
                "set from_address (and relay_host) in the channel's settings"
            )
        local = to.value.partition("@")[0].lower()
        if local in ("mailer-daemon", "postmaster", "mail-daemon") or to.value == UNKNOWN_SENDER:
            raise PermanentSendError(
                f"{self.what}: {to.value} is an automatic sender; replies to it would bounce "
                "or loop (RFC 3834)"
            )
        key = message.dedupe_key
        if key is not None and key in self._receipts:
            return self._receipts[key]
        state = self.state
        if key is not None and (known := state.sent_message_by_key(key)) is not None:
            return Receipt(provider_id=known)
        thread = state.contact(message.contact_id)
        token = thread.thread if thread is not None else None
        message_id = outbound.new_message_id(self.settings.domain)
        mime = outbound.build_reply(
            settings=self.settings,
            to=to.value,
            body=message.body,
            subject=message.subject,
            trunkline_id=message.message_id,
            thread=thread,
            token=token,
            attachments=message.attachments,
            blobs=self.blobs,
            message_id=message_id,
        )
        await outbound.relay(self.settings, mime, to.value)
        state.remember_outbound(
            message_id=message_id,
            thread=token or threads.token_for(message_id),
            contact_id=message.contact_id,
            trunkline_id=message.message_id,
            dedupe_key=key,
        )
        receipt = Receipt(provider_id=message_id)
        if key is not None:
            self._receipts[key] = receipt
            if len(self._receipts) > RECENT:
                self._receipts.popitem(last=False)
        return receipt

    async def read_attachment(self, sha256: str) -> bytes | None:
        """The content of a file a mail carried, for the agent desktop; None if not kept."""
        try:
            return await anyio.to_thread.run_sync(self.blobs.get, sha256)
        except (OSError, ValueError):
            return None

    async def aclose(self) -> None:
        if self._state is not None:
            self._state.close()
            self._state = None

    # Inbound ------------------------------------------------------------------------------

    async def deliver_smtp(
        self, raw: bytes, envelope_sender: str, recipients: Sequence[str], peer: str
    ) -> str:
        """What the SMTP server calls for each message; returns the reply line."""
        return await self.deliver(raw, envelope_sender=envelope_sender)

    async def deliver_raw(self, raw: bytes) -> str:
        """What the IMAP poller calls for each message (no envelope)."""
        if len(raw) > self.settings.max_message_bytes:
            return self._too_big()
        return await self.deliver(raw, envelope_sender=None)

    def _too_big(self) -> str:
        return f"552 5.3.4 Message too big: the limit is {self.settings.max_message_bytes} bytes"

    async def deliver(self, raw: bytes, *, envelope_sender: str | None) -> str:
        """Store one message; the SMTP reply says how it went (2xx, 4xx retry, 5xx refused)."""
        handler = self._inbound
        if handler is None:
            return f"451 4.3.2 {self.what} is not running; try again later"
        settings = self.settings
        mail = parse_mail(raw)
        try:
            _check_headers(mail)  # before the thread is looked up by them
        except InboundMalformed as exc:
            return _malformed(exc)
        reason = loops.loop(
            mail, domain=settings.domain, max_received=settings.max_received_headers
        )
        if reason is not None:
            log.warning("%s: refused a looping message %s: %s", self.what, mail.message_id, reason)
            return f"554 5.4.6 Mail loop detected: {reason}"
        attributes: dict[str, Any] = {}
        results = auth_results.authentication_results(mail, settings.trusted_authserv_ids)
        if settings.verify_dkim:
            results["dkim"] = await anyio.to_thread.run_sync(auth_results.dkim_verify, raw)
        attributes.update(auth_results.verdict(results))
        automatic = loops.noise(mail, envelope_sender)
        attributes["email_auto_reply"] = automatic is None
        if automatic is not None:
            attributes["email_automatic"] = automatic
        bounce = bounces.parse_bounce(mail)
        sender = mail.sender or (envelope_sender or "").lower() or UNKNOWN_SENDER
        thread = threads.thread_of(mail, self.state)
        body = mail.text
        subject = mail.subject
        failed: str | None = None
        if bounce is not None:
            thread, body, original = self._bounce(bounce, thread, body)
            attributes["email_bounce"] = bounce.failed
            failed = original if bounce.failed else None
        try:
            stored = await anyio.to_thread.run_sync(self._keep_files, raw, mail)
        except OSError as exc:
            log.error("%s: cannot keep the message's files: %s", self.what, exc)
            return "451 4.3.0 Cannot store the message now: try again later"
        message = InboundMessage(
            channel=self.instance,
            sender=Address(ADDRESS_KIND, sender),
            sender_name=mail.sender_name,
            body=body,
            subject=subject,
            provider_id=mail.message_id,
            thread_hint=thread,
            attachments=stored,
            attributes=attributes,
            fails_message=failed,
            failure=bounce.describe() if failed and bounce is not None else "",
        )
        try:
            ack = await handler(message)
        except InboundMalformed as exc:  # e.g. an envelope sender that is not UTF-8
            return _malformed(exc)
        except InboundRejected as exc:
            return f"550 5.7.1 Refused: {_oneline(str(exc))}"
        except TemporaryFailure as exc:
            log.warning("%s: message %s not stored: %s", self.what, mail.message_id, exc)
            return "451 4.3.0 Cannot store the message now: try again later"
        try:
            self.state.remember_inbound(
                message_id=mail.message_id,
                thread=thread,
                address=sender,
                contact_id=ack.contact_id,
                subject=subject,
            )
        except Exception:  # the message is stored; only reply threading would suffer
            log.exception("%s: could not index %s for replies", self.what, mail.message_id)
        return _stored(ack)

    def _keep_files(self, raw: bytes, mail: ParsedMail) -> list[Attachment]:
        kept = [
            Attachment(
                filename=part.filename,
                content_type=part.content_type,
                size=len(part.data),
                sha256=self.blobs.put(part.data),
            )
            for part in mail.parts
        ]
        kept.append(
            Attachment(
                filename=RAW_NAME,
                content_type="message/rfc822",
                size=len(raw),
                sha256=self.blobs.put(raw),
            )
        )
        return kept

    def _bounce(
        self, bounce: bounces.Bounce, thread: str, body: str
    ) -> tuple[str, str, str | None]:
        """A bounce joins the thread of the message that bounced; its body says what failed.
        Also returns the id of our message that bounced, when known (core marks it failed)."""
        state = self.state
        original = bounce.trunkline_id
        if bounce.message_id is not None:
            known = state.thread_of_id(bounce.message_id)
            if known is not None:
                thread = known
            original = original or state.sent_message(bounce.message_id)
        what = "could not be delivered" if bounce.failed else "is delayed"
        headline = f"Our message {original or bounce.message_id or '(unknown)'} {what}:"
        if bounce.failed:
            log.warning("%s: %s %s", self.what, headline, bounce.describe())
        return thread, f"{headline}\n{bounce.describe()}\n\n{body}".strip(), original


def _oneline(text: str) -> str:
    return " ".join(text.split())[:400]


def _check_headers(mail: ParsedMail) -> None:
    """Raise InboundMalformed for a header the message is filed by that holds bytes that are
    not UTF-8 (the parser keeps them as lone surrogates, which no database can encode). UTF-8
    itself is read as such (RFC 6532); bytes of another charset must be RFC 2047 encoded."""
    check_text(mail.sender, "the From header", key=True)
    check_text(mail.sender_name, "the From header")
    check_text(mail.subject, "the Subject header")
    check_text(mail.message_id, "the Message-ID header", key=True)
    for name, ids in (("In-Reply-To", mail.in_reply_to), ("References", mail.references)):
        for value in ids:
            check_text(value, f"the {name} header", key=True)


def _malformed(exc: InboundMalformed) -> str:
    """A permanent refusal: sending the same bytes again cannot help (never 4xx)."""
    return f"554 5.6.0 Malformed message: {_oneline(str(exc))}"


def _stored(ack: Ack) -> str:
    if ack.duplicate:
        return f"250 2.0.0 OK: already stored as {ack.message_id} in {ack.contact_id}"
    return f"250 2.0.0 OK: stored as {ack.message_id} in {ack.contact_id}"
