"""Entry point of the email plugin (``trunkline.plugins`` → ``email``): its hooks.

Only ``trunkline`` is imported at module level. ``trunkline --help`` imports every plugin's
entry-point module, so aiosmtpd, aiosmtplib and aioimaplib are imported only when a channel
runs, and the adapter only inside the hooks that need it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trunkline import hookimpl

if TYPE_CHECKING:
    from trunkline import ChannelAdapter, Classification, Contact, InboundMessage


@hookimpl
def trunkline_register_channels() -> list[type[ChannelAdapter]]:
    from .adapter import EmailChannel

    return [EmailChannel]


@hookimpl
def trunkline_classify(contact: Contact, message: InboundMessage) -> Classification | None:
    """Send a suspected spoof to the channel's ``review_queue``, when one is configured."""
    if contact.channel_kind != "email" or not message.attributes.get("email_suspected_spoof"):
        return None
    from .adapter import RUNNING

    channel = RUNNING.get((contact.workspace, contact.channel))
    if channel is None or not channel.settings.review_queue:
        return None
    from trunkline import Classification

    return Classification(queue=channel.settings.review_queue)
