"""/start (with or without a deep link), the main menu, /language, /cancel and /help."""

from __future__ import annotations

from aiogram import Bot, F
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.conversations.buyer import open_case
from bot.conversations.callbacks import LangCb, MenuCb
from bot.conversations.common import fresh_start, send
from bot.conversations.filters import PrivateChat
from bot.receiving.routing import Router
from bot.views import keyboards, texts
from bot.views.i18n import Catalogs, Translator
from core.errors import CoreError
from core.services import linking, people
from core.services.context import CoreContext


def greeting(tr: Translator, name: str | None) -> str:
    return "\n".join(
        [
            tr("Hello, {name}! I am the customer service assistant.", name=name or "👋"),
            tr(
                "I can help with returns and refunds, problems with an order, tracking a parcel, "
                "and changing or cancelling an order. What do you need?"
            ),
        ]
    )


async def start_with_link(
    message: Message,
    command: CommandObject,
    bot: Bot,
    state: FSMContext,
    tr: Translator,
    core: CoreContext,
) -> None:
    assert message.from_user is not None
    await fresh_start(state)
    try:
        result = await linking.link_by_token(core, message.from_user.id, command.args or "")
    except CoreError as exc:
        await message.answer(texts.error(tr, exc))
        await message.answer(
            greeting(tr, message.from_user.first_name), reply_markup=keyboards.main_menu(tr)
        )
        return
    await send(  # an order of many lines can be longer than one message
        bot,
        message.chat.id,
        tr("Your order {number} is linked to this chat.", number=result.order.number)
        + "\n\n"
        + texts.order_summary(tr, result.order)
        + "\n\n"
        + tr("What do you need help with?"),
        keyboards.main_menu(tr),
    )


async def start(message: Message, state: FSMContext, tr: Translator) -> None:
    assert message.from_user is not None
    await fresh_start(state)
    await message.answer(
        greeting(tr, message.from_user.first_name), reply_markup=keyboards.main_menu(tr)
    )


async def start_in_group(message: Message, tr: Translator) -> None:
    """Orders and cases are private: in a group, the bot only points to a private chat."""
    await message.answer(tr("I help with orders in a private chat only: please write to me there."))


async def cancel(message: Message, state: FSMContext, tr: Translator) -> None:
    had = await state.get_state()
    await state.clear()
    text = tr("Cancelled. Nothing was sent.") if had else tr("There is nothing to cancel.")
    await message.answer(text, reply_markup=keyboards.main_menu(tr))


async def help_(message: Message, tr: Translator) -> None:
    await message.answer(
        "\n".join(
            [
                tr(
                    "Tap a button below, or write to me, for example: "
                    "“my order #1001 arrived broken”."
                ),
                tr(
                    "/cases shows your cases, /language changes the language, /cancel stops "
                    "what we are doing, and /human asks for a person."
                ),
            ]
        ),
        reply_markup=keyboards.main_menu(tr),
    )


async def language(message: Message, tr: Translator) -> None:
    await message.answer(tr("Choose your language:"), reply_markup=keyboards.languages())


async def set_language(
    query: CallbackQuery, callback_data: LangCb, catalogs: Catalogs, core: CoreContext
) -> None:
    tr = catalogs.get(callback_data.code)  # from now on, the chosen language
    await people.choose_language(core, query.from_user.id, tr.language)
    await query.answer()
    assert query.message is not None
    await query.message.answer(
        tr("I will speak English with you from now on."), reply_markup=keyboards.main_menu(tr)
    )


async def menu(
    query: CallbackQuery,
    callback_data: MenuCb,
    bot: Bot,
    state: FSMContext,
    tr: Translator,
    core: CoreContext,
) -> None:
    await query.answer()
    flow = open_case.Flow(bot, query.from_user, state, tr, core)
    match callback_data.action:
        case "return" | "problem":
            await open_case.start(flow, purpose="case")
        case "track":
            await open_case.start(flow, purpose="track")
        case "change":
            await open_case.start(flow, purpose="change")
        case "lang":
            await bot.send_message(
                query.from_user.id,
                tr("Choose your language:"),
                reply_markup=keyboards.languages(),
            )
        case _:
            await fresh_start(state)
            await bot.send_message(
                query.from_user.id,
                tr("What do you need help with?"),
                reply_markup=keyboards.main_menu(tr),
            )


def make_router() -> Router:
    router = Router(name="start")
    private = PrivateChat()
    router.message.register(start_with_link, private, CommandStart(deep_link=True))
    router.message.register(start, private, CommandStart())
    router.message.register(start, private, Command("menu"))
    router.message.register(start_in_group, CommandStart())
    router.message.register(start_in_group, Command("menu"))
    router.message.register(cancel, Command("cancel"))
    router.message.register(help_, private, Command("help"))
    router.message.register(start_in_group, Command("help"))
    router.message.register(language, Command("language"))
    router.callback_query.register(set_language, LangCb.filter())
    router.callback_query.register(
        menu,
        private,
        MenuCb.filter(F.action.in_({"return", "problem", "track", "change", "lang", "home"})),
    )
    return router
