"""Mail that must not be answered automatically (RFC 3834), and mail that is looping.

:func:`noise` names why a message is automatic — a bounce (null sender, MAILER-DAEMON), an
``Auto-Submitted`` value other than ``no``, ``Precedence: bulk|list|junk``, a ``List-Id`` — so
the contact is marked and nothing answers it by itself. :func:`loop` names why a message is our
own mail come back (our ``X-Loop`` token, a Message-ID we generated) or has travelled through
too many hops (``Received`` headers beyond the limit); such mail is refused at SMTP (554 5.4.6).
"""

from __future__ import annotations

from .parse import ParsedMail, msgids

__all__ = ["OUR_PREFIX", "loop", "loop_token", "noise"]

OUR_PREFIX = "tl."  # local part prefix of every Message-ID this channel generates
_DAEMONS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon")


def loop_token(domain: str) -> str:
    """The ``X-Loop`` value this channel stamps on what it sends."""
    return f"trunkline@{domain}"


def noise(mail: ParsedMail, envelope_sender: str | None) -> str | None:
    """Why ``mail`` is automatic and must get no automatic answer; None for a person's mail.

    ``envelope_sender`` is the SMTP ``MAIL FROM`` ("" for the null sender ``<>``), or None
    when the message did not come over SMTP (IMAP: the Return-Path header stands in for it).
    """
    if envelope_sender is None:
        path = mail.header("return-path")
        envelope_sender = None if path is None else path.strip().strip("<>").strip()
    if envelope_sender == "":
        return "bounce: null sender <>"
    for who in (envelope_sender or "", mail.sender):
        if who.partition("@")[0].lower() in _DAEMONS:
            return f"bounce: from {who}"
    auto = mail.header("auto-submitted")
    if auto is not None and auto.split(";")[0].strip().lower() not in ("no", ""):
        return f"Auto-Submitted: {auto.split(';')[0].strip().lower()}"
    precedence = (mail.header("precedence") or "").strip().lower()
    if precedence in ("bulk", "list", "junk"):
        return f"Precedence: {precedence}"
    if mail.header("list-id") is not None:
        return "List-Id: mailing list"
    if mail.header("x-autoreply") is not None or mail.header("x-autorespond") is not None:
        return "X-Autoreply"
    return None


def loop(mail: ParsedMail, *, domain: str, max_received: int) -> str | None:
    """Why ``mail`` is looping, or None. Replies that *reference* our mail are not loops:
    only our own ``X-Loop`` token or our own Message-ID on the message itself are."""
    token = loop_token(domain).lower()
    if any(value.strip().lower() == token for value in mail.all("x-loop")):
        return f"X-Loop: {token} (our own mail came back)"
    own = msgids(mail.header("message-id"))
    if (
        own
        and own[0].lower().startswith(f"<{OUR_PREFIX}")
        and own[0].lower().endswith(f"@{domain.lower()}>")
    ):
        return f"Message-ID {own[0]} is one this channel generated"
    hops = len(mail.all("received"))
    if hops > max_received:
        return f"{hops} Received headers (more than {max_received}): a mail loop"
    return None
