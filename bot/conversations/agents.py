"""Agents talking to buyers through the bot.

Once an agent owns a case (Take over, /take, or simply writing in the case's forum topic), the
bot stops answering that buyer on its own: everything the buyer sends is copied to the case's
topic in the agents' group (or to the agent's private chat when there is no group), and what
the agent writes there reaches the buyer from the bot, without revealing the agent's account.
``/note`` keeps an internal note; ``/handback`` gives the conversation back to the bot.
Commands (/start, /cancel, /cases, …) keep working for the buyer.
"""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, Filter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message, TelegramObject, User

from bot.conversations.evidence import evidence_of, store_evidence
from bot.views import events as event_views
from bot.views import texts
from bot.views.i18n import Catalogs, Translator
from core.cases import events as ev
from core.cases.lifecycle import Role
from core.cases.model import Actor, Case
from core.errors import CoreError
from core.services import cases as case_service
from core.services import people
from core.services import staff as staff_service
from core.services.context import CoreContext

log = logging.getLogger(__name__)


class AgentChat(StatesGroup):
    talking = State()  # an agent without a forum group talks to a buyer from private chat


class WithAgent(Filter):
    """A buyer's message (not a command) while an agent owns one of their cases."""

    async def __call__(
        self, event: TelegramObject, core: CoreContext, event_from_user: User | None = None
    ) -> bool | dict[str, Any]:
        if not isinstance(event, Message) or event_from_user is None:
            return False
        if event.text and event.text.startswith("/"):
            return False
        case = await case_service.agent_owned_case(core, event_from_user.id)
        return {"case": case} if case is not None else False


class InCaseTopic(Filter):
    """A message in a case's topic of the agents' group, from an agent."""

    async def __call__(
        self,
        event: TelegramObject,
        core: CoreContext,
        agents_chat_id: int | None = None,
        event_from_user: User | None = None,
    ) -> bool | dict[str, Any]:
        if (
            agents_chat_id is None
            or not isinstance(event, Message)
            or event.chat.id != agents_chat_id
            or event.message_thread_id is None
            or event_from_user is None
        ):
            return False
        identity = await staff_service.identify(
            core, event_from_user.id, event_from_user.first_name
        )
        if identity is None or identity.actor.role is not Role.AGENT:
            return False
        case = await case_service.case_of_topic(core, event.message_thread_id)
        if case is None:
            return False
        return {"case": case, "agent": identity.actor}


def _summary(message: Message) -> str:
    """What a relayed message said, for the case's timeline (and the evidence pack)."""
    if message.text:
        return message.text
    kind = "photo" if message.photo else "video" if message.video else "file"
    return f"[{kind}] {message.caption or ''}".strip()


class Copies:
    """Which relayed copy stands for which original, so that an edit follows it across; the
    most recent few thousand are remembered."""

    def __init__(self, remember: int = 5000) -> None:
        self.remember = remember
        self._copies: dict[tuple[int, int], tuple[int, int]] = {}

    def add(self, original: Message, target_chat: int, copy_id: int) -> None:
        self._copies[(original.chat.id, original.message_id)] = (target_chat, copy_id)
        if len(self._copies) > self.remember:
            del self._copies[next(iter(self._copies))]

    def of(self, original: Message) -> tuple[int, int] | None:
        return self._copies.get((original.chat.id, original.message_id))


async def mirror_edit(bot: Bot, copies: Copies, message: Message) -> None:
    """Apply an edit of a relayed message to its copy (text, or a caption)."""
    found = copies.of(message)
    if found is None:
        return
    chat_id, copy_id = found
    if message.text is not None:
        await bot.edit_message_text(
            text=message.text,
            chat_id=chat_id,
            message_id=copy_id,
            entities=message.entities,
            parse_mode=None,
        )
    elif message.caption is not None:
        await bot.edit_message_caption(
            chat_id=chat_id,
            message_id=copy_id,
            caption=message.caption,
            caption_entities=message.caption_entities,
            parse_mode=None,
        )


async def tell_buyer_agent_joined(
    bot: Bot, case: Case, core: CoreContext, catalogs: Catalogs
) -> None:
    """ "An agent has joined", sent before the agent's first words, in the buyer's language."""
    if case.buyer_id is None:
        return
    tr = catalogs.get(await people.language_of(core, case.buyer_id))
    rendered = event_views.render(
        tr, ev.AgentJoined.kind, "buyer", {"case": case.number}, case, None
    )
    await bot.send_message(case.buyer_id, rendered.text, reply_markup=rendered.markup)


async def from_buyer(
    message: Message,
    case: Case,
    bot: Bot,
    tr: Translator,
    core: CoreContext,
    state: FSMContext,
    agents_chat_id: int | None,
    relay_copies: Copies,
) -> None:
    """Copy the buyer's message to the agent; photos and videos become evidence too."""
    assert message.from_user is not None
    actor = Actor.buyer(message.from_user.id, message.from_user.first_name)
    if agents_chat_id is not None and case.agent_topic_id is not None:
        target, thread = agents_chat_id, case.agent_topic_id
    elif case.owner_agent_id is not None:
        target, thread = case.owner_agent_id, None
        await bot.send_message(target, f"💬 <b>{texts.escape(case.number)}</b>")
    else:
        return
    copy = await bot.copy_message(
        target, message.chat.id, message.message_id, message_thread_id=thread
    )
    relay_copies.add(message, target, copy.message_id)
    item, _ = evidence_of(message)
    try:
        if item is not None:
            stored = await store_evidence(bot, core, [item])
            await case_service.add_evidence(core, actor, case.number, stored)
        await case_service.add_message(
            core, actor, case.number, _summary(message), notify_others=False
        )
    except CoreError:
        log.info("could not record a relayed message on %s", case.number, exc_info=True)


async def note(
    message: Message,
    command: CommandObject,
    case: Case,
    agent: Actor,
    tr: Translator,
    core: CoreContext,
) -> None:
    try:
        await case_service.add_note(core, agent, case.number, command.args or "")
    except CoreError as exc:
        await message.reply(texts.error(tr, exc))
        return
    await message.reply(tr("Noted (not shown to the buyer)."))


async def _hand_back(
    message: Message, agent: Actor, number: str, tr: Translator, core: CoreContext
) -> None:
    """The conversation goes back to the bot; the buyer is told by the outbox."""
    try:
        await case_service.hand_back(core, agent, number)
    except CoreError as exc:
        await message.reply(texts.error(tr, exc))
        return
    await message.reply(tr("The assistant answers this buyer again."))


async def handback(
    message: Message, case: Case, agent: Actor, tr: Translator, core: CoreContext
) -> None:
    await _hand_back(message, agent, case.number, tr, core)


async def to_buyer(
    message: Message,
    case: Case,
    agent: Actor,
    bot: Bot,
    tr: Translator,
    core: CoreContext,
    catalogs: Catalogs,
    relay_copies: Copies,
) -> None:
    """The agent's words (or photos) reach the buyer from the bot."""
    buyer_id = case.buyer_id
    if buyer_id is None:
        return
    try:
        if case.owner_agent_id != agent.user_id:  # writing in the topic takes the case
            case = await case_service.take_over(core, agent, case.number, buyer_told=True)
            await tell_buyer_agent_joined(bot, case, core, catalogs)
        copy = await bot.copy_message(buyer_id, message.chat.id, message.message_id)
        relay_copies.add(message, buyer_id, copy.message_id)
        await case_service.add_message(
            core, agent, case.number, _summary(message), notify_others=False
        )
    except CoreError as exc:
        await message.reply(texts.error(tr, exc))


async def edited(message: Message, bot: Bot, relay_copies: Copies) -> None:
    """Edits are mirrored: the other side sees the corrected message."""
    await mirror_edit(bot, relay_copies, message)


async def handback_private(
    message: Message, state: FSMContext, tr: Translator, core: CoreContext
) -> None:
    assert message.from_user is not None
    data = await state.get_data()
    await state.clear()
    await _hand_back(message, Actor.agent(message.from_user.id), data["case"], tr, core)


async def to_buyer_private(
    message: Message,
    state: FSMContext,
    bot: Bot,
    tr: Translator,
    core: CoreContext,
    relay_copies: Copies,
) -> None:
    assert message.from_user is not None
    agent = Actor.agent(message.from_user.id, message.from_user.first_name)
    data = await state.get_data()
    try:
        view = await case_service.get_case(core, agent, data["case"])
        if view.case.buyer_id is None or view.case.owner_agent_id != agent.user_id:
            await state.clear()
            await message.answer(tr("This conversation is no longer yours."))
            return
        copy = await bot.copy_message(view.case.buyer_id, message.chat.id, message.message_id)
        relay_copies.add(message, view.case.buyer_id, copy.message_id)
        await case_service.add_message(
            core, agent, view.case.number, _summary(message), notify_others=False
        )
    except CoreError as exc:
        await message.answer(texts.error(tr, exc))


def make_router() -> Router:
    """The agents' router; the forum group's id and the relayed copies are workflow data
    (``agents_chat_id``, ``relay_copies``), set by the dispatcher's factory."""
    router = Router(name="agents")
    router.message.register(from_buyer, F.chat.type == "private", WithAgent())
    router.message.register(note, Command("note"), InCaseTopic())
    router.message.register(handback, Command("handback"), InCaseTopic())
    router.message.register(to_buyer, InCaseTopic(), ~F.text.startswith("/"))
    router.edited_message.register(edited, F.chat.type == "private", WithAgent())
    router.edited_message.register(edited, InCaseTopic())
    router.message.register(handback_private, Command("handback"), AgentChat.talking)
    router.message.register(to_buyer_private, AgentChat.talking, ~F.text.startswith("/"))
    return router
