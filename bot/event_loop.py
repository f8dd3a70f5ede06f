"""The event loop every command runs on: uvloop when it is installed (the ``fast`` extra; it
has no Windows build), else asyncio's own. ``RETURNS_DESK_EVENT_LOOP=asyncio`` forces asyncio's
loop, to compare the two or to get round a uvloop problem."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from core import fast_json

T = TypeVar("T")

ENV = "RETURNS_DESK_EVENT_LOOP"

log = logging.getLogger("returns_desk.runtime")


def loop_factory() -> tuple[Callable[[], asyncio.AbstractEventLoop] | None, str]:
    """The loop to make (None: asyncio's default) and its name for the log."""
    if os.environ.get(ENV, "").strip().lower() == "asyncio" or sys.platform == "win32":
        return None, "asyncio"
    try:
        import uvloop
    except ImportError:
        return None, "asyncio"
    return uvloop.new_event_loop, f"uvloop {uvloop.__version__}"


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on the loop :func:`loop_factory` picks."""
    factory, name = loop_factory()
    log.info("event loop: %s; JSON: %s", name, fast_json.NAME)
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)
