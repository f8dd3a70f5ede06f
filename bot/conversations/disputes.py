"""/dispute: staff record a platform dispute or chargeback on a case, move it to another
stage, or see a case's disputes with their deadlines (core/services/disputes.py decides).

    /dispute R-2612-0001                                   the case's disputes
    /dispute R-2612-0001 aliexpress 8123456789 opened 2026-12-01 [09:30]
    /dispute R-2612-0001 paypal PP-D-1 stage claim         (recorded, or moved to that stage)
    /dispute R-2612-0001 shopify CB-1 --due 2026-12-10     a chargeback: the processor's due date
"""

from __future__ import annotations

from dataclasses import dataclass

from aiogram import F
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from bot.conversations.staff import IsStaff, not_staff_press
from bot.receiving.routing import Router
from bot.views import disputes as views
from bot.views import texts
from bot.views.i18n import Translator
from core.cases.numbers import find_case_numbers
from core.errors import CoreError
from core.services import disputes as dispute_service
from core.services.context import CoreContext
from core.services.staff import StaffIdentity

KEYWORDS = {"opened", "stage", "--due", "due", "--stage", "--opened"}


@dataclass(frozen=True, slots=True)
class Parsed:
    number: str
    new: dispute_service.NewDispute | None  # None: show the case's disputes


def usage(tr: Translator) -> str:
    return tr(
        "Record a dispute with the case number, the platform, the platform's dispute id and "
        "the day it opened, for example:\n/dispute R-2612-0001 aliexpress 8123456789 opened "
        "2026-12-01\nA chargeback also needs the due date: /dispute R-2612-0001 shopify "
        "CB-123 --due 2026-12-10\n/dispute R-2612-0001 alone shows the case's disputes."
    )


def parse(args: str) -> Parsed | None:
    """The words after /dispute; None when they do not make a dispute (the usage is shown).
    Values are checked by the core, which says what is wrong with them."""
    words = args.split()
    if not words or not find_case_numbers(words[0]):
        return None
    number = find_case_numbers(words[0])[0]
    rest = words[1:]
    if not rest:
        return Parsed(number, None)
    if len(rest) < 2 or rest[0].lower() in KEYWORDS or rest[1].lower() in KEYWORDS:
        return None
    platform, external, options = rest[0], rest[1], rest[2:]
    values: dict[str, list[str]] = {}
    key: str | None = None
    for word in options:
        if word.lower() in KEYWORDS:
            key = word.lower().lstrip("-")
            values[key] = []
        elif key is None:
            return None
        else:
            values[key].append(word)
    if any(not v for v in values.values()):
        return None
    opened = " ".join(values["opened"]) if "opened" in values else None
    due = " ".join(values["due"]) if "due" in values else None
    stage = values["stage"][0] if "stage" in values else None
    return Parsed(number, dispute_service.NewDispute(platform, external, opened, stage, due))


async def dispute(
    message: Message,
    command: CommandObject,
    staff: StaffIdentity,
    tr: Translator,
    core: CoreContext,
) -> None:
    parsed = parse(command.args or "")
    if parsed is None:
        await message.answer(usage(tr))
        return
    try:
        if parsed.new is None:
            found = await dispute_service.of_case(core, staff.actor, parsed.number)
            lines = views.card_lines(tr, core.config, found, core.now())
            await message.answer(
                "\n".join(lines)
                or tr("No dispute recorded on case {number}.", number=parsed.number)
            )
            return
        done = await dispute_service.record_or_move(core, staff.actor, parsed.number, parsed.new)
    except CoreError as exc:
        await message.answer(texts.error(tr, exc))
        return
    await message.answer(
        views.recorded(
            tr, core.config, done.case.number, done.dispute, created=done.created, now=core.now()
        )
    )


class RecordDispute(StatesGroup):
    details = State()  # the platform's id, the day it opened (or a chargeback's due date)


async def pressed(
    query: CallbackQuery,
    callback_data: views.RecordDisputeCb,
    staff: StaffIdentity,
    state: FSMContext,
    tr: Translator,
    core: CoreContext,
) -> None:
    """The card's button: choose the platform, then type the id and the date."""
    number, key = callback_data.number, callback_data.platform
    chat_id = query.message.chat.id if query.message is not None else query.from_user.id
    bot = query.bot
    assert bot is not None
    try:  # the case must still be this person's to see
        await dispute_service.of_case(core, staff.actor, number)
    except CoreError as exc:
        await query.answer(texts.error(tr, exc), show_alert=True)
        return
    await query.answer()
    if not key:
        await bot.send_message(
            chat_id,
            tr("Case {number}: on which platform was the dispute opened?", number=number),
            reply_markup=views.platform_buttons(core.config, number),
        )
        return
    platform = core.config.disputes.platforms.get(key)
    if platform is None:
        await bot.send_message(chat_id, usage(tr))
        return
    await state.set_state(RecordDispute.details)
    await state.update_data(case=number, platform=key)
    if any(v.due_date_given for v in platform.versions):
        question = tr(
            "Type the chargeback's id and the evidence due date {platform} gives, for "
            "example: CB-123 2026-12-10",
            platform=platform.name,
        )
    else:
        question = tr(
            "Type the dispute's id on {platform} and the day it opened, for example: "
            "8123456789 2026-12-01 (without a day: opened now)",
            platform=platform.name,
        )
    await bot.send_message(chat_id, question)


async def details(
    message: Message,
    staff: StaffIdentity,
    state: FSMContext,
    tr: Translator,
    core: CoreContext,
) -> None:
    """The id and date typed after the card's button."""
    assert message.text is not None
    data = await state.get_data()
    words = message.text.split()
    platform = core.config.disputes.platforms.get(data.get("platform", ""))
    if not words or platform is None:
        await state.clear()
        await message.answer(usage(tr))
        return
    when = " ".join(words[1:]) or None
    chargeback = any(v.due_date_given for v in platform.versions)
    new = dispute_service.NewDispute(
        data["platform"],
        words[0],
        opened=None if chargeback else when,
        due=when if chargeback else None,
    )
    try:
        done = await dispute_service.record_or_move(core, staff.actor, data["case"], new)
    except CoreError as exc:
        await message.answer(texts.error(tr, exc))
        if exc.code not in ("invalid", "bad_date", "due_date_required"):
            await state.clear()
        return
    await state.clear()
    await message.answer(
        views.recorded(
            tr, core.config, done.case.number, done.dispute, created=done.created, now=core.now()
        )
    )


def make_router() -> Router:
    router = Router(name="disputes")
    private = F.chat.type == "private"
    router.message.register(dispute, private, Command("dispute"), IsStaff())
    router.callback_query.register(pressed, views.RecordDisputeCb.filter(), IsStaff())
    router.callback_query.register(not_staff_press, views.RecordDisputeCb.filter())
    router.message.register(
        details,
        StateFilter(RecordDispute.details),
        F.text & ~F.text.startswith("/"),
        IsStaff(),
    )
    return router


__all__ = ["make_router", "parse"]
