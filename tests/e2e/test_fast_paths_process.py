"""The real bot process (``python -m bot run``) on uvloop and orjson when they are installed
(issue 19), and on asyncio's own loop when ``RETURNS_DESK_EVENT_LOOP=asyncio`` says so: the
same conversation either way, markup characters and emoji shown escaped and stored verbatim."""

from __future__ import annotations

import pytest

from core import fast_json
from tests.e2e.conftest import E2E

MARIE = 920022  # AUR-10022 (fr)


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
async def test_the_bot_process_runs_on_the_loop_it_logs(e2e: E2E, loop: str) -> None:
    pytest.importorskip("uvloop")
    arenas = "2"
    e2e.bots.settings["MALLOC_ARENA_MAX"] = ""  # unset, whatever the developer exported
    if loop == "asyncio":
        e2e.bots.settings["RETURNS_DESK_EVENT_LOOP"] = "asyncio"
        e2e.bots.settings["MALLOC_ARENA_MAX"] = "4"  # the operator's own choice is kept
        arenas = "4 (MALLOC_ARENA_MAX)"
    await e2e.start_bot()
    name = "Marie <3 & Co 💐 𝄞"
    marie = e2e.person(MARIE, name, "fr")

    await marie.send("/start")
    assert f"Bonjour {name}\u202f!" in marie.last()
    await marie.press("Retour ou remboursement")
    assert "numéro de commande" in marie.last()

    [line] = [line for line in e2e.bots.log().splitlines() if "event loop:" in line]
    assert f"event loop: {loop}" in line and f"JSON: {fast_json.NAME}" in line, line
    assert line.endswith(f"; malloc arenas: {arenas}"), line
    frozen = line.split("garbage collector: ", 1)[1].split(" objects frozen", 1)[0]
    assert int(frozen.replace(",", "")) > 100_000, line  # aiogram's models, at least
    assert "young generation 10,000" in line
    assert e2e.failed_calls() == [] and e2e.bots.errors() == []
