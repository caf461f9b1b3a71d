"""Agents' replies as email: the MIME message, and its hand-over to the SMTP relay.

:func:`build_reply` makes a ``multipart/alternative`` message (the agent's text, and the same
text as simple HTML) with attachments, a generated ``Message-ID`` on the configured domain,
``In-Reply-To`` and ``References`` taken from the contact's thread, the thread token in the
subject, our ``X-Loop`` token and the Trunkline message id. :func:`relay` submits it with
aiosmtplib and sorts failures the way core's outbox expects: a 5xx answer is
:class:`~trunkline.PermanentSendError` (the agent sees it at once); a 4xx answer, a refused
connection or a timeout is :class:`~trunkline.TemporaryFailure`, retried with backoff.
"""

from __future__ import annotations

import email.policy
import email.utils
import html
import re
from collections.abc import Sequence
from email.message import EmailMessage

from trunkline import Attachment, PermanentSendError, TemporaryFailure

from .bounces import MESSAGE_HEADER
from .files import BlobStore
from .loops import OUR_PREFIX, loop_token
from .settings import EmailSettings
from .state import ContactThread
from .threads import add_token, reply_subject

__all__ = ["build_reply", "new_message_id", "relay"]

_URL = re.compile(r"(https?://[^\s<>\"']+)")


def new_message_id(domain: str) -> str:
    """A fresh Message-ID on our domain, recognisable as ours (``<tl.…@domain>``)."""
    return "<" + OUR_PREFIX + email.utils.make_msgid(domain=domain)[1:]


def text_to_html(text: str) -> str:
    """The agent's plain text as a small HTML document: paragraphs, line breaks, links."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        escaped = html.escape(block)
        escaped = _URL.sub(r'<a href="\1">\1</a>', escaped)
        paragraphs.append("<p>" + escaped.replace("\n", "<br>\n") + "</p>")
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body>\n'
        + "\n".join(paragraphs)
        + "\n</body></html>\n"
    )


def build_reply(
    *,
    settings: EmailSettings,
    to: str,
    body: str,
    subject: str,
    trunkline_id: str,
    thread: ContactThread | None,
    token: str | None,
    attachments: Sequence[Attachment],
    blobs: BlobStore,
    message_id: str,
) -> EmailMessage:
    """The reply as a MIME message. Raises PermanentSendError for a missing attachment."""
    msg = EmailMessage(policy=email.policy.SMTP)
    sender = settings.from_address
    msg["From"] = (
        email.utils.formataddr((settings.from_name, sender)) if settings.from_name else sender
    )
    msg["To"] = to
    if not subject:
        subject = reply_subject(thread.subject) if thread and thread.subject else "Your request"
    if settings.subject_token and token:
        subject = add_token(subject, token)
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = message_id
    if thread is not None and thread.references:
        msg["In-Reply-To"] = thread.references[-1]
        msg["References"] = " ".join(thread.references)
    msg["X-Loop"] = loop_token(settings.domain)
    msg[MESSAGE_HEADER] = trunkline_id
    msg.set_content(body)
    msg.add_alternative(text_to_html(body), subtype="html")
    for attachment in attachments:
        try:
            data = blobs.get(attachment.sha256)
        except (FileNotFoundError, ValueError):
            raise PermanentSendError(
                f'attachment "{attachment.filename}" ({attachment.sha256}) is not in the email '
                f"channel's data_dir ({blobs.directory}); attach files the channel has received"
            ) from None
        maintype, _, subtype = attachment.content_type.partition("/")
        if maintype == "message" or not subtype:
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=attachment.filename)
    return msg


async def relay(settings: EmailSettings, msg: EmailMessage, recipient: str) -> str:
    """Submit ``msg`` to the relay; return the relay's answer (e.g. ``250 2.0.0 Ok: queued``)."""
    import aiosmtplib  # imported here: the entry point must stay light

    password = settings.relay_password.get() if settings.relay_password else None
    try:
        _refused, answer = await aiosmtplib.send(
            msg,
            sender=settings.from_address,
            recipients=[recipient],
            hostname=settings.relay_host,
            port=settings.relay_port,
            start_tls=settings.relay_starttls,
            use_tls=False,
            username=settings.relay_username or None,
            password=password,
            timeout=settings.relay_timeout,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        if codes and all(500 <= c < 600 for c in codes):
            raise PermanentSendError(f"the relay refused the recipient: {detail}") from None
        raise TemporaryFailure(f"the relay deferred the recipient: {detail}") from None
    except aiosmtplib.SMTPResponseException as exc:
        if 500 <= exc.code < 600 and not isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            raise PermanentSendError(
                f"the relay refused the message: {exc.code} {exc.message}"
            ) from None
        raise TemporaryFailure(f"the relay answered {exc.code} {exc.message}") from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise TemporaryFailure(
            f"cannot hand the message to the relay {settings.relay_host}:{settings.relay_port}: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    return str(answer)
