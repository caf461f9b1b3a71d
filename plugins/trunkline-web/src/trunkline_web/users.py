"""Users of the web pages and the API: who they are, their role, and their hashed secrets.

Users are declared per workspace in the configuration with hashes only — the password of the
login page (scrypt) and the API token (SHA-256) — so the file never holds a secret that would
let someone in. ``trunkline hash-secret`` makes the hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

import attrs

from trunkline.config import MASKED

__all__ = [
    "ROLES",
    "UserSettings",
    "check_password",
    "check_token",
    "hash_password",
    "hash_token",
    "new_token",
]

ROLES = ("agent", "supervisor", "admin")
_SCRYPT = (2**14, 8, 1)  # n, r, p: about 50 ms and 16 MiB a check


def _role(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in ROLES:
        raise ValueError(f"role: {value!r} is not one of {', '.join(map(repr, ROLES))}")


def _hashed(prefix: str) -> Any:
    def check(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
        if value and not value.startswith(prefix + "$"):
            raise ValueError(
                f"{attribute.name}: expected a hash made by `trunkline hash-secret` "
                f"(starting {prefix}$), not the secret itself"
            )

    return check


@attrs.frozen
class UserSettings:
    """One user: ``[workspaces.<id>.users.<name>]``."""

    role: str = attrs.field(validator=_role)
    agent: str = attrs.field(default="")  # the agent an agent-user works as
    # Not secrets, but masked by `trunkline show-config` all the same.
    password_hash: str = attrs.field(
        default="", validator=_hashed("scrypt"), metadata={MASKED: True}
    )
    token_hash: str = attrs.field(default="", validator=_hashed("sha256"), metadata={MASKED: True})
    name: str = ""

    @agent.validator
    def _agent_for_agents(self, attribute: attrs.Attribute[str], value: str) -> None:
        if self.role == "agent" and not value:
            raise ValueError('a user with role "agent" needs agent = "<agent id>"')


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$<salt hex>$<hash hex>`` for a login password."""
    n, r, p = _SCRYPT
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the stored scrypt hash (compared in constant time)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        found = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(found.hex(), digest)


def new_token() -> str:
    """A fresh API token: 32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """``sha256$<hex>`` of an API token (tokens are long and random: no salt needed)."""
    return "sha256$" + hashlib.sha256(token.encode()).hexdigest()


def check_token(token: str, stored: str) -> bool:
    return bool(stored) and hmac.compare_digest(hash_token(token), stored)
