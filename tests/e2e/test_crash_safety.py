"""Nothing lost, nothing doubled: the real bot process is killed (SIGKILL, no cleanup code)
while a buyer confirms a case, before the case is committed and right after; the next process
finishes the work from the inbox. Then there is exactly one case, the buyer reads its number
once, and every notification of it arrives exactly once.

SIGTERM, on the other hand, is a graceful stop: the handler in flight finishes and the outbox
is flushed before the process exits."""

from __future__ import annotations

import asyncio
import re
import signal
import time

import pytest

from bot.demo import sample_png
from tests.e2e.conftest import E2E, lamp_return_up_to_confirm, outbox_of
from tests.e2e.test_three_sides import (
    AURORA_STAFF_CHAT,
    LUCIA,
    WANG,
    eventually,
    texts_in,
)
from tests.support import Person

CASE_NUMBER = re.compile(r"\bR-\d{4}-\d{4}\b")


class NoWait:
    """A driver that does not wait for the bot: the update is queued, and that is all (the
    bot process is about to die on it)."""

    async def deliver(self, *, concurrent: bool | None = None) -> None:
        return None


async def exit_code(e2e: E2E, within: float) -> int | None:
    """Wait for the bot process to end without blocking the fake Telegram it talks to."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if e2e.bots.current.poll() is not None:
            break
        await asyncio.sleep(0.05)
    return e2e.bots.current.poll()


async def lamp_case_up_to_confirm(e2e: E2E) -> Person:
    lucia = e2e.person(LUCIA, "Lucía", "es")
    await lamp_return_up_to_confirm(lucia, "AUR-10021", [sample_png(s) for s in (51, 52, 53)])
    assert "Confirmar" in " ".join(lucia.buttons())
    return lucia


@pytest.mark.parametrize("crash_at", ["before_case_commit", "after_case_commit"])
async def test_a_process_killed_while_opening_a_case_loses_nothing_and_doubles_nothing(
    e2e: E2E, crash_at: str
) -> None:
    await e2e.start_bot(crash_at=crash_at)
    lucia = await lamp_case_up_to_confirm(e2e)

    hasty = Person(e2e.fake, NoWait(), LUCIA, "Lucía", "es")
    await hasty.press("Confirmar")
    confirm = e2e.fake.update_log[-1]["update_id"]
    assert await exit_code(e2e, within=20) == -signal.SIGKILL
    cases = await e2e.cases_of(LUCIA)
    assert len(cases) == (0 if crash_at == "before_case_commit" else 1)
    assert not any(CASE_NUMBER.search(text) for text in lucia.seen())  # told nothing yet

    await e2e.start_bot()  # a new process, never told of the Confirm press
    await e2e.driver.deliver()

    [case] = await e2e.cases_of(LUCIA)
    assert [text for text in lucia.seen() if case.number in text] == [lucia.last()]
    assert e2e.bots.handled()[confirm] == 1  # by the new process; the dead one never finished

    # the shop hears of it once: one alert (text and album) per staff chat and seller
    def alerts(chat: int) -> list[str]:
        return [text for text in texts_in(e2e, chat) if case.number in text]

    assert await eventually(lambda: len(alerts(AURORA_STAFF_CHAT)) == 1)
    for _ in range(100):  # the sender marks each row once Telegram took it
        rows = await outbox_of(e2e, case)
        if rows and all(row.status == "sent" for row in rows):
            break
        await asyncio.sleep(0.1)
    assert rows and all(row.status == "sent" for row in rows), rows
    assert len({row.dedupe_key for row in rows}) == len(rows)
    assert len(alerts(AURORA_STAFF_CHAT)) == 1 and len(alerts(WANG)) == 1
    albums = [m for m in e2e.fake.messages_to(AURORA_STAFF_CHAT) if m.get("media_group_id")]
    assert len(albums) == 3  # the three photos, once
    assert e2e.bots.errors() == []


async def test_sigterm_finishes_the_work_in_hand_then_stops(e2e: E2E) -> None:
    await e2e.start_bot()
    lucia = await lamp_case_up_to_confirm(e2e)
    e2e.fake.delay(1.5, method="answerCallbackQuery")  # the Confirm handler is mid-way
    hasty = Person(e2e.fake, NoWait(), LUCIA, "Lucía", "es")
    await hasty.press("Confirmar")
    assert await eventually(lambda: e2e.fake.in_flight > 0, within=5)
    e2e.bots.current.send_signal(signal.SIGTERM)
    assert await exit_code(e2e, within=40) == 0, e2e.bots.log()
    [case] = await e2e.cases_of(LUCIA)
    assert case.number in lucia.last()  # the handler finished before the exit
    # and the outbox was flushed on the way out: the shop already has its alert
    assert [text for text in texts_in(e2e, AURORA_STAFF_CHAT) if case.number in text]
    assert "Returns Desk stopped" in e2e.bots.log()
    assert e2e.bots.errors() == []
