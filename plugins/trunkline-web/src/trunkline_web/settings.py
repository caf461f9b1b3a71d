"""The web's settings: the ``[web]`` table, and each workspace's ``users`` and ``canned``.

trunkline-web declares them through ``trunkline_add_settings`` (core checks them as it checks
its own tables and points at the key of a mistake); the typed accessors below read them back
from a checked configuration: ``web_settings(config)``, ``workspace_users(workspace)``,
``workspace_canned(workspace)``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

import attrs

from trunkline import Config, NestedValueError, SettingsRegistry, WorkspaceConfig
from trunkline_web.canned import CannedResponse
from trunkline_web.users import UserSettings

__all__ = [
    "WebSettings",
    "add_web_settings",
    "web_settings",
    "workspace_canned",
    "workspace_users",
]

#: Keys a release removed from ``[web]``, with what to write instead.
RETIRED: Mapping[tuple[str, ...], str] = {
    ("login_attempts_per_minute",): (
        "successful sign-ins no longer count; failures are limited by "
        "login_failures_before_backoff, login_backoff_max and login_failures_per_address"
    ),
}


def _at_least(minimum: float) -> Any:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
        if value < minimum:
            raise ValueError(f"{attribute.name}: must be at least {minimum:g}, not {value!r}")

    return check


def _port(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not 0 <= value <= 65535:
        raise ValueError(
            f"{attribute.name}: {value} is not from 0 to 65535 (0 picks any free port)"
        )


def _trusted_proxies(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    for item in value.split(","):
        item = item.strip()
        if item == "*":
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(
                f"{attribute.name}: {item[:80]!r} is not an IP address or network; write the "
                'addresses of your reverse proxies, comma-separated, e.g. "127.0.0.1, '
                '10.0.0.0/8", or "*" to trust any peer'
            ) from None


@attrs.frozen
class WebSettings:
    """The HTTP server of ``serve`` and ``demo``: the API, the pages, plugins' routes."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = attrs.field(default=8000, validator=_port)
    public_url: str = ""  # how browsers reach it, when behind a proxy (for links and Origin)
    cors_origins: tuple[str, ...] = ()  # other sites allowed to call the API from browsers
    secure_cookies: bool = False  # set on when served over HTTPS
    session_hours: float = 12.0
    # Failed sign-ins (trunkline_web.auth.LoginThrottle): an account backs off after this many
    # in a row, its wait doubling from 1 s up to login_backoff_max, except for browsers that
    # signed in as it before; one address may fail this many times in 10 minutes.
    login_failures_before_backoff: int = attrs.field(default=3, validator=_at_least(1))
    login_backoff_max: float = attrs.field(default=600.0, validator=_at_least(1))
    login_failures_per_address: int = attrs.field(default=20, validator=_at_least(1))
    # Behind a reverse proxy: take the client's address (and scheme) from X-Forwarded-For (and
    # X-Forwarded-Proto) when the peer is one of forwarded_allow_ips; uvicorn's own options.
    proxy_headers: bool = False
    forwarded_allow_ips: str = attrs.field(default="127.0.0.1", validator=_trusted_proxies)


def _users_know_their_agents(users: Mapping[str, UserSettings], workspace: WorkspaceConfig) -> None:
    agent_ids = {agent.id for agent in workspace.agents}
    for username, user in users.items():
        if user.agent and user.agent not in agent_ids:
            raise NestedValueError(
                f'unknown agent "{user.agent}" (known: {", ".join(sorted(agent_ids)) or "none"})',
                at=(username, "agent"),
            )


def _shortcuts_are_unique(canned: tuple[CannedResponse, ...], workspace: WorkspaceConfig) -> None:
    shortcuts: dict[str, int] = {}
    for number, response in enumerate(canned):
        if response.shortcut in shortcuts:
            raise NestedValueError(
                f'shortcut "{response.shortcut}" is taken by canned.{shortcuts[response.shortcut]} '
                "already; give each canned response a shortcut of its own",
                at=(str(number), "shortcut"),
            )
        shortcuts[response.shortcut] = number


def add_web_settings(registry: SettingsRegistry) -> None:
    """Declare ``[web]``, ``[workspaces.<id>.users.<name>]`` and ``[[workspaces.<id>.canned]]``."""
    registry.add_table("web", WebSettings, retired=RETIRED)
    registry.add_workspace_table(
        "users", Mapping[str, UserSettings], default=dict, validate=_users_know_their_agents
    )
    registry.add_workspace_table(
        "canned", tuple[CannedResponse, ...], default=tuple, validate=_shortcuts_are_unique
    )


def web_settings(config: Config) -> WebSettings:
    """The checked ``[web]`` table (its defaults when the file has none, or when the
    configuration was checked without trunkline-web's settings)."""
    settings: Any = config.tables.get("web")
    return settings if isinstance(settings, WebSettings) else WebSettings()


def workspace_users(workspace: WorkspaceConfig) -> Mapping[str, UserSettings]:
    """The workspace's users of the pages and the API, by user name."""
    users: Mapping[str, UserSettings] = workspace.tables.get("users", {})
    return users


def workspace_canned(workspace: WorkspaceConfig) -> tuple[CannedResponse, ...]:
    """The workspace's canned responses, in the order of the file."""
    canned: tuple[CannedResponse, ...] = workspace.tables.get("canned", ())
    return canned
