"""The email channel's settings (``[workspaces.<w>.channels.<name>.settings]``), checked on load.

Every field is documented in ``docs/channels/email.md``; keep the two in step.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from trunkline import Secret, secret

__all__ = ["EmailSettings"]

_DOMAIN = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+")


def _at_least(minimum: float) -> Any:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
        if value < minimum:
            raise ValueError(f"{attribute.name} must be at least {minimum}, got {value}")

    return check


def _port(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if not 0 <= value <= 65535:
        raise ValueError(f"{attribute.name} must be a TCP port from 0 to 65535, got {value}")


def _domain(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not _DOMAIN.fullmatch(value):
        raise ValueError(f'{attribute.name}: "{value}" is not a domain name, e.g. "cc.example.com"')


def _address_or_empty(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if value and not _ADDRESS.fullmatch(value):
        raise ValueError(
            f'{attribute.name}: "{value}" is not an email address, e.g. "support@cc.example.com"'
        )


def _recipients(instance: Any, attribute: attrs.Attribute[tuple[str, ...]], value: Any) -> None:
    for item in value:
        if not (_ADDRESS.fullmatch(item) or (item.startswith("@") and _DOMAIN.fullmatch(item[1:]))):
            raise ValueError(
                f'addresses: "{item}" is neither an address ("support@cc.example.com") nor a '
                'whole domain ("@cc.example.com")'
            )


def _lower_tuple(value: Any) -> tuple[str, ...]:
    return tuple(str(v).lower() for v in value)


def _both_or_neither(instance: EmailSettings, attribute: attrs.Attribute[str], value: str) -> None:
    if bool(instance.tls_cert) != bool(instance.tls_key):
        raise ValueError("tls_cert and tls_key go together: set both for STARTTLS, or neither")


@attrs.frozen
class EmailSettings:
    """Settings of an email channel. See ``docs/channels/email.md`` for each field."""

    # Inbound SMTP ------------------------------------------------------------------------
    smtp_enabled: bool = True
    smtp_host: str = "127.0.0.1"
    smtp_port: int = attrs.field(default=2525, validator=_port)  # 0: any free port
    hostname: str = attrs.field(default="localhost", validator=_domain)
    addresses: tuple[str, ...] = attrs.field(
        default=(), converter=_lower_tuple, validator=_recipients
    )
    max_message_bytes: int = attrs.field(default=10 * 1024 * 1024, validator=_at_least(1024))
    max_recipients: int = attrs.field(default=50, validator=_at_least(1))
    tls_cert: str = ""
    tls_key: str = attrs.field(default="", validator=_both_or_neither)
    require_tls: bool = False
    auth_username: str = ""
    auth_password: Secret | None = secret()
    auth_required: bool = False
    timeout: float = attrs.field(default=300.0, validator=_at_least(1))

    # Loops, noise and authenticity ---------------------------------------------------------
    max_received_headers: int = attrs.field(default=30, validator=_at_least(1))
    trusted_authserv_ids: tuple[str, ...] = attrs.field(default=(), converter=_lower_tuple)
    verify_dkim: bool = False
    review_queue: str = ""

    # Threading and outbound ----------------------------------------------------------------
    domain: str = attrs.field(default="localhost", validator=_domain)
    from_address: str = attrs.field(default="", validator=_address_or_empty)
    from_name: str = ""
    subject_token: bool = True
    relay_host: str = "127.0.0.1"
    relay_port: int = attrs.field(default=25, validator=_port)
    relay_starttls: bool = False
    relay_username: str = ""
    relay_password: Secret | None = secret()
    relay_timeout: float = attrs.field(default=30.0, validator=_at_least(1))

    # IMAP polling ---------------------------------------------------------------------------
    imap_host: str = ""  # empty: no polling
    imap_port: int = attrs.field(default=993, validator=_port)
    imap_ssl: bool = True
    imap_username: str = ""
    imap_password: Secret | None = secret()
    imap_mailbox: str = "INBOX"
    imap_move_to: str = ""  # empty: mark \\Seen and leave in place
    imap_poll_interval: float = attrs.field(default=60.0, validator=_at_least(0.05))

    # Storage --------------------------------------------------------------------------------
    data_dir: str = "email-data"

    def __attrs_post_init__(self) -> None:
        if self.auth_required and not (self.auth_username and self.auth_password):
            raise ValueError("auth_required needs auth_username and auth_password")
        if (self.auth_username or self.auth_password) and not self.tls_cert:
            raise ValueError("SMTP AUTH is offered only over TLS: set tls_cert and tls_key as well")
        if self.require_tls and not self.tls_cert:
            raise ValueError("require_tls needs tls_cert and tls_key")
        if self.imap_host and not (self.imap_username and self.imap_password):
            raise ValueError("imap_host needs imap_username and imap_password")
        if not self.data_dir.strip():
            raise ValueError("data_dir must not be empty")
