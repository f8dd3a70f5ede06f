"""The same wiring for production, the demo and the tests: create_bot and create_dispatcher."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.bot import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.strategy import FSMStrategy
from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats

from bot.board import chat as board_chat
from bot.conversations import agents, errors, replies, staff, translation
from bot.conversations import disputes as disputes_conversation
from bot.conversations import stats as stats_conversation
from bot.conversations import supplier_claims as supplier_claims_conversation
from bot.conversations.buyer import (
    dispute_report,
    fallback,
    human,
    my_cases,
    open_case,
    policy,
    start,
    survey,
)
from bot.conversations.buyer import privacy as buyer_privacy
from bot.conversations.filters import check_filters_inline
from bot.delivery import retries
from bot.delivery.session import TelegramSession
from bot.receiving.middlewares import DropRedelivered, UserContext
from bot.receiving.routing import Dispatcher
from bot.receiving.storage import ChatLocks, DatabaseStorage, FlushConversations
from bot.views.i18n import DEFAULT, SUPPORTED, Catalogs, Translator, telegram_code
from core import fast_json
from core.services.context import CoreContext


def create_bot(
    token: str, *, api_url: str | None = None, session: BaseSession | None = None
) -> Bot:
    """A bot talking HTML to Telegram, or to the Bot API server at ``api_url``."""
    if session is None:
        session = TelegramSession(
            api=TelegramAPIServer.from_base(api_url)
            if api_url
            else TelegramAPIServer.from_base("https://api.telegram.org"),
            json_loads=fast_json.loads,  # every getUpdates answer, and every reply keyboard sent
            json_dumps=fast_json.dumps,
        )
    bot = Bot(token=token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    return retries.install(bot)  # 429s and network errors are waited out, not shown to people


def create_dispatcher(
    core: CoreContext,
    catalogs: Catalogs | None = None,
    storage: BaseStorage | None = None,
    *,
    isolation: BaseEventIsolation | None = None,
    agents_chat_id: int | None = None,
    inbox: bool = False,
) -> Dispatcher:
    """The dispatcher; conversation state in the database and per-chat locks in this process
    unless ``storage`` / ``isolation`` say otherwise (Redis, shared by several processes).

    ``inbox``: updates come from the inbox (bot.receiving.inbox), which keeps each one once,
    durably, and may run one again after a failure; without it (updates fed straight in, as the
    in-process tests do) a repeated update id is dropped in memory."""
    catalogs = catalogs or Catalogs()
    dispatcher = Dispatcher(
        storage=storage or DatabaseStorage(core.unit_of_work, core.clock),
        events_isolation=isolation or ChatLocks(),
        # state per person, chat and forum topic: a question a staff button asks in a topic
        # waits for that person's answer in that topic (private chats have no topics)
        fsm_strategy=FSMStrategy.USER_IN_TOPIC,
    )
    if isinstance(dispatcher.storage, DatabaseStorage):  # outermost: after everything else
        dispatcher.update.outer_middleware(FlushConversations(dispatcher.storage))
    if not inbox:
        dispatcher.update.outer_middleware(DropRedelivered())
    dispatcher.update.outer_middleware(UserContext(core, catalogs))
    dispatcher.include_routers(
        errors.make_router(),
        buyer_privacy.make_router(),  # /mydata, /forgetme, a pending erasure: before any flow
        staff.make_router(),
        board_chat.make_router(),  # /board, /start board-<case>: staff only
        disputes_conversation.make_router(),  # /dispute: staff only
        dispute_report.make_router(),  # a buyer's platform and dispute id, once asked
        replies.make_router(),  # /reply and the ready-reply buttons: staff only
        agents.make_router(),
        translation.make_router(),  # Send / Send original / Cancel under a translation preview
        stats_conversation.make_router(),  # /stats, /cost: staff only
        supplier_claims_conversation.make_router(),  # /claims: staff only
        start.make_router(),
        survey.make_router(),  # a score pressed, then the optional comment
        human.make_router(),
        my_cases.make_router(),
        policy.make_router(),
        open_case.make_router(),
        fallback.make_router(),
    )
    check_filters_inline(dispatcher)  # not one worker thread per F.… filter checked
    dispatcher["catalogs"] = catalogs
    dispatcher["agents_chat_id"] = agents_chat_id  # the agents' forum group, if any
    dispatcher["relay_copies"] = agents.Copies()  # relayed messages, so that edits follow
    return dispatcher


def commands(tr: Translator) -> list[BotCommand]:
    return [
        BotCommand(command="start", description=tr("Main menu")),
        BotCommand(command="cases", description=tr("My cases")),
        BotCommand(command="language", description=tr("Change the language")),
        BotCommand(command="human", description=tr("Talk to a person")),
        BotCommand(command="cancel", description=tr("Stop what we are doing")),
        BotCommand(command="help", description=tr("How I can help")),
        BotCommand(command="mydata", description=tr("A copy of my data")),
        BotCommand(command="forgetme", description=tr("Erase my data")),
    ]


async def register_commands(bot: Bot, catalogs: Catalogs) -> None:
    """The command menu in every supported language (Telegram picks by the user's language)."""
    scope = BotCommandScopeAllPrivateChats()
    await bot.set_my_commands(commands(catalogs.get(DEFAULT)), scope=scope)
    for language in SUPPORTED:
        code = telegram_code(language)  # two letters: zh_Hant readers get the zh menu
        if code is None:
            continue
        await bot.set_my_commands(commands(catalogs.get(language)), scope=scope, language_code=code)
