"""The event loop every command runs on: uvloop when it is installed (the ``fast`` extra; it
has no Windows build), else asyncio's own. ``RETURNS_DESK_EVENT_LOOP=asyncio`` forces asyncio's
loop, to compare the two or to get round a uvloop problem.

Before the loop starts, glibc's malloc is held to two arenas (``MALLOC_ARENA_MAX=2``, unless
the environment sets ``MALLOC_ARENA_MAX`` or ``glibc.malloc.arena_max`` in ``GLIBC_TUNABLES``):
by default every thread that allocates may get an arena of its own,
up to eight per core, and each SQLite connection of the pool runs on a thread of its own
(aiosqlite), so the freed memory of each stays resident apart. Two arenas cost the bot about
10 MB less resident memory under load, with no measurable CPU (benchmarks/README.md).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from core import fast_json

T = TypeVar("T")

ENV = "RETURNS_DESK_EVENT_LOOP"
ARENAS = 2
M_ARENA_MAX = -8  # glibc's <malloc.h>

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


def limit_malloc_arenas(arenas: int = ARENAS) -> str:
    """Hold glibc's malloc to ``arenas`` arenas (see the module); what is in force, for the log."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return f"{os.environ['MALLOC_ARENA_MAX']} (MALLOC_ARENA_MAX)"
    if "arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
        return "set by GLIBC_TUNABLES"
    if not sys.platform.startswith("linux"):
        return "the system's"
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # pragma: no cover - a libc without mallopt
        return "the system's"
    return str(arenas) if mallopt(M_ARENA_MAX, arenas) == 1 else "the system's"  # musl: 0


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on the loop :func:`loop_factory` picks."""
    arenas = limit_malloc_arenas()
    factory, name = loop_factory()
    log.info("event loop: %s; JSON: %s; malloc arenas: %s", name, fast_json.NAME, arenas)
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)
