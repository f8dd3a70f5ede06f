"""My cases: the list, one case's card and timeline, and what a buyer can do on it.

The buttons under a case come from what the core lets the buyer do now (bot.views.actions);
each button code maps to one handler here. "I've sent it" asks for the carrier and tracking
number and a photo of the postage receipt, both optional, then tells the shop.
"""

from __future__ import annotations

from aiogram import Bot, F
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, User

from bot.conversations.buyer import conversation, dispute_report
from bot.conversations.callbacks import CaseCb, MenuCb, NavCb
from bot.conversations.common import buyer, fresh_start, send
from bot.conversations.evidence import evidence_of, store_evidence
from bot.conversations.filters import PrivateChat
from bot.conversations.states import CaseFollowUp
from bot.receiving.routing import Router
from bot.views import keyboards, texts
from bot.views.actions import buyer_actions
from bot.views.i18n import Translator
from core.cases.lifecycle import Action
from core.cases.model import Case
from core.disputes.mentions import mentions_dispute
from core.errors import CoreError
from core.services import cases as case_service
from core.services.context import CoreContext

TIMELINE_ENTRIES = 12


async def show_list(bot: Bot, chat_id: int, user: User, tr: Translator, core: CoreContext) -> None:
    cases = await case_service.buyer_cases(core, buyer(user))
    if not cases:
        await bot.send_message(
            chat_id, tr("You have no cases yet."), reply_markup=keyboards.main_menu(tr)
        )
        return
    lines = [tr("Your cases:")] + [texts.case_line(tr, case) for case in cases[:10]]
    await send(bot, chat_id, "\n".join(lines), keyboards.case_list(tr, cases))


async def show_case(
    bot: Bot, chat_id: int, user: User, number: str, tr: Translator, core: CoreContext
) -> None:
    view = await case_service.get_case(core, buyer(user), number)
    lines = [texts.case_card(tr, view.case, view.order), "", tr("History:")]
    for event in view.timeline[-TIMELINE_ENTRIES:]:
        lines.append(texts.timeline_entry(tr, event.at, event.action, event.note, data=event.data))
    await send(bot, chat_id, "\n".join(lines), buyer_actions(tr, view.case, user.id))


def human_next_steps(tr: Translator, core: CoreContext) -> str:
    hours = core.config.lifecycle.agent_first_response_hours
    return tr.plural(
        "A support agent will take over this conversation and reply here within an hour. "
        "You do not need to do anything else.",
        "A support agent will take over this conversation and reply here within {n} "
        "hours. You do not need to do anything else.",
        hours,
    )


# ── what each button does ──────────────────────────────────────────────────────────────────


async def _message(
    bot: Bot, user: User, number: str, state: FSMContext, tr: Translator, core: CoreContext
) -> None:
    await case_service.get_case(core, buyer(user), number)  # theirs?
    await state.set_state(CaseFollowUp.message)
    await conversation.write(state, case=number)
    await bot.send_message(
        user.id,
        tr("Type your message for case {number}.", number=number),
        reply_markup=keyboards.only_nav(tr, back=False),
    )


async def _evidence(
    bot: Bot, user: User, number: str, state: FSMContext, tr: Translator, core: CoreContext
) -> None:
    await case_service.get_case(core, buyer(user), number)
    await state.set_state(CaseFollowUp.evidence)
    await conversation.write(state, case=number, evidence=[])
    await bot.send_message(
        user.id,
        tr("Send the photos or videos now, then press Done."),
        reply_markup=keyboards.evidence(tr, can_finish=True),
    )


async def _sent(
    bot: Bot, user: User, number: str, state: FSMContext, tr: Translator, core: CoreContext
) -> None:
    case = await case_service.provide_info(core, buyer(user), number)
    await bot.send_message(
        user.id,
        tr(
            "Thank you. Case {number}: {status}.",
            number=number,
            status=texts.status(tr, case.status),
        ),
        reply_markup=keyboards.home(tr),
    )


async def _shipped(
    bot: Bot, user: User, number: str, state: FSMContext, tr: Translator, core: CoreContext
) -> None:
    """I've sent it: first the carrier and tracking number (optional)."""
    view = await case_service.get_case(core, buyer(user), number)
    refusal = view.case.refusal(Action.RETURN_SHIPPED, buyer(user))
    if refusal is not None:  # an old button: say why, before asking anything
        raise CoreError("not now", code=refusal)
    await state.set_state(CaseFollowUp.return_tracking)
    await conversation.write(state, case=number, tracking=None)
    await bot.send_message(
        user.id,
        tr(
            "Type the carrier and the tracking number of your parcel (for example: "
            "DHL 00340434161234567890), or press Skip if you have none."
        ),
        reply_markup=keyboards.with_skip(tr),
    )


async def _withdraw(
    bot: Bot, user: User, number: str, state: FSMContext, tr: Translator, core: CoreContext
) -> None:
    await case_service.get_case(core, buyer(user), number)  # theirs?
    await bot.send_message(
        user.id,
        tr("Withdraw case {number}? The shop will stop working on it.", number=number),
        reply_markup=keyboards.confirm_withdraw(tr, number),
    )


async def _withdraw_yes(
    bot: Bot, user: User, number: str, state: FSMContext, tr: Translator, core: CoreContext
) -> None:
    await case_service.withdraw(core, buyer(user), number)
    await bot.send_message(
        user.id,
        tr("Case {number} is withdrawn.", number=number),
        reply_markup=keyboards.home(tr),
    )


async def _human(
    bot: Bot, user: User, number: str, state: FSMContext, tr: Translator, core: CoreContext
) -> None:
    await case_service.escalate(core, buyer(user), number, "buyer_asked")
    await bot.send_message(user.id, human_next_steps(tr, core), reply_markup=keyboards.home(tr))


async def _reopen(
    bot: Bot, user: User, number: str, state: FSMContext, tr: Translator, core: CoreContext
) -> None:
    await case_service.reopen(core, buyer(user), number, "buyer_disagrees")
    await bot.send_message(user.id, human_next_steps(tr, core), reply_markup=keyboards.home(tr))


async def _show(
    bot: Bot, user: User, number: str, state: FSMContext, tr: Translator, core: CoreContext
) -> None:
    await show_case(bot, user.id, user, number, tr, core)


# Button code (CaseCb.action) → handler. The codes that perform a lifecycle action are those
# of bot.views.actions.BUYER_BUTTONS; the others only open a step or a screen.
CASE_BUTTONS = {
    "show": _show,
    "message": _message,
    "evidence": _evidence,
    "sent": _sent,
    "shipped": _shipped,
    "withdraw": _withdraw,
    "withdraw_yes": _withdraw_yes,
    "human": _human,
    "reopen": _reopen,
}


async def _case_number(state: FSMContext) -> str:
    """The case a follow-up step is about (set with the step, by the case's button)."""
    number = (await conversation.read(state)).case
    assert number is not None
    return number


async def cases_command(
    message: Message, bot: Bot, state: FSMContext, tr: Translator, core: CoreContext
) -> None:
    assert message.from_user is not None
    await fresh_start(state)
    await show_list(bot, message.chat.id, message.from_user, tr, core)


async def cases_button(
    query: CallbackQuery, bot: Bot, state: FSMContext, tr: Translator, core: CoreContext
) -> None:
    await query.answer()
    await fresh_start(state)
    await show_list(bot, query.from_user.id, query.from_user, tr, core)


async def case_action(
    query: CallbackQuery,
    callback_data: CaseCb,
    bot: Bot,
    state: FSMContext,
    tr: Translator,
    core: CoreContext,
) -> None:
    handler = CASE_BUTTONS.get(callback_data.action, _show)
    try:
        await handler(bot, query.from_user, callback_data.number, state, tr, core)
    except CoreError as exc:
        await query.answer(texts.error(tr, exc), show_alert=True)
        if exc.code not in ("case_not_found",):  # show what they can do now instead
            await show_case(
                bot, query.from_user.id, query.from_user, callback_data.number, tr, core
            )
        return
    await query.answer()


async def follow_up_message(
    message: Message, state: FSMContext, tr: Translator, core: CoreContext
) -> None:
    assert message.from_user is not None and message.text is not None
    number = await _case_number(state)
    try:
        receipt = await case_service.post_message(
            core, buyer(message.from_user), number, message.text
        )
    except CoreError as exc:
        if exc.code == "text_too_long":  # let them shorten it and send it again
            await message.answer(
                texts.error(tr, exc), reply_markup=keyboards.only_nav(tr, back=False)
            )
            return
        await message.answer(texts.error(tr, exc), reply_markup=keyboards.home(tr))
        await state.clear()
        return
    await state.clear()
    if receipt.quiet:  # flooding, and already asked to slow down this minute: kept, no answer
        return
    if receipt.slow_down:
        await message.answer(
            tr(
                "You are writing faster than the shop can read. Everything you sent is kept "
                "with case {number}; please give them a moment to answer.",
                number=number,
            ),
            reply_markup=keyboards.home(tr),
        )
        return
    if mentions_dispute(message.text):  # "I opened a dispute": which platform, which id?
        await message.answer(
            tr("Your message was added to case {number}. The shop will see it.", number=number)
        )
        text, markup = dispute_report.question(tr, core.config, number)
        await message.answer(text, reply_markup=markup)
        return
    await message.answer(
        tr("Your message was added to case {number}. The shop will see it.", number=number),
        reply_markup=keyboards.home(tr),
    )


async def follow_up_not_text(message: Message, tr: Translator) -> None:
    await message.answer(
        tr("Please type your message as text."), reply_markup=keyboards.only_nav(tr, back=False)
    )


async def _add_to_case(
    message: Message,
    bot: Bot,
    state: FSMContext,
    tr: Translator,
    core: CoreContext,
    ask_again: str,
    markup: InlineKeyboardMarkup,
) -> tuple[Case, int] | None:
    """The photo or video of ``message`` added to the follow-up's case: (the case, how many
    were new). None when the message holds none (``ask_again`` is said, the step stays) or the
    case refuses it (said; the step ends)."""
    assert message.from_user is not None
    item, _ = evidence_of(message)
    if item is None:
        await message.answer(ask_again, reply_markup=markup)
        return None
    limit = core.config.deployment.evidence_max_bytes
    if item.size and item.size > limit:  # the same check as at opening, before any download
        text = tr(
            "That file is too large (over {mb} MB). Please send a photo or a shorter video.",
            mb=limit // (1024 * 1024),
        )
        await message.answer(text, reply_markup=markup)
        return None
    item.media_group_id = message.media_group_id
    number = await _case_number(state)
    stored = await store_evidence(bot, core, [item])
    try:
        return await case_service.add_evidence(core, buyer(message.from_user), number, stored)
    except CoreError as exc:
        await state.clear()
        await message.answer(texts.error(tr, exc), reply_markup=keyboards.home(tr))
        return None


async def follow_up_evidence(
    message: Message, bot: Bot, state: FSMContext, tr: Translator, core: CoreContext
) -> None:
    markup = keyboards.evidence(tr, can_finish=True)
    ask_again = tr("Please send photos or a video here, or press Done.")
    added = await _add_to_case(message, bot, state, tr, core, ask_again, markup)
    if added is None or not added[1]:
        return  # asked again, refused, or Telegram delivered it twice
    case = added[0]
    text = tr.plural(
        "Case {number} has one photo or video.",
        "Case {number} has {n} photos or videos.",
        len(case.evidence),
        number=case.number,
    )
    albums = dict((await conversation.read(state)).album_messages)
    group = message.media_group_id
    if group and group in albums:
        try:  # one answer per album: the count is updated in place
            await bot.edit_message_text(
                text, chat_id=message.chat.id, message_id=albums[group], reply_markup=markup
            )
            return
        except TelegramBadRequest:
            pass  # that answer is gone: send a new one
    sent = await message.answer(text, reply_markup=markup)
    if group:
        albums[group] = sent.message_id
        await conversation.write(state, album_messages=albums)


async def follow_up_done(
    query: CallbackQuery, bot: Bot, state: FSMContext, tr: Translator, core: CoreContext
) -> None:
    await query.answer()
    number = await _case_number(state)
    await state.clear()
    await show_case(bot, query.from_user.id, query.from_user, number, tr, core)


# ── I've sent it ───────────────────────────────────────────────────────────────────────────


def carrier_and_tracking(text: str) -> tuple[str | None, str | None]:
    """ "DHL 00340434161234567890" → ("DHL", "0034…"); a lone number is the tracking."""
    words = text.split()
    if len(words) >= 2 and not any(ch.isdigit() for ch in words[0]):
        return words[0], " ".join(words[1:])
    return None, text.strip() or None


async def return_tracking_typed(message: Message, state: FSMContext, tr: Translator) -> None:
    assert message.text is not None
    limit = case_service.MAX_TRACKING
    if len(message.text) > limit:
        await message.answer(
            texts.error(tr, CoreError("long", code="text_too_long", limit=limit)),
            reply_markup=keyboards.with_skip(tr),
        )
        return
    await conversation.write(state, tracking=message.text.strip())
    await _ask_receipt(message.chat.id, message.bot, state, tr)  # type: ignore[arg-type]


async def return_tracking_skipped(query: CallbackQuery, state: FSMContext, tr: Translator) -> None:
    await query.answer()
    await _ask_receipt(query.from_user.id, query.bot, state, tr)  # type: ignore[arg-type]


async def _ask_receipt(chat_id: int, bot: Bot, state: FSMContext, tr: Translator) -> None:
    await state.set_state(CaseFollowUp.return_receipt)
    await bot.send_message(
        chat_id,
        tr("If you have a postage receipt, send a photo of it now. Otherwise press Skip."),
        reply_markup=keyboards.with_skip(tr),
    )


async def return_tracking_not_text(message: Message, tr: Translator) -> None:
    await message.answer(
        tr("Please type the carrier and tracking number as text, or press Skip."),
        reply_markup=keyboards.with_skip(tr),
    )


async def return_receipt_sent(
    message: Message, bot: Bot, state: FSMContext, tr: Translator, core: CoreContext
) -> None:
    assert message.from_user is not None
    ask_again = tr("Please send a photo of the receipt, or press Skip.")
    added = await _add_to_case(message, bot, state, tr, core, ask_again, keyboards.with_skip(tr))
    if added is not None:
        await _mark_shipped(message.from_user, bot, state, tr, core)


async def return_receipt_skipped(
    query: CallbackQuery, bot: Bot, state: FSMContext, tr: Translator, core: CoreContext
) -> None:
    await query.answer()
    await _mark_shipped(query.from_user, bot, state, tr, core)


async def _mark_shipped(
    user: User, bot: Bot, state: FSMContext, tr: Translator, core: CoreContext
) -> None:
    conv = await conversation.read(state)
    assert conv.case is not None  # set with the step, by the case's button
    await state.clear()
    carrier, tracking = carrier_and_tracking(conv.tracking or "")
    try:
        case = await case_service.mark_return_shipped(
            core, buyer(user), conv.case, tracking, carrier=carrier
        )
    except CoreError as exc:
        await bot.send_message(user.id, texts.error(tr, exc), reply_markup=keyboards.home(tr))
        return
    await bot.send_message(
        user.id,
        tr(
            "Thank you. The shop knows your return for case {number} is on its way and "
            "expects it by {date}. You will hear from us when it arrives.",
            number=case.number,
            date=tr.date(case.deadline_at) if case.deadline_at else "",
        ),
        reply_markup=buyer_actions(tr, case, user.id),
    )


def make_router() -> Router:
    router = Router(name="my_cases")
    router.message.filter(PrivateChat())  # a buyer's cases never show in a group
    router.callback_query.filter(PrivateChat())
    router.message.register(cases_command, Command("cases"))
    router.callback_query.register(cases_button, MenuCb.filter(F.action == "cases"))
    router.callback_query.register(case_action, CaseCb.filter())
    router.message.register(follow_up_message, CaseFollowUp.message, F.text)
    router.message.register(follow_up_not_text, CaseFollowUp.message)
    router.message.register(follow_up_evidence, CaseFollowUp.evidence)
    router.callback_query.register(
        follow_up_done,
        NavCb.filter(F.action.in_({"done", "back", "cancel"})),
        CaseFollowUp.evidence,
    )
    router.message.register(
        return_tracking_typed, CaseFollowUp.return_tracking, F.text & ~F.text.startswith("/")
    )
    router.callback_query.register(
        return_tracking_skipped, NavCb.filter(F.action == "skip"), CaseFollowUp.return_tracking
    )
    router.message.register(
        return_tracking_not_text, CaseFollowUp.return_tracking, ~F.text.startswith("/")
    )
    router.message.register(
        return_receipt_sent, CaseFollowUp.return_receipt, ~F.text.startswith("/")
    )
    router.callback_query.register(
        return_receipt_skipped, NavCb.filter(F.action == "skip"), CaseFollowUp.return_receipt
    )
    return router
