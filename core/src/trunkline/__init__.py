"""Trunkline: an open-source, plugin-based contact-center routing framework.

This module is the public API; everything importable from here is stable. Channel SDKs are
never imported from here: each channel plugin imports its own.
"""

from __future__ import annotations

from .channels import (
    Ack,
    Capabilities,
    ChannelAdapter,
    InboundHandler,
    InboundMessage,
    InboundRejected,
    OutboundMessage,
    PermanentSendError,
    Receipt,
    Secret,
    TemporaryFailure,
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
    "InboundMessage",
    "InboundRejected",
    "Message",
    "Offer",
    "OutboundMessage",
    "PermanentSendError",
    "PluginError",
    "PluginManager",
    "Queue",
    "Receipt",
    "Router",
    "RoutingError",
    "RoutingSettings",
    "Runtime",
    "Schedule",
    "Secret",
    "SettingsRegistry",
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
    "config_from_dict",
    "hookimpl",
    "hookspec",
    "load_config",
    "load_plugins",
    "secret",
]
