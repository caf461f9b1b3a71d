"""Exceptions a user of Trunkline can meet; each message names the culprit in one line."""

from __future__ import annotations

__all__ = ["ConfigError", "NestedValueError", "PluginError", "TrunklineError"]


class TrunklineError(Exception):
    """Base of Trunkline's own errors."""


class PluginError(TrunklineError):
    """A plugin cannot be loaded or is not valid: unknown name, failed import, bad hook."""


class NestedValueError(ValueError):
    """A value refused inside a field, raised by a converter or validator of a settings class.

    ``at`` is the key path from the field to the value (``("de",)`` for one skill's level,
    ``("1", "after")`` for the second escalation step's time), so a configuration error points
    at that key in the file rather than at the field or its table.
    """

    def __init__(self, message: str, *, at: tuple[str, ...]) -> None:
        super().__init__(message)
        self.at = at


class ConfigError(TrunklineError):
    """The configuration is refused. ``str(error)`` is ``FILE:LINE:COL: KEY: problem``."""

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.message = message
        self.key = key
        self.file = file
        self.line = line
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file or "<config>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"
