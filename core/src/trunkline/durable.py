"""Writing a file so that a crash leaves either all of it or nothing, for channel plugins.

The content goes to a temporary name in the target's directory, is flushed to disk (fsync),
then renamed over the target: a reader never sees half a file. Channels that keep customers'
files (attachments, raw messages) write them with :func:`write_file` before acknowledging.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_file"]


def write_file(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically and durably (its directory must exist)."""
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
