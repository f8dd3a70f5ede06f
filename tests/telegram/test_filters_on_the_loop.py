"""A filter is a comparison: it runs on the event loop, never in a worker thread.

aiogram runs a plain (not ``async``) filter with ``asyncio.to_thread``; our ``F.…`` filters
and FSM states are plain. ``create_dispatcher`` makes them run on the loop, and a return
walked update by update checks every one of them on the way without a thread.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from aiogram import Dispatcher
from aiogram.dispatcher.event.handler import FilterObject

from tests.telegram.conftest import World

LUCIA = 910051


def filters_of(dispatcher: Dispatcher) -> list[FilterObject]:
    found: list[FilterObject] = []
    for router in dispatcher.chain_tail:
        for observer in router.observers.values():
            found.extend(observer._handler.filters or ())
            for handler in observer.handlers:
                found.extend(handler.filters or ())
    return found


async def test_every_filter_of_the_dispatcher_is_awaited_on_the_loop(world: World) -> None:
    filters = filters_of(world.person(LUCIA, "Lucía", "es").driver.dispatcher)
    magic = [f for f in filters if f.magic is not None]
    assert len(magic) > 20  # the F.… filters are there, and were plain callables
    assert all(f.awaitable for f in filters)


async def test_a_return_checks_its_filters_without_a_thread(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_thread = threading.get_ident()
    threaded: list[str] = []
    checked_on: set[int] = set()
    real_to_thread = asyncio.to_thread

    async def recorded(function: Any, /, *args: Any, **kwargs: Any) -> Any:
        threaded.append(repr(function))
        return await real_to_thread(function, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", recorded)
    lucia = world.person(LUCIA, "Lucía", "es")
    for f in filters_of(lucia.driver.dispatcher):  # note where each filter's own check runs
        inner = f.callback

        async def watched(*args: Any, _inner: Any = inner, **kwargs: Any) -> Any:
            checked_on.add(threading.get_ident())
            return await _inner(*args, **kwargs)

        f.callback = watched

    await lucia.send(f"/start {await world.start_link('aurora', 'AUR-10021')}")
    await lucia.press("Devolución o reembolso")
    await lucia.press("AUR-10021")
    await lucia.press("Llegó dañado")
    await lucia.send("La base llegó rota <b>&</b> 💡")
    assert "paquete" in lucia.last()  # the flow went on: the filters still match
    await lucia.send_album(3)
    await lucia.press("Listo")
    await lucia.press("Reembolso")
    await lucia.press("Confirmar")
    assert "R-2611-0001" in lucia.last()

    assert checked_on == {loop_thread}
    # the only work sent to a thread: fingerprinting the three photos, not a filter
    assert [name.split(" at ")[0] for name in threaded] == ["<function fingerprint"] * 3


async def test_a_restarted_dispatcher_checks_its_filters_on_the_loop_too(world: World) -> None:
    await world.restart()  # a second dispatcher over the same (module-level) routers' code
    lucia = world.person(LUCIA, "Lucía", "es")
    assert all(f.awaitable for f in filters_of(lucia.driver.dispatcher))
    await lucia.send("/start")
    await lucia.press("Devolución o reembolso")
    assert lucia.last().startswith("Escribe tu número de pedido")  # the state filter matched
    await lucia.send("AUR-10021")
    assert lucia.last().startswith("Para proteger tu pedido")  # and the next one
