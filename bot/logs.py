"""Logging that cannot flood the disk: the same warning or error (the same logger, level and
text before its arguments are filled in) passes at most once per ``window`` seconds; the next
one after that says how many like it were left out meanwhile. INFO and DEBUG lines are never
held back (one line per handled update is what operators and the end-to-end tests follow).

A flood of bad requests (1,100 slow connections, a scanner without the webhook secret) then
costs a few lines a minute instead of hundreds of megabytes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

WINDOW = 60.0  # seconds
MAX_KEYS = 1024  # distinct messages remembered at once (the oldest are forgotten)


class RepeatFilter(logging.Filter):
    """Lets a repeated message through once per window, then counts what it held back."""

    def __init__(
        self, window: float = WINDOW, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.window = window
        self.clock = clock
        self._seen: OrderedDict[tuple[str, int, str], list[float | int]] = OrderedDict()
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        with self._lock:
            entry = self._seen.get(key)
            if entry is not None and now - entry[0] < self.window:
                entry[1] += 1
                return False
            suppressed = int(entry[1]) if entry is not None else 0
            self._seen[key] = [now, 0]
            self._seen.move_to_end(key)
            while len(self._seen) > MAX_KEYS:
                self._seen.popitem(last=False)
        if suppressed:
            record.msg = f"{record.msg} [{suppressed} similar messages suppressed]"
        return True


def install(window: float = WINDOW) -> RepeatFilter:
    """Put one repeat filter on every handler of the root logger (call after basicConfig)."""
    found = RepeatFilter(window)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RepeatFilter) for f in handler.filters):
            handler.addFilter(found)
    return found
