"""The inbound SMTP server (aiosmtpd): limits, STARTTLS, AUTH, and 250 only once stored.

aiosmtpd parses the protocol; this module sets the limits and answers. ``RCPT`` refuses
addresses the channel does not serve (550 5.1.1) and recipients past ``max_recipients``
(452 4.5.3, so the client sends them in another transaction). ``DATA`` hands the bytes to the
channel, which answers 250 only after the runtime has stored the message. Too large a message
gets 552 with the limit in the reply, whether announced with ``SIZE=`` or found while reading.
The server runs on the running asyncio loop (aiosmtpd is asyncio-only); :class:`SmtpServer`
closes the listener and every open session when the channel stops.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from .settings import EmailSettings

__all__ = ["DeliverFunc", "SmtpServer"]

log = logging.getLogger("trunkline_email")

# (raw bytes, envelope sender or "" for <>, recipients, peer) -> SMTP reply line
DeliverFunc = Callable[[bytes, str, Sequence[str], str], Awaitable[str]]


class _Smtp(SMTP):
    """aiosmtpd's session, with size refusals that say what the limit is (RFC 1870)."""

    def __init__(self, handler: Any, *, on_close: Callable[[_Smtp], None], **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._on_close = on_close

    async def push(self, status: Any) -> None:
        if isinstance(status, str) and status.startswith("552 Error:"):
            status = (
                f"552 5.3.4 Message too big: the limit is {self.data_size_limit} bytes"
                if "fixed maximum" in status or "Too much" in status
                else status
            )
        await super().push(status)

    def connection_lost(self, error: Exception | None) -> None:
        self._on_close(self)
        super().connection_lost(error)


class _Handler:
    def __init__(self, settings: EmailSettings, deliver: DeliverFunc) -> None:
        self.settings = settings
        self.deliver = deliver

    def serves(self, address: str) -> bool:
        wanted = self.settings.addresses
        address = address.lower()
        return not wanted or address in wanted or "@" + address.rpartition("@")[2] in wanted

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        limit = self.settings.max_recipients
        if len(envelope.rcpt_tos) >= limit:
            return f"452 4.5.3 Too many recipients: at most {limit} per message"
        if not self.serves(address):
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        sender = envelope.mail_from or ""
        if sender == "<>":
            sender = ""
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        try:
            return await self.deliver(bytes(raw), sender, list(envelope.rcpt_tos), peer)
        except Exception:
            log.exception("email: delivering a message from %s failed; answered 451", peer)
            return "451 4.3.0 Temporary failure: try again later"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        expected_user = self.settings.auth_username
        password = self.settings.auth_password
        if not isinstance(data, LoginPassword) or not expected_user or password is None:
            return AuthResult(success=False, handled=False)
        ok_user = hmac.compare_digest(data.login, expected_user.encode())
        ok_password = hmac.compare_digest(data.password, password.get().encode())
        return AuthResult(success=ok_user and ok_password, handled=False)


class SmtpServer:
    """One listening SMTP server for one channel."""

    def __init__(self, settings: EmailSettings, deliver: DeliverFunc) -> None:
        self.settings = settings
        self.handler = _Handler(settings, deliver)
        self.server: asyncio.AbstractServer | None = None
        self.sessions: set[_Smtp] = set()
        self.port = settings.smtp_port

    def _tls(self) -> ssl.SSLContext | None:
        if not self.settings.tls_cert:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.settings.tls_cert, self.settings.tls_key)
        return context

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        settings = self.settings
        tls = self._tls()
        authenticating = bool(settings.auth_username)

        def session() -> _Smtp:
            smtp = _Smtp(
                self.handler,
                on_close=self.sessions.discard,
                data_size_limit=settings.max_message_bytes,
                enable_SMTPUTF8=True,
                hostname=settings.hostname,
                ident="Trunkline ESMTP",
                tls_context=tls,
                require_starttls=settings.require_tls,
                timeout=settings.timeout,
                auth_required=settings.auth_required,
                auth_require_tls=True,
                authenticator=self.handler.authenticate if authenticating else None,
                auth_exclude_mechanism=[] if authenticating else ["LOGIN", "PLAIN"],
                loop=loop,
            )
            self.sessions.add(smtp)
            return smtp

        self.server = await loop.create_server(session, settings.smtp_host, settings.smtp_port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        server, self.server = self.server, None
        if server is None:
            return
        server.close()
        for smtp in list(self.sessions):
            transport = smtp.transport
            if transport is not None:
                transport.close()
        self.sessions.clear()
        try:
            await asyncio.wait_for(server.wait_closed(), 1.0)
        except (TimeoutError, asyncio.TimeoutError):  # noqa: UP041 - both exist on 3.11
            log.warning("email: the SMTP listener did not close within a second")
