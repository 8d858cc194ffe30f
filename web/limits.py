"""Reading an upload no further than a limit, without reserving the limit's size up front."""
from __future__ import annotations

CHUNK = 1024 * 1024


def read_at_most(stream, limit: int) -> bytes:
    """The stream's bytes, or its first `limit + 1` when it is longer (the caller refuses those)."""
    parts, size = [], 0
    while size <= limit:
        part = stream.read(min(CHUNK, limit + 1 - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)
