"""IMAP polling (aioimaplib) for mailboxes hosted elsewhere: UID-based, idempotent, restartable.

Each round logs in, selects the mailbox and reads its UIDVALIDITY. When the state knows the
mailbox under that UIDVALIDITY, the round fetches ``UID <last+1>:*``; the first time, or after
the server renumbered the mailbox (UIDVALIDITY changed), it fetches the ``UNSEEN`` messages.
Each message is fetched with ``BODY.PEEK[]`` (fetching does not mark it read), delivered the
way SMTP delivers, and only then marked ``\\Seen`` or moved to ``imap_move_to``; the last UID
is saved after each one. A temporary failure stops the round before that message, so it is
fetched again next round. Delivering twice is harmless: the Message-ID is the provider id, and
the runtime answers a redelivery as a duplicate.
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from .settings import EmailSettings
from .state import MailState

__all__ = ["ImapPoller"]

log = logging.getLogger("trunkline_email")

_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")

# raw bytes -> SMTP-style reply ("250 …" stored, "5xx …" refused for good, "4xx …" retry)
DeliverRaw = Callable[[bytes], Awaitable[str]]


class ImapError(Exception):
    """The IMAP server said no; the message says to what."""


def _ok(response: Any, what: str) -> Any:
    if response.result != "OK":
        lines = b" ".join(bytes(line) for line in response.lines[-1:]).decode("utf-8", "replace")
        raise ImapError(f"IMAP {what} failed: {response.result} {lines}")
    return response


class ImapPoller:
    def __init__(self, settings: EmailSettings, state: MailState, deliver: DeliverRaw) -> None:
        self.settings = settings
        self.state = state
        self.deliver = deliver
        self.rounds = 0  # completed rounds, for tests and health checks
        self.last_error: str | None = None

    async def run(self) -> None:
        """Poll until cancelled; a failed round is logged and retried after the interval."""
        while True:
            try:
                await self.poll_once()
                self.last_error = None
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "email: polling %s@%s failed: %s",
                    self.settings.imap_username,
                    self.settings.imap_host,
                    self.last_error,
                )
            self.rounds += 1
            await anyio.sleep(self.settings.imap_poll_interval)

    def _client(self) -> Any:
        import aioimaplib  # type: ignore[import-untyped]  # here: keep the entry point light

        s = self.settings
        if s.imap_ssl:
            return aioimaplib.IMAP4_SSL(
                host=s.imap_host, port=s.imap_port, ssl_context=ssl.create_default_context()
            )
        return aioimaplib.IMAP4(host=s.imap_host, port=s.imap_port)

    async def poll_once(self) -> int:
        """One round; returns how many messages were delivered (stored or refused for good)."""
        s = self.settings
        assert s.imap_password is not None
        client = self._client()
        try:
            await client.wait_hello_from_server()
            _ok(await client.login(s.imap_username, s.imap_password.get()), "LOGIN")
            selected = _ok(await client.select(s.imap_mailbox), f"SELECT {s.imap_mailbox}")
            validity = next(
                (
                    int(m.group(1))
                    for line in selected.lines
                    if (m := _UIDVALIDITY.search(bytes(line)))
                ),
                0,
            )
            position = self.state.imap_position(s.imap_mailbox)
            if position is not None and position[0] == validity:
                last = position[1]
                found = _ok(await client.uid_search("UID", f"{last + 1}:*"), "UID SEARCH")
            else:
                last = 0
                found = _ok(await client.uid_search("UNSEEN"), "UID SEARCH")
            uids = sorted(
                {int(u) for u in bytes(found.lines[0]).split() if u.isdigit() and int(u) > last}
            )
            done = 0
            for uid in uids:
                fetched = _ok(await client.uid("fetch", str(uid), "(BODY.PEEK[])"), "UID FETCH")
                raw = next((bytes(x) for x in fetched.lines if isinstance(x, bytearray)), None)
                if raw is None:
                    log.warning("email: IMAP UID %d has no body; skipped", uid)
                    self.state.set_imap_position(s.imap_mailbox, validity, uid)
                    continue
                reply = await self.deliver(raw)
                if reply.startswith("4"):
                    log.warning("email: IMAP UID %d not stored (%s); next round", uid, reply)
                    break
                if not reply.startswith("2"):
                    log.warning("email: IMAP UID %d refused: %s", uid, reply)
                await self._processed(client, uid)
                self.state.set_imap_position(s.imap_mailbox, validity, uid)
                done += 1
            return done
        finally:
            with anyio.move_on_after(5, shield=True):
                try:
                    await client.logout()
                except Exception:
                    log.debug("email: IMAP logout failed", exc_info=True)

    async def _processed(self, client: Any, uid: int) -> None:
        target = self.settings.imap_move_to
        if not target:
            _ok(await client.uid("store", str(uid), "+FLAGS", "(\\Seen)"), "UID STORE \\Seen")
            return
        if "MOVE" in client.protocol.capabilities:
            _ok(await client.uid("move", str(uid), target), f"UID MOVE {target}")
            return
        _ok(await client.uid("copy", str(uid), target), f"UID COPY {target}")
        _ok(await client.uid("store", str(uid), "+FLAGS", "(\\Deleted \\Seen)"), "UID STORE")
        _ok(await client.expunge(), "EXPUNGE")
