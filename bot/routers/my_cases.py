"""My cases: the list, one case's card and timeline, and what a buyer can do on it."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot import keyboards, texts
from bot.callbacks import CaseCb, MenuCb, NavCb
from bot.i18n import Translator
from bot.routers.common import buyer, fresh_start, send
from bot.routers.open_case import Flow, evidence_of, store_evidence
from bot.states import CaseFollowUp
from core.errors import CoreError
from core.services import cases as case_service
from core.services.context import CoreContext

TIMELINE_ENTRIES = 12


async def show_list(bot: Bot, chat_id: int, user, tr: Translator, core: CoreContext) -> None:
    cases = await case_service.buyer_cases(core, buyer(user))
    if not cases:
        await bot.send_message(
            chat_id, tr("You have no cases yet."), reply_markup=keyboards.main_menu(tr)
        )
        return
    lines = [tr("Your cases:")] + [texts.case_line(tr, case) for case in cases[:10]]
    await send(bot, chat_id, "\n".join(lines), keyboards.case_list(tr, cases))


async def show_case(
    bot: Bot, chat_id: int, user, number: str, tr: Translator, core: CoreContext
) -> None:
    view = await case_service.get_case(core, buyer(user), number)
    lines = [texts.case_card(tr, view.case, view.order), "", tr("History:")]
    for event in view.timeline[-TIMELINE_ENTRIES:]:
        lines.append(texts.timeline_entry(tr, event.at, event.action, event.note))
    await send(bot, chat_id, "\n".join(lines), keyboards.case_actions(tr, view.case))


def make_router() -> Router:
    router = Router(name="my_cases")

    @router.message(Command("cases"))
    async def cases_command(
        message: Message, bot: Bot, state: FSMContext, tr: Translator, core: CoreContext
    ) -> None:
        assert message.from_user is not None
        await fresh_start(state)
        await show_list(bot, message.chat.id, message.from_user, tr, core)

    @router.callback_query(MenuCb.filter(F.action == "cases"))
    async def cases_button(
        query: CallbackQuery, bot: Bot, state: FSMContext, tr: Translator, core: CoreContext
    ) -> None:
        await query.answer()
        await fresh_start(state)
        await show_list(bot, query.from_user.id, query.from_user, tr, core)

    @router.callback_query(CaseCb.filter())
    async def case_action(
        query: CallbackQuery,
        callback_data: CaseCb,
        bot: Bot,
        state: FSMContext,
        tr: Translator,
        core: CoreContext,
    ) -> None:
        user = query.from_user
        number = callback_data.number
        try:
            match callback_data.action:
                case "message":
                    await case_service.get_case(core, buyer(user), number)  # theirs?
                    await state.set_state(CaseFollowUp.message)
                    await state.update_data(case=number)
                    await bot.send_message(
                        user.id,
                        tr("Type your message for case {number}.", number=number),
                        reply_markup=keyboards.only_nav(tr, back=False),
                    )
                case "evidence":
                    await case_service.get_case(core, buyer(user), number)
                    await state.set_state(CaseFollowUp.evidence)
                    await state.update_data(case=number, evidence=[])
                    await bot.send_message(
                        user.id,
                        tr("Send the photos or videos now, then press Done."),
                        reply_markup=keyboards.evidence(tr, can_finish=True),
                    )
                case "sent":
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
                case "withdraw":
                    await case_service.get_case(core, buyer(user), number)  # theirs?
                    await bot.send_message(
                        user.id,
                        tr(
                            "Withdraw case {number}? The shop will stop working on it.",
                            number=number,
                        ),
                        reply_markup=keyboards.confirm_withdraw(tr, number),
                    )
                case "withdraw_yes":
                    await case_service.withdraw(core, buyer(user), number)
                    await bot.send_message(
                        user.id,
                        tr("Case {number} is withdrawn.", number=number),
                        reply_markup=keyboards.home(tr),
                    )
                case "human":
                    await case_service.escalate(core, buyer(user), number, "buyer_asked")
                    await bot.send_message(
                        user.id, human_next_steps(tr, core), reply_markup=keyboards.home(tr)
                    )
                case "reopen":
                    await case_service.reopen(core, buyer(user), number, "buyer_disagrees")
                    await bot.send_message(
                        user.id, human_next_steps(tr, core), reply_markup=keyboards.home(tr)
                    )
                case _:
                    await show_case(bot, user.id, user, number, tr, core)
        except CoreError as exc:
            await query.answer(texts.error(tr, exc), show_alert=True)
            return
        await query.answer()

    @router.message(CaseFollowUp.message, F.text)
    async def follow_up_message(
        message: Message, state: FSMContext, tr: Translator, core: CoreContext
    ) -> None:
        assert message.from_user is not None and message.text is not None
        data = await state.get_data()
        try:
            await case_service.add_message(
                core, buyer(message.from_user), data["case"], message.text
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
        await message.answer(
            tr(
                "Your message was added to case {number}. The shop will see it.",
                number=data["case"],
            ),
            reply_markup=keyboards.home(tr),
        )

    @router.message(CaseFollowUp.message)
    async def follow_up_not_text(message: Message, tr: Translator) -> None:
        await message.answer(
            tr("Please type your message as text."), reply_markup=keyboards.only_nav(tr, back=False)
        )

    @router.message(CaseFollowUp.evidence)
    async def follow_up_evidence(
        message: Message, bot: Bot, state: FSMContext, tr: Translator, core: CoreContext
    ) -> None:
        assert message.from_user is not None
        item, _ = evidence_of(message)
        if item is None:
            await message.answer(
                tr("Please send photos or a video here, or press Done."),
                reply_markup=keyboards.evidence(tr, can_finish=True),
            )
            return
        item["media_group_id"] = message.media_group_id
        data = await state.get_data()
        flow = Flow(bot, message.from_user, state, tr, core)
        stored = await store_evidence(flow, [item])
        try:
            case, added = await case_service.add_evidence(
                core, buyer(message.from_user), data["case"], stored
            )
        except CoreError as exc:
            await state.clear()
            await message.answer(texts.error(tr, exc), reply_markup=keyboards.home(tr))
            return
        if not added:
            return  # Telegram delivered it twice
        text = tr.plural(
            "Case {number} has one photo or video.",
            "Case {number} has {n} photos or videos.",
            len(case.evidence),
            number=case.number,
        )
        markup = keyboards.evidence(tr, can_finish=True)
        albums = dict((await state.get_data()).get("album_messages", {}))
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
            await state.update_data(album_messages=albums)

    @router.callback_query(
        NavCb.filter(F.action.in_({"done", "back", "cancel"})), CaseFollowUp.evidence
    )
    async def follow_up_done(
        query: CallbackQuery, bot: Bot, state: FSMContext, tr: Translator, core: CoreContext
    ) -> None:
        await query.answer()
        data = await state.get_data()
        await state.clear()
        await show_case(bot, query.from_user.id, query.from_user, data["case"], tr, core)

    return router


def human_next_steps(tr: Translator, core: CoreContext) -> str:
    hours = core.config.lifecycle.agent_first_response_hours
    return tr(
        "A support agent will take over this conversation and reply here within {hours} "
        "hours. You do not need to do anything else.",
        hours=hours,
    )
