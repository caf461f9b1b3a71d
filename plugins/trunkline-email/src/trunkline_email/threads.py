"""Which conversation an email belongs to: References, In-Reply-To, the subject token.

(Named ``threads`` rather than ``threading`` so it never shadows the standard library.)

A thread is named by a token of ten characters, derived from the Message-ID that started it,
and that token is the thread hint handed to the runtime: core's default thread key is then
``<channel>:<token>``, and a message joins the open contact with that key. The rules, first
match wins:

1. the message's own Message-ID (a redelivery), else an id in In-Reply-To, then References
   (newest first), that this channel has seen — a customer's earlier message or a reply we
   sent — gives that id's thread;
2. a ``[#TOKEN]`` in the subject gives that thread, when the thread is known and the sender
   is the address that started it (a guessed token cannot join someone else's contact);
3. otherwise the thread is new, named after its root: the first References id, else the
   In-Reply-To id, else the message's own Message-ID. So mail replying to a thread the state
   has forgotten still lands in one contact.
"""

from __future__ import annotations

import base64
import hashlib
import re

from .parse import ParsedMail
from .state import MailState

__all__ = ["add_token", "find_token", "reply_subject", "thread_of", "token_for"]

TOKEN_LENGTH = 10
_TOKEN = re.compile(r"\[#([A-Z2-7]{10})\]")
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|vs|antw|réf|ref|fw|fwd|wg)\s*(\[\d+\])?\s*:\s*)+", re.I)


def token_for(root_message_id: str) -> str:
    """The thread token of a thread started by ``root_message_id`` (base32, 10 characters)."""
    digest = hashlib.sha256(root_message_id.strip().lower().encode()).digest()
    return base64.b32encode(digest).decode()[:TOKEN_LENGTH]


def find_token(subject: str) -> str | None:
    """The thread token in a subject (``… [#ABCDEFGH23]``), or None."""
    match = _TOKEN.search(subject)
    return match.group(1) if match else None


def add_token(subject: str, token: str) -> str:
    """``subject`` with ``[#token]`` appended, unless it carries it already."""
    tag = f"[#{token}]"
    if tag in subject:
        return subject
    return f"{subject} {tag}".strip()


def reply_subject(subject: str) -> str:
    """``Re: <subject>`` with earlier reply prefixes (Re:, AW:, Fwd:…) folded into one."""
    rest = _REPLY_PREFIX.sub("", subject).strip()
    return f"Re: {rest}" if rest else "Re: your message"


def thread_of(mail: ParsedMail, state: MailState) -> str:
    """The thread token of ``mail`` by the rules in the module docstring."""
    for message_id in (mail.message_id, *mail.in_reply_to, *reversed(mail.references)):
        known = state.thread_of_id(message_id)
        if known is not None:
            return known
    token = find_token(mail.subject)
    if token is not None and mail.sender and state.thread_owner(token) == mail.sender:
        return token
    if mail.references:
        return token_for(mail.references[0])
    if mail.in_reply_to:
        return token_for(mail.in_reply_to[0])
    return token_for(mail.message_id)
