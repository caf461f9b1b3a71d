"""Trunkline: an open-source, plugin-based contact-center routing framework.

This module is the public API; everything importable from here is stable. Channel SDKs are
never imported from here: each channel plugin imports its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

if TYPE_CHECKING:  # for type checkers only; test_facade checks it names _EXPORTS exactly
    from .channels import (
        Ack as Ack,
    )
    from .channels import (
        Capabilities as Capabilities,
    )
    from .channels import (
        ChannelAdapter as ChannelAdapter,
    )
    from .channels import (
        InboundHandler as InboundHandler,
    )
    from .channels import (
        InboundMalformed as InboundMalformed,
    )
    from .channels import (
        InboundMessage as InboundMessage,
    )
    from .channels import (
        InboundRejected as InboundRejected,
    )
    from .channels import (
        LiveChannel as LiveChannel,
    )
    from .channels import (
        OutboundMessage as OutboundMessage,
    )
    from .channels import (
        PermanentSendError as PermanentSendError,
    )
    from .channels import (
        ReadsAttachments as ReadsAttachments,
    )
    from .channels import (
        Receipt as Receipt,
    )
    from .channels import (
        Ring as Ring,
    )
    from .channels import (
        Secret as Secret,
    )
    from .channels import (
        SendsSignals as SendsSignals,
    )
    from .channels import (
        SessionReports as SessionReports,
    )
    from .channels import (
        Signal as Signal,
    )
    from .channels import (
        TemporaryFailure as TemporaryFailure,
    )
    from .channels import (
        check_inbound as check_inbound,
    )
    from .channels import (
        check_text as check_text,
    )
    from .channels import (
        secret as secret,
    )
    from .clock import (
        Clock as Clock,
    )
    from .clock import (
        FakeClock as FakeClock,
    )
    from .clock import (
        SystemClock as SystemClock,
    )
    from .config import (
        Config as Config,
    )
    from .config import (
        SettingsRegistry as SettingsRegistry,
    )
    from .config import (
        SettingsTable as SettingsTable,
    )
    from .config import (
        WorkspaceConfig as WorkspaceConfig,
    )
    from .config import (
        config_from_dict as config_from_dict,
    )
    from .config import (
        load_config as load_config,
    )
    from .errors import (
        ConfigError as ConfigError,
    )
    from .errors import (
        NestedValueError as NestedValueError,
    )
    from .errors import (
        PluginError as PluginError,
    )
    from .errors import (
        TrunklineError as TrunklineError,
    )
    from .hookspecs import (
        hookimpl as hookimpl,
    )
    from .hookspecs import (
        hookspec as hookspec,
    )
    from .hours import (
        Schedule as Schedule,
    )
    from .model import (
        Address as Address,
    )
    from .model import (
        Agent as Agent,
    )
    from .model import (
        AgentState as AgentState,
    )
    from .model import (
        AgentStatus as AgentStatus,
    )
    from .model import (
        Attachment as Attachment,
    )
    from .model import (
        Contact as Contact,
    )
    from .model import (
        ContactState as ContactState,
    )
    from .model import (
        Customer as Customer,
    )
    from .model import (
        Direction as Direction,
    )
    from .model import (
        EscalationStep as EscalationStep,
    )
    from .model import (
        Message as Message,
    )
    from .model import (
        Offer as Offer,
    )
    from .model import (
        Queue as Queue,
    )
    from .model import (
        RoutingSettings as RoutingSettings,
    )
    from .model import (
        Workspace as Workspace,
    )
    from .plugins import (
        Distro as Distro,
    )
    from .plugins import (
        PluginManager as PluginManager,
    )
    from .plugins import (
        load_plugins as load_plugins,
    )
    from .routing import (
        Classification as Classification,
    )
    from .routing import (
        Router as Router,
    )
    from .routing import (
        RoutingError as RoutingError,
    )
    from .routing import (
        Strategy as Strategy,
    )
    from .runtime import (
        Claim as Claim,
    )
    from .runtime import (
        DecisionStep as DecisionStep,
    )
    from .runtime import (
        DeskView as DeskView,
    )
    from .runtime import (
        InboundStep as InboundStep,
    )
    from .runtime import (
        Intake as Intake,
    )
    from .runtime import (
        PluginRuntime as PluginRuntime,
    )
    from .runtime import (
        Runtime as Runtime,
    )
    from .store import (
        Store as Store,
    )
    from .store import (
        StoredEvent as StoredEvent,
    )
    from .switchboard import (
        Switchboard as Switchboard,
    )

# The one list of the public API: name -> the module defining it, imported on first use
# (PEP 562), so `import trunkline` stays quick and a plugin or a command pays only for the
# parts it touches.
_EXPORTS = {
    "Ack": ".channels",
    "Address": ".model",
    "Agent": ".model",
    "AgentState": ".model",
    "AgentStatus": ".model",
    "Attachment": ".model",
    "Capabilities": ".channels",
    "ChannelAdapter": ".channels",
    "check_inbound": ".channels",
    "check_text": ".channels",
    "Classification": ".routing",
    "Clock": ".clock",
    "Config": ".config",
    "NestedValueError": ".errors",
    "SettingsTable": ".config",
    "config_from_dict": ".config",
    "ConfigError": ".errors",
    "Contact": ".model",
    "ContactState": ".model",
    "Customer": ".model",
    "Direction": ".model",
    "Distro": ".plugins",
    "EscalationStep": ".model",
    "FakeClock": ".clock",
    "hookimpl": ".hookspecs",
    "hookspec": ".hookspecs",
    "InboundHandler": ".channels",
    "InboundMalformed": ".channels",
    "InboundMessage": ".channels",
    "InboundRejected": ".channels",
    "load_config": ".config",
    "load_plugins": ".plugins",
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
    "Claim": ".runtime",
    "DecisionStep": ".runtime",
    "DeskView": ".runtime",
    "InboundStep": ".runtime",
    "Intake": ".runtime",
    "PluginRuntime": ".runtime",
    "Schedule": ".hours",
    "Secret": ".channels",
    "secret": ".channels",
    "SendsSignals": ".channels",
    "SettingsRegistry": ".config",
    "Signal": ".channels",
    "LiveChannel": ".channels",
    "Ring": ".channels",
    "SessionReports": ".channels",
    "Store": ".store",
    "StoredEvent": ".store",
    "Strategy": ".routing",
    "Switchboard": ".switchboard",
    "SystemClock": ".clock",
    "TemporaryFailure": ".channels",
    "TrunklineError": ".errors",
    "Workspace": ".model",
    "WorkspaceConfig": ".config",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__, distribution="trunkline")
