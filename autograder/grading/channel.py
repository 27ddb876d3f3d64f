"""JSON lines over a pipe, read with a deadline: how the batch talks to its workers. A peer that
hangs or dies reads as ``None``, never as a blocked grader. (The re-check's zygote speaks the
socket protocol of :mod:`.sandbox`.)"""

from __future__ import annotations

import json
import os
import select
import time


class LineReader:
    """Reads one JSON object per line from a file descriptor."""

    def __init__(self, fd: int):
        self.fd = fd
        self.buffer = b""

    def pending(self) -> bool:
        """True if a complete line is already buffered."""
        return b"\n" in self.buffer

    def read(self, deadline: float) -> dict | None:
        """The next object, or None at the deadline (``time.monotonic()``), at end of stream or on bad JSON."""
        while not self.pending():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        try:
            message = json.loads(line)
        except ValueError:
            return None
        return message if isinstance(message, dict) else None
