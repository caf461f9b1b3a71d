"""Delivery status notifications (RFC 3464): which of our messages failed, to whom, and why.

A DSN is ``multipart/report; report-type=delivery-status`` with a human part, a
``message/delivery-status`` part (one block of fields per recipient: Final-Recipient, Action,
Status, Diagnostic-Code) and the original message or its headers (``message/rfc822`` or
``text/rfc822-headers``), from which the original Message-ID and our ``X-Trunkline-Message``
header are read. Anything else is not a bounce (``None``).
"""

from __future__ import annotations

import email
import email.message
import email.policy

import attrs

from .parse import ParsedMail, header_text, msgids

__all__ = ["MESSAGE_HEADER", "Bounce", "Failure", "parse_bounce"]

MESSAGE_HEADER = "X-Trunkline-Message"  # the Trunkline message id, on everything we send


@attrs.frozen
class Failure:
    """One recipient's outcome."""

    recipient: str
    action: str  # failed, delayed, delivered, relayed, expanded
    status: str  # e.g. 5.1.1
    diagnostic: str


@attrs.frozen
class Bounce:
    """A parsed DSN. ``message_id`` and ``trunkline_id`` identify the original message."""

    message_id: str | None
    trunkline_id: str | None
    recipients: tuple[Failure, ...]

    @property
    def failed(self) -> bool:
        """True when at least one recipient failed for good (not merely delayed)."""
        return any(r.action == "failed" for r in self.recipients)

    def describe(self) -> str:
        """A line per recipient, for the agent."""
        lines = []
        for r in self.recipients:
            why = f" ({r.diagnostic})" if r.diagnostic else ""
            lines.append(f"{r.action} to {r.recipient or 'unknown recipient'}: {r.status}{why}")
        return "\n".join(lines) or "delivery report without recipients"


def _field(block: email.message.Message, name: str) -> str:
    value = block.get(name)
    return "" if value is None else header_text(str(value))


def _after_type(value: str) -> str:
    """``rfc822; a@b`` → ``a@b``."""
    return value.split(";", 1)[1].strip() if ";" in value else value.strip()


def _original_headers(part: email.message.Message) -> email.message.Message | None:
    if part.get_content_type() == "message/rfc822":
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], email.message.Message):
            return payload[0]
    if part.get_content_type() == "text/rfc822-headers":
        raw = part.get_payload(decode=True)
        if isinstance(raw, bytes):
            return email.message_from_bytes(raw, policy=email.policy.default)
    return None


def parse_bounce(mail: ParsedMail) -> Bounce | None:
    """The DSN in ``mail``, or None when it is not one. Never raises."""
    msg = mail.message
    if msg is None:
        return None
    try:
        if msg.get_content_type() != "multipart/report":
            return None
        if str(msg.get_param("report-type", "")).lower() != "delivery-status":
            return None
        recipients: list[Failure] = []
        original: email.message.Message | None = None
        for part in msg.walk():
            if part.get_content_type() == "message/delivery-status":
                blocks = part.get_payload()
                if not isinstance(blocks, list):
                    continue
                for block in blocks[1:]:  # the first block is per-message
                    if not isinstance(block, email.message.Message):
                        continue
                    recipient = _after_type(
                        _field(block, "final-recipient") or _field(block, "original-recipient")
                    )
                    recipients.append(
                        Failure(
                            recipient=recipient.lower(),
                            action=_field(block, "action").lower(),
                            status=_field(block, "status"),
                            diagnostic=_after_type(_field(block, "diagnostic-code"))[:500],
                        )
                    )
            elif original is None:
                original = _original_headers(part)
        message_id = trunkline_id = None
        if original is not None:
            ids = msgids(str(original.get("message-id", "") or ""))
            message_id = ids[0] if ids else None
            trunkline_id = str(original.get(MESSAGE_HEADER, "") or "").strip() or None
        return Bounce(
            message_id=message_id, trunkline_id=trunkline_id, recipients=tuple(recipients)
        )
    except Exception:
        return None
