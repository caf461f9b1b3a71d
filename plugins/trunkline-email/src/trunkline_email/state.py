"""The channel's own small database: which Message-IDs belong to which thread, what to put in
a reply's In-Reply-To and References, which of our messages a bounce is about, and how far
IMAP polling has got.

It is a SQLite file in the channel's ``data_dir`` (``state.sqlite3``, WAL). Nothing in it is
needed to keep a customer's message: the runtime's store has every message before SMTP says
250. It only lets threads and replies survive a restart; lost, it is rebuilt as mail arrives
(threading then falls back to the References root, see :mod:`~trunkline_email.threads`).
Calls are short and synchronous: each is one indexed statement.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import attrs

__all__ = ["ContactThread", "MailState"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ids (
    message_id TEXT PRIMARY KEY, thread TEXT NOT NULL, trunkline_id TEXT
);
CREATE TABLE IF NOT EXISTS threads (
    thread TEXT PRIMARY KEY, address TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS contacts (
    contact_id TEXT PRIMARY KEY, thread TEXT NOT NULL, subject TEXT NOT NULL,
    refs TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sent (
    dedupe_key TEXT PRIMARY KEY, message_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS imap (
    mailbox TEXT PRIMARY KEY, uidvalidity INTEGER NOT NULL, last_uid INTEGER NOT NULL
);
"""
MAX_REFERENCES = 20  # ids kept per contact for a reply's References header


@attrs.frozen
class ContactThread:
    """What a reply on a contact needs: its thread, subject and the ids it answers."""

    thread: str
    subject: str
    references: tuple[str, ...]  # oldest first; the last is the one a reply answers


class MailState:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    # Threads ------------------------------------------------------------------------------

    def thread_of_id(self, message_id: str) -> str | None:
        row = self.db.execute(
            "SELECT thread FROM ids WHERE message_id = ?", (message_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def thread_owner(self, thread: str) -> str | None:
        row = self.db.execute("SELECT address FROM threads WHERE thread = ?", (thread,)).fetchone()
        return None if row is None else str(row[0])

    def remember_inbound(
        self, *, message_id: str, thread: str, address: str, contact_id: str, subject: str
    ) -> None:
        """A customer's message was stored on ``contact_id``: index it for replies."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute(
                "INSERT OR IGNORE INTO ids (message_id, thread) VALUES (?, ?)", (message_id, thread)
            )
            self.db.execute(
                "INSERT OR IGNORE INTO threads (thread, address) VALUES (?, ?)", (thread, address)
            )
            self._add_reference(contact_id, thread, subject, message_id)

    def remember_outbound(
        self,
        *,
        message_id: str,
        thread: str,
        contact_id: str,
        trunkline_id: str,
        dedupe_key: str | None = None,
    ) -> None:
        """We sent ``message_id`` (a Trunkline message) on the contact's thread."""
        with self.db:
            self.db.execute("BEGIN")
            if dedupe_key is not None:
                self.db.execute(
                    "INSERT OR REPLACE INTO sent (dedupe_key, message_id) VALUES (?, ?)",
                    (dedupe_key, message_id),
                )
            self.db.execute(
                "INSERT OR REPLACE INTO ids (message_id, thread, trunkline_id) VALUES (?, ?, ?)",
                (message_id, thread, trunkline_id),
            )
            self._add_reference(contact_id, thread, "", message_id)

    def _add_reference(self, contact_id: str, thread: str, subject: str, message_id: str) -> None:
        row = self.db.execute(
            "SELECT subject, refs FROM contacts WHERE contact_id = ?", (contact_id,)
        ).fetchone()
        refs = [] if row is None else str(row[1]).split()
        if message_id not in refs:
            refs.append(message_id)
        if len(refs) > MAX_REFERENCES:  # keep the root and the latest, as RFC 5322 suggests
            refs = refs[:1] + refs[-(MAX_REFERENCES - 1) :]
        self.db.execute(
            "INSERT OR REPLACE INTO contacts (contact_id, thread, subject, refs) "
            "VALUES (?, ?, ?, ?)",
            (contact_id, thread, subject or (str(row[0]) if row else ""), " ".join(refs)),
        )

    def contact(self, contact_id: str) -> ContactThread | None:
        row = self.db.execute(
            "SELECT thread, subject, refs FROM contacts WHERE contact_id = ?", (contact_id,)
        ).fetchone()
        if row is None:
            return None
        return ContactThread(str(row[0]), str(row[1]), tuple(str(row[2]).split()))

    def sent_message(self, message_id: str) -> str | None:
        """The Trunkline message id of a message we sent with this Message-ID."""
        row = self.db.execute(
            "SELECT trunkline_id FROM ids WHERE message_id = ?", (message_id,)
        ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def sent_message_by_key(self, dedupe_key: str) -> str | None:
        """The Message-ID under which the message with this dedupe key was sent, if it was."""
        row = self.db.execute(
            "SELECT message_id FROM sent WHERE dedupe_key = ?", (dedupe_key,)
        ).fetchone()
        return None if row is None else str(row[0])

    # IMAP ---------------------------------------------------------------------------------

    def imap_position(self, mailbox: str) -> tuple[int, int] | None:
        row = self.db.execute(
            "SELECT uidvalidity, last_uid FROM imap WHERE mailbox = ?", (mailbox,)
        ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    def set_imap_position(self, mailbox: str, uidvalidity: int, last_uid: int) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO imap (mailbox, uidvalidity, last_uid) VALUES (?, ?, ?)",
            (mailbox, uidvalidity, last_uid),
        )
