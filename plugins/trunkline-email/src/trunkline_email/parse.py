"""Raw RFC 5322 bytes to what a contact center needs: who, subject, readable text, files, ids.

Parsing uses the standard library's ``email`` package with ``policy.default`` and never raises:
a header that cannot be decoded falls back to its raw text, a part whose charset is unknown is
read as UTF-8 with replacement characters, and a message the parser cannot make sense of at all
becomes its own bytes as text. The chosen body is the ``text/plain`` alternative, else the
``text/html`` one made into text (:mod:`~trunkline_email.html_text`); every other leaf part
(attachments, inline images, forwarded messages) is returned as a :class:`Part` to be kept by
hash. RFC 2047 encoded words in headers, UTF-8 headers (RFC 6532) and non-UTF-8 charsets in bodies
are decoded; header bytes that are not UTF-8 are kept as lone surrogates, which the channel
refuses (554).
"""

from __future__ import annotations

import email
import email.header
import email.message
import email.policy
import email.utils
import hashlib
import re
from collections.abc import Iterator

import attrs

from .html_text import html_to_text

__all__ = ["ParsedMail", "Part", "header_text", "msgids", "parse_mail"]

_MSGID = re.compile(r"<([^<>\s]{1,900})>")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_ID = 900  # longer ids are cut: they are keys in the store, not prose


@attrs.frozen
class Part:
    """One leaf part that is not the body: an attachment, an inline image, a forwarded mail."""

    filename: str
    content_type: str
    data: bytes
    inline: bool = False
    content_id: str = ""


@attrs.frozen(eq=False)
class ParsedMail:
    """What :func:`parse_mail` found. ``headers`` are ``(lower-case name, raw value)`` pairs."""

    sender: str  # the From address, lower-cased ("" when there is none we can read)
    sender_name: str
    subject: str
    text: str
    message_id: str  # "<id>"; synthesised from the content's hash when the mail has none
    has_message_id: bool
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    parts: tuple[Part, ...]
    headers: tuple[tuple[str, str], ...]
    defects: int
    message: email.message.EmailMessage | None  # None when the bytes could not be parsed

    def header(self, name: str) -> str | None:
        """The first raw value of a header (unfolded), or None."""
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def all(self, name: str) -> list[str]:
        """Every raw value of a header, in order."""
        name = name.lower()
        return [value for key, value in self.headers if key == name]


def _unfold(value: str) -> str:
    return _utf8(re.sub(r"\r?\n[ \t]", " ", value).strip())


def _utf8(value: str) -> str:
    """Header bytes the parser kept as lone surrogates (``surrogateescape``), read as UTF-8,
    which headers may be as they are (RFC 6532). Bytes that are not UTF-8 stay as they were:
    no store can keep them, and the channel refuses such a message with a 5xx."""
    if value.isascii():
        return value
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeError:
        return value


def header_text(raw: str) -> str:
    """A header's raw value with RFC 2047 encoded words decoded; never raises."""
    try:
        decoded = str(email.header.make_header(email.header.decode_header(_unfold(raw))))
    except Exception:
        decoded = _unfold(raw)
    return _CONTROL.sub(" ", decoded).strip()


def msgids(raw: str | None) -> tuple[str, ...]:
    """The ``<id>`` tokens of a Message-ID, In-Reply-To or References value, in order."""
    if not raw:
        return ()
    return tuple(f"<{m}>" for m in _MSGID.findall(raw))


def _payload_text(part: email.message.Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, str):
            return content
    except Exception:
        pass
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        payload = str(part.get_payload()).encode("utf-8", "replace")
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")


def _payload_bytes(part: email.message.Message) -> bytes:
    if part.get_content_maintype() == "message":
        try:
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], email.message.Message):
                return inner[0].as_bytes(policy=email.policy.SMTP)
        except Exception:
            pass
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    return str(part.get_payload()).encode("utf-8", "surrogateescape")


def _filename(part: email.message.Message, index: int) -> str:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if name:
        name = header_text(name)
        name = re.sub(r"[\\/\x00-\x1f]", "_", name).strip(" .") or ""
    if not name:
        subtype = part.get_content_subtype() if part.get_content_maintype() != "message" else "eml"
        name = f"part-{index}.{re.sub(r'[^a-z0-9]+', '', subtype) or 'bin'}"
    return name[:200]


def _named(part: email.message.Message) -> bool:
    try:
        return bool(part.get_filename())
    except Exception:
        return True


def _alternatives_of(msg: email.message.Message, body: email.message.Message | None) -> set[int]:
    """The parts that are only other renderings of the chosen body (its HTML twin…)."""
    if body is None:
        return set()
    for part in msg.walk():
        if part.get_content_type() != "multipart/alternative":
            continue
        payload = part.get_payload()
        if isinstance(payload, list) and any(body is p for p in payload):
            return {id(leaf) for leaf in _leaves(part)}
    return set()


def _leaves(msg: email.message.Message) -> Iterator[email.message.Message]:
    """Leaf parts, with a forwarded message (message/rfc822) kept whole as one leaf."""
    if msg.get_content_maintype() == "message" and msg is not None:
        yield msg
        return
    if msg.is_multipart():
        payload = msg.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, email.message.Message):
                    yield from _leaves(sub)
        return
    yield msg


def _address(raw: str | None) -> tuple[str, str]:
    if not raw:
        return "", ""
    try:
        pairs = email.utils.getaddresses([_unfold(raw)])
    except Exception:
        return "", ""
    for name, address in pairs:
        if "@" in address:
            return header_text(name), _CONTROL.sub("", address).strip().lower()[:320]
    return "", ""


def parse_mail(raw: bytes) -> ParsedMail:
    """Parse ``raw`` (a whole message, headers and body); never raises."""
    digest = hashlib.sha256(raw).hexdigest()
    synthetic = f"<sha256.{digest}@trunkline.invalid>"
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, email.message.EmailMessage)
        return _parse(msg, synthetic)
    except Exception:
        text = raw.decode("utf-8", "replace")
        head, _, body = text.replace("\r\n", "\n").partition("\n\n")
        return ParsedMail(
            sender="",
            sender_name="",
            subject="",
            text=(body or head).strip(),
            message_id=synthetic,
            has_message_id=False,
            in_reply_to=(),
            references=(),
            parts=(),
            headers=(),
            defects=1,
            message=None,
        )


def _parse(msg: email.message.EmailMessage, synthetic: str) -> ParsedMail:
    headers = tuple((str(k).lower(), _unfold(str(v))) for k, v in msg.raw_items())

    def first(name: str) -> str | None:
        return next((v for k, v in headers if k == name), None)

    sender_name, sender = _address(first("from"))
    if not sender:
        sender_name, sender = _address(first("sender"))
    ids = msgids(first("message-id"))
    message_id = ids[0][:MAX_ID] if ids else synthetic
    body_part: email.message.Message | None = None
    try:
        body_part = msg.get_body(preferencelist=("plain", "html"))
    except Exception:
        body_part = None
    if body_part is None and not msg.is_multipart() and msg.get_content_maintype() == "text":
        body_part = msg
    text = ""
    if body_part is not None:
        text = _payload_text(body_part)
        if body_part.get_content_subtype() == "html":
            text = html_to_text(text)
        elif not text.strip():
            # An empty plain alternative: take the HTML one when there is one.
            try:
                html = msg.get_body(preferencelist=("html",))
            except Exception:
                html = None
            if html is not None:
                text = html_to_text(_payload_text(html))
    parts: list[Part] = []
    defects = len(msg.defects)
    skip = _alternatives_of(msg, body_part)
    for index, leaf in enumerate(_leaves(msg), start=1):
        if leaf is body_part or id(leaf) in skip:
            continue
        defects += len(getattr(leaf, "defects", ()))
        try:
            disposition = (leaf.get_content_disposition() or "").lower()
        except Exception:
            disposition = ""
        content_type = leaf.get_content_type()
        if content_type == "text/plain" and disposition != "attachment" and not _named(leaf):
            more = _payload_text(leaf).strip()  # e.g. the text after an inline image
            if more:
                text = f"{text.rstrip()}\n\n{more}" if text.strip() else more
            continue
        content_id = msgids(str(leaf.get("content-id", "") or ""))
        parts.append(
            Part(
                filename=_filename(leaf, index),
                content_type=content_type,
                data=_payload_bytes(leaf),
                inline=disposition == "inline"
                or (bool(content_id) and disposition != "attachment"),
                content_id=content_id[0] if content_id else "",
            )
        )
    return ParsedMail(
        sender=sender,
        sender_name=sender_name,
        subject=header_text(first("subject") or "")[:998],
        text=text.replace("\r\n", "\n").strip(),
        message_id=message_id,
        has_message_id=bool(ids),
        in_reply_to=tuple(i[:MAX_ID] for i in msgids(first("in-reply-to"))),
        references=tuple(i[:MAX_ID] for i in msgids(first("references")))[-50:],
        parts=tuple(parts),
        headers=headers,
        defects=defects,
        message=msg,
    )
