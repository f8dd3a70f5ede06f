"""The event loop every command runs on: uvloop when it is installed (the ``fast`` extra; it
has no Windows build), else asyncio's own. ``RETURNS_DESK_EVENT_LOOP=asyncio`` forces asyncio's
loop, to compare the two or to get round a uvloop problem.

Before the loop starts, glibc's malloc is held to two arenas (``MALLOC_ARENA_MAX=2``, unless
the environment sets ``MALLOC_ARENA_MAX`` or ``glibc.malloc.arena_max`` in ``GLIBC_TUNABLES``):
by default every thread that allocates may get an arena of its own,
up to eight per core, and each SQLite connection of the pool runs on a thread of its own
(aiosqlite), so the freed memory of each stays resident apart. Two arenas cost the bot about
10 MB less resident memory under load, with no measurable CPU (benchmarks/README.md).

A serving process (the bot, the board) also freezes what it holds at start out of the
garbage collector (:func:`settle_garbage_collector`), and the bot hands the heap memory it
freed back to the system now and then (:func:`give_back_memory`).
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
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
YOUNG = 10_000  # allocations between two collections of the youngest generation
TRIM_EVERY = 10.0  # seconds between two malloc_trim calls

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


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``; None elsewhere (musl, macOS)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


async def give_back_memory(stop: asyncio.Event, every: float = TRIM_EVERY) -> None:
    """Until ``stop``: every ``every`` seconds, glibc's ``malloc_trim`` on a worker thread.
    A burst of updates (request bodies, answers, statements) leaves freed memory inside the
    heap, under memory still in use, where ``free`` cannot give it back; the process stayed
    that much bigger until the next burst reused it. The trim returns those pages: about
    7 MB of the bot's resident memory after the load benchmark, for well under a
    millisecond of a worker thread every ten seconds (benchmarks/README.md, sixth round)."""
    trim = _malloc_trim()
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), every)
            return
        except TimeoutError:
            pass
        if trim is not None:
            await asyncio.to_thread(trim, 0)


def settle_garbage_collector(young: int = YOUNG) -> str:
    """For a process that serves for long: what is there at start (the modules, aiogram's
    models of the whole Bot API, about 300,000 objects) stays for the process's life, so it
    is frozen out of the cyclic garbage collector, which walked all of it on every full
    collection (about 170 ms each, 15 in a minute of the load benchmark); and the youngest
    generation is collected every ``young`` allocations instead of Python's 700, as pydantic
    makes many short-lived objects per update. Measured: the bot's collections took 3.5 s of
    its 22 s of CPU in the load benchmark, 1.3 s after (benchmarks/README.md)."""
    gc.collect()  # what is garbage now would otherwise be frozen with the rest
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(young, middle, oldest)
    return f"{gc.get_freeze_count():,} objects frozen, young generation {young:,}"


def run(coro: Coroutine[Any, Any, T], *, serving: bool = False) -> T:
    """``asyncio.run`` on the loop :func:`loop_factory` picks; ``serving``: the process runs
    until stopped (the bot, the board), and settles its garbage collector first."""
    arenas = limit_malloc_arenas()
    collector = settle_garbage_collector() if serving else "Python's"
    factory, name = loop_factory()
    log.info(
        "event loop: %s; JSON: %s; garbage collector: %s; malloc arenas: %s",
        name,
        fast_json.NAME,
        collector,
        arenas,
    )
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)
