"""Trunkline: an open-source, plugin-based contact-center routing framework.

This module is the public API; everything importable from here is stable. Channel SDKs are
never imported from here: each channel plugin imports its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

if TYPE_CHECKING:
    from .channels import (
        Ack,
        Capabilities,
        ChannelAdapter,
        InboundHandler,
        InboundMalformed,
        InboundMessage,
        InboundRejected,
        OutboundMessage,
        PermanentSendError,
        ReadsAttachments,
        Receipt,
        Secret,
        SendsSignals,
        Signal,
        TemporaryFailure,
        check_inbound,
        check_text,
        secret,
    )
    from .clock import Clock, FakeClock, SystemClock
    from .config import Config, SettingsRegistry, WorkspaceConfig, config_from_dict, load_config
    from .errors import ConfigError, PluginError, TrunklineError
    from .hookspecs import hookimpl, hookspec
    from .hours import Schedule
    from .model import (
        Address,
        Agent,
        AgentState,
        AgentStatus,
        Attachment,
        Contact,
        ContactState,
        Customer,
        Direction,
        EscalationStep,
        Message,
        Offer,
        Queue,
        RoutingSettings,
        Workspace,
    )
    from .plugins import Distro, PluginManager, load_plugins
    from .routing import Classification, Router, RoutingError, Strategy
    from .runtime import Runtime
    from .store import Store, StoredEvent
    from .switchboard import Switchboard

# Imported on first use (PEP 562): `import trunkline` stays quick, and a plugin or a
# command pays only for the parts it touches.
_EXPORTS = {
    "Ack": ".channels",
    "Address": ".model",
    "Agent": ".model",
    "AgentState": ".model",
    "AgentStatus": ".model",
    "Attachment": ".model",
    "Capabilities": ".channels",
    "ChannelAdapter": ".channels",
    "Classification": ".routing",
    "Clock": ".clock",
    "Config": ".config",
    "ConfigError": ".errors",
    "Contact": ".model",
    "ContactState": ".model",
    "Customer": ".model",
    "Direction": ".model",
    "Distro": ".plugins",
    "EscalationStep": ".model",
    "FakeClock": ".clock",
    "InboundHandler": ".channels",
    "InboundMalformed": ".channels",
    "InboundMessage": ".channels",
    "InboundRejected": ".channels",
    "Message": ".model",
    "Offer": ".model",
    "OutboundMessage": ".channels",
    "PermanentSendError": ".channels",
    "PluginError": ".errors",
    "PluginManager": ".plugins",
    "Queue": ".model",
    "ReadsAttachments": ".channels",
    "Receipt": ".channels",
    "Router": ".routing",
    "RoutingError": ".routing",
    "RoutingSettings": ".model",
    "Runtime": ".runtime",
    "Schedule": ".hours",
    "Secret": ".channels",
    "SendsSignals": ".channels",
    "Signal": ".channels",
    "SettingsRegistry": ".config",
    "Store": ".store",
    "StoredEvent": ".store",
    "Strategy": ".routing",
    "Switchboard": ".switchboard",
    "SystemClock": ".clock",
    "TemporaryFailure": ".channels",
    "TrunklineError": ".errors",
    "Workspace": ".model",
    "WorkspaceConfig": ".config",
    "check_inbound": ".channels",
    "check_text": ".channels",
    "config_from_dict": ".config",
    "hookimpl": ".hookspecs",
    "hookspec": ".hookspecs",
    "load_config": ".config",
    "load_plugins": ".plugins",
    "secret": ".channels",
}


__version__ = "0.1.0"

__all__ = [
    "Ack",
    "Address",
    "Agent",
    "AgentState",
    "AgentStatus",
    "Attachment",
    "Capabilities",
    "ChannelAdapter",
    "Classification",
    "Clock",
    "Config",
    "ConfigError",
    "Contact",
    "ContactState",
    "Customer",
    "Direction",
    "Distro",
    "EscalationStep",
    "FakeClock",
    "InboundHandler",
    "InboundMalformed",
    "InboundMessage",
    "InboundRejected",
    "Message",
    "Offer",
    "OutboundMessage",
    "PermanentSendError",
    "PluginError",
    "PluginManager",
    "Queue",
    "ReadsAttachments",
    "Receipt",
    "Router",
    "RoutingError",
    "RoutingSettings",
    "Runtime",
    "Schedule",
    "Secret",
    "SendsSignals",
    "SettingsRegistry",
    "Signal",
    "Store",
    "StoredEvent",
    "Strategy",
    "Switchboard",
    "SystemClock",
    "TemporaryFailure",
    "TrunklineError",
    "Workspace",
    "WorkspaceConfig",
    "__version__",
    "check_inbound",
    "check_text",
    "config_from_dict",
    "hookimpl",
    "hookspec",
    "load_config",
    "load_plugins",
    "secret",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
