"""The buyer's conversation state is one typed model (``BuyerConversation``), not a free dict.

- What a real conversation stores, update by update, is exactly the model's JSON dump: every
  stored key is a field, every value fits its type, only JSON primitives, nothing at a default.
- Code that writes an unknown key or a value of the wrong type fails at once, storing nothing.
- A key stored by an older version (or another flow of the same chat) is ignored on read, and
  the buyer's conversation carries on past it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

import pytest
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from pydantic import ValidationError

from bot.conversations.buyer import conversation
from bot.conversations.buyer.conversation import BuyerConversation
from bot.receiving.storage import DatabaseStorage
from core.cases.lifecycle import CaseStatus
from core.cases.model import CaseLine
from core.cases.reasons import Reason
from core.orders.numbers import normalize_order_number
from tests.support import Person
from tests.telegram.conftest import World

ANNA = 930024
EMILY = 930025


def storage_key(world: World, user_id: int) -> StorageKey:
    """The FSM key of a buyer's private chat, as the dispatcher builds it."""
    bot_id = int(world.fake.token.split(":", 1)[0])
    return StorageKey(bot_id=bot_id, chat_id=user_id, user_id=user_id)


async def stored(world: World, user_id: int) -> tuple[str | None, dict[str, Any]]:
    """The state and data in the database, as a restarted process would read them."""
    storage = DatabaseStorage(world.core.unit_of_work)
    key = storage_key(world, user_id)
    return await storage.get_state(key), await storage.get_data(key)


class Recorder:
    """Checks the stored data after every update and remembers which keys were used."""

    def __init__(self, world: World, user_id: int) -> None:
        self.world, self.user_id = world, user_id
        self.keys: set[str] = set()
        self.states: list[str | None] = []

    async def check(self) -> BuyerConversation:
        state, data = await stored(self.world, self.user_id)
        self.states.append(state)
        assert json.loads(json.dumps(data)) == data  # JSON primitives only
        model = BuyerConversation.model_validate(data)  # extra="forbid": no stray key
        assert conversation.dump(model) == data  # the model's dump, nothing at a default
        self.keys |= data.keys()
        return model


async def test_a_case_and_its_return_store_only_what_the_model_describes(world: World) -> None:
    anna = world.person(ANNA, "Anna", "en")
    record = Recorder(world, ANNA)
    await anna.send(f"/start {await world.start_link('aurora', 'AUR-10024')}")

    steps = [
        lambda: anna.press("Return or refund"),
        lambda: anna.press("AUR-10024"),
        lambda: anna.press("Velvet cushion cover"),
        lambda: anna.press("Continue"),
        lambda: anna.press("4"),
        lambda: anna.press("Changed my mind"),
        lambda: anna.send("Wrong shade for the sofa"),
        lambda: anna.send_album(2),
        lambda: anna.press("Done"),
        lambda: anna.press("Refund"),
    ]
    for step in steps:
        await step()
        await record.check()

    before_confirm = await record.check()
    assert before_confirm.order_number == "AUR-10024"
    assert before_confirm.chosen == {"1": 4} and before_confirm.pending_qty == []
    assert before_confirm.reason is Reason.CHANGED_MIND
    assert before_confirm.description == "Wrong shade for the sofa"
    assert [item.kind for item in before_confirm.evidence] == ["photo", "photo"]
    assert len(before_confirm.album_messages) == 1  # one answer for the album
    assert before_confirm.resolution == "refund"
    assert before_confirm.history[-1] == "OpenCase:resolution"
    assert record.keys >= {
        "order_id",
        "order_number",
        "chosen",
        "pending_qty",
        "offered_reasons",
        "reason",
        "description",
        "evidence",
        "album_messages",
        "offered",
        "resolution",
        "history",
    }

    await anna.press("Confirm and send")
    assert await stored(world, ANNA) == (None, {})  # a finished flow keeps nothing
    [case] = await world.cases_of(ANNA)
    assert case.status is CaseStatus.AWAITING_RETURN
    assert case.lines == (CaseLine(line_no=1, quantity=4),)
    assert len(case.evidence) == 2

    # the return: "I've sent it", the tracking number, then the receipt
    await anna.press("I've sent it")
    assert (await record.check()).case == case.number
    await anna.send("DHL 00340434161234567890")
    follow_up = await record.check()
    assert follow_up.case == case.number and follow_up.tracking == "DHL 00340434161234567890"
    await anna.send_photo()
    assert "is on its way" in anna.last()
    assert await stored(world, ANNA) == (None, {})
    [shipped] = await world.cases_of(ANNA)  # what the flow carried reached the case
    assert shipped.status is CaseStatus.RETURN_IN_TRANSIT
    assert shipped.return_tracking == "DHL 00340434161234567890"
    assert len(shipped.evidence) == 3  # the two photos and the receipt
    assert {"case", "tracking"} <= record.keys


async def test_a_refused_claim_and_a_typed_order_number_store_only_what_the_model_describes(
    world: World,
) -> None:
    emily = world.person(EMILY, "Emily", "en")
    record = Recorder(world, EMILY)
    await emily.send("/start")
    await emily.press("Return or refund")
    await record.check()
    await emily.send("AUR-10025")
    assert (await record.check()).typed_number == normalize_order_number("AUR-10025")
    await emily.send("Emily.Carter@example.com")
    await record.check()
    await emily.press("Poor quality / not as described")
    refused = (await record.check()).refused  # the window has ended: refused, for a person
    assert refused is not None and refused.reason is Reason.NOT_AS_DESCRIBED
    assert refused.order_id == (await world.order("aurora", "AUR-10025")).id
    assert {"typed_number", "refused"} <= record.keys

    await emily.press("Talk to a person")
    [case] = await world.cases_of(EMILY)
    assert case.escalated and case.reason is Reason.NOT_AS_DESCRIBED
    assert case.status is CaseStatus.AWAITING_AGENT


async def test_writing_an_unknown_key_or_a_wrong_type_fails_at_once_and_stores_nothing() -> None:
    state = FSMContext(MemoryStorage(), StorageKey(bot_id=1, chat_id=2, user_id=2))
    await conversation.write(state, order_id=7, chosen={"1": 2}, reason=Reason.DAMAGED)
    before = await state.get_data()
    assert before == {"order_id": 7, "chosen": {"1": 2}, "reason": "damaged"}

    wrong: list[dict[str, Any]] = [
        {"colour": "red"},  # not a field
        {"chosen": {1: 2}},  # JSON keys are text
        {"order_id": "7"},  # no silent coercion
        {"reason": "damaged"},  # a Reason, not its code
        {"reason": "teleported"},
        {"evidence": [{"kind": "sticker", "file_id": "f", "file_unique_id": "u", "mime": "x"}]},
        {"refused": {"order_id": 7, "why": "no"}},  # nested models forbid extras too
        {"wants_person": "yes"},
    ]
    for changes in wrong:
        with pytest.raises(ValidationError):
            await conversation.write(state, **changes)
        assert await state.get_data() == before, changes


async def test_a_write_keeps_the_keys_another_flow_of_the_chat_owns() -> None:
    """Staff and agents keep ``case``, ``status`` and ``thread`` in the same chat's data."""
    state = FSMContext(MemoryStorage(), StorageKey(bot_id=1, chat_id=3, user_id=3))
    await state.set_data({"case": "R-2611-0001", "status": "awaiting_seller", "thread": None})
    conv = await conversation.write(state, wants_person=True)
    assert conv.wants_person and conv.case == "R-2611-0001"
    assert await state.get_data() == {
        "case": "R-2611-0001",
        "status": "awaiting_seller",
        "thread": None,
        "wants_person": True,
    }


async def test_a_stale_key_in_storage_is_ignored_and_the_conversation_carries_on(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    anna: Person = world.person(ANNA, "Anna", "en")
    await anna.send(f"/start {await world.start_link('aurora', 'AUR-10024')}")
    await anna.press("Return or refund")
    await anna.press("AUR-10024")
    await anna.press("Velvet cushion cover")
    await anna.press("Continue")
    await anna.press("4")
    assert "What happened?" in anna.last()

    # saved by an older version of the bot, before a deploy: a key the model no longer has,
    # and one whose value no longer fits its type
    storage = DatabaseStorage(world.core.unit_of_work)
    key = storage_key(world, ANNA)
    data = await storage.get_data(key)
    await storage.set_data(key, {**data, "step_v0": 3, "album_messages": ["old", "format"]})

    caplog.set_level(logging.DEBUG, logger=conversation.__name__)
    await anna.press("Changed my mind")
    assert any("step_v0" in record.getMessage() for record in caplog.records)
    assert any("album_messages" in record.getMessage() for record in caplog.records)
    state, data = await stored(world, ANNA)
    assert state == "OpenCase:description"
    assert data["reason"] == "changed_mind"  # the flow went on and wrote its step
    assert "album_messages" not in data  # the unfit value is gone with the first write

    await anna.press("Skip")
    await anna.press("Done")
    await anna.press("Refund")
    await anna.press("Confirm and send")
    [case] = await world.cases_of(ANNA)
    assert case.reason is Reason.CHANGED_MIND
    assert case.lines == (CaseLine(line_no=1, quantity=4),)
    assert await stored(world, ANNA) == (None, {})  # the stale key ended with the flow


async def test_a_line_of_twelve_offers_one_to_ten_in_rows_of_five(world: World) -> None:
    anna = world.person(ANNA, "Anna", "en")
    await anna.send(f"/start {await world.start_link('aurora', 'AUR-10024')}")
    order = await world.order("aurora", "AUR-10024")
    twelve = dataclasses.replace(order.lines[0], quantity=12)
    async with world.core.unit_of_work() as uow:
        await uow.orders.upsert(
            dataclasses.replace(order, lines=(twelve, *order.lines[1:])),
            normalize_order_number(order.number),
        )
        await uow.commit()

    await anna.press("Return or refund")
    await anna.press("AUR-10024")
    await anna.press("Velvet cushion cover")
    await anna.press("Continue")

    assert anna.last().startswith("How many of “Velvet cushion cover")
    rows = [[label for label, _ in row] for row in world.fake.buttons(anna.last_message())]
    assert rows == [["1", "2", "3", "4", "5"], ["6", "7", "8", "9", "10"], ["⬅️ Back", "✖️ Cancel"]]
    await anna.press("7")
    _, data = await stored(world, ANNA)
    assert data["chosen"] == {"1": 7}
