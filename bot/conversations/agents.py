"""Agents talking to buyers through the bot.

Once an agent owns a case (Take over, /take, or simply writing in the case's forum topic), the
bot stops answering that buyer's words on its own and relays them: they are copied to the
case's topic in the agents' group (or to the agent's private chat when there is no group), and
what the agent writes there reaches the buyer from the bot, without revealing the agent's
account. ``/note`` keeps an internal note; ``/handback`` gives the conversation back to the bot.

Which of the buyer's messages go to the agent (the rule, also in the README's buyer section):
a message in the buyer's private chat, while an agent owns one of their open cases, goes to
that agent when it is words (text, a photo, a video, a file, a voice note, a sticker …, not a
service message such as a pin), is not a command, is not typed while another flow is waiting
for an answer (an FSM state: the order number and its check, a description, a follow-up …),
and is not just the number of another case or of another order as written on it (letters or
"#": NV-5506, #1001; bare digits are words for the agent). Everything else is handled by the
normal flows, so the buyer can always start something else: commands (/menu, /start, /cases,
/cancel, /human), buttons, the answers a flow asked for, and a bare order or case number,
which opens that order or case. /menu and /start say which conversation is open; so does the
"an agent has joined" notice. ``/cancel`` ends another flow, and words go to the agent again.

In the agents' group only an agent's words in a case's topic reach the buyer: service messages
(a pin, a topic renamed, closed or reopened, members joining …) never take a case over and are
never copied, and a text starting with ``/`` never reaches the buyer, sent or edited: editing
a relayed message into ``/note …`` keeps the note internal and leaves the buyer's copy as it
was; a message that was a note stays internal whatever it is edited into.
"""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot, F
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.enums import ContentType
from aiogram.filters import Command, CommandObject, CommandStart, Filter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message, TelegramObject, User

from bot.conversations import translation
from bot.conversations.evidence import evidence_of, store_evidence
from bot.receiving.routing import Router
from bot.views import events as event_views
from bot.views import texts
from bot.views.i18n import Catalogs, Translator
from core.cases import events as ev
from core.cases.lifecycle import Role
from core.cases.model import Actor, Case
from core.cases.numbers import find_case_numbers
from core.errors import CoreError
from core.orders.numbers import find_order_numbers, normalize_order_number
from core.services import cases as case_service
from core.services import people
from core.services import staff as staff_service
from core.services.context import CoreContext

log = logging.getLogger(__name__)


class AgentChat(StatesGroup):
    talking = State()  # an agent without a forum group talks to a buyer from private chat


# What a person writes or sends: the only messages ever relayed. Service messages (pinned,
# forum_topic_edited/closed/reopened, new_chat_members …) are not words and cannot be copied.
WORDS = frozenset(
    {
        ContentType.TEXT,
        ContentType.PHOTO,
        ContentType.VIDEO,
        ContentType.DOCUMENT,
        ContentType.AUDIO,
        ContentType.VOICE,
        ContentType.VIDEO_NOTE,
        ContentType.ANIMATION,
        ContentType.STICKER,
        ContentType.LOCATION,
        ContentType.VENUE,
        ContentType.CONTACT,
    }
)


def is_words(message: Message) -> bool:
    return message.content_type in WORDS


def is_command(message: Message) -> bool:
    """A text (or caption) starting with "/": never relayed, sent or edited."""
    return (message.text or message.caption or "").lstrip().startswith("/")


def topic_of(message: Message) -> int | None:
    """The forum topic a message is in; None in the General topic and in other chats (where
    ``message_thread_id`` may name a thread of replies, which is not a place)."""
    return message.message_thread_id if message.is_topic_message else None


def _only_a_number(text: str) -> tuple[list[str], list[str]]:
    """The case number or the order number a text is nothing but. An order number counts in
    its written form, with letters or "#" (AUR-10026, #1001): bare digits are more likely an
    answer for the agent (phone digits, a tracking or serial number)."""
    words = text.strip().strip(".?!").strip()
    cases = find_case_numbers(words)
    if len(cases) == 1 and cases[0].casefold() == words.casefold():
        return cases, []
    if cases or not (words.startswith("#") or any(c.isalpha() for c in words)):
        return [], []
    orders = find_order_numbers(words)
    if len(orders) == 1 and orders[0] == normalize_order_number(words):  # nothing else said
        return [], orders
    return [], []


def about_something_else(message: Message, case: Case) -> bool:
    """A bare order or case number other than the open conversation's: the buyer starts
    something else (the normal flows answer it)."""
    if not message.text:
        return False
    cases, orders = _only_a_number(message.text)
    if cases:
        return cases[0].upper() != case.number.upper()
    if orders:
        return normalize_order_number(orders[0]) != normalize_order_number(case.order_number)
    return False


class WithAgent(Filter):
    """A buyer's words for the agent who owns one of their cases (the rule is in the module's
    docstring): hands the handler that ``case``."""

    async def __call__(
        self,
        event: TelegramObject,
        core: CoreContext,
        event_from_user: User | None = None,
        raw_state: str | None = None,
    ) -> bool | dict[str, Any]:
        if (
            not isinstance(event, Message)
            or event_from_user is None
            or event.chat.type != "private"
            or raw_state is not None  # another flow waits for this answer
            or not is_words(event)
            or is_command(event)
        ):
            return False
        case = await case_service.agent_owned_case(core, event_from_user.id)
        if case is None or about_something_else(event, case):
            return False
        return {"case": case}


class InHumanConversation(Filter):
    """A buyer who has a conversation with an agent open, whatever they do now."""

    async def __call__(
        self, event: TelegramObject, core: CoreContext, event_from_user: User | None = None
    ) -> bool | dict[str, Any]:
        if (
            not isinstance(event, Message)
            or event_from_user is None
            or event.chat.type != "private"
        ):
            return False
        case = await case_service.agent_owned_case(core, event_from_user.id)
        return {"case": case} if case is not None else False


def where_you_are(tr: Translator, case: Case) -> str:
    """Which conversation the buyer is in, and how to do something else."""
    return tr(
        "You are talking with our support team about case {number}: what you write here "
        "goes to them. To do something else, send /menu.",
        number=case.number,
    )


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
            or topic_of(event) is None
            or event_from_user is None
        ):
            return False
        identity = await staff_service.identify(
            core, event_from_user.id, event_from_user.first_name
        )
        if identity is None or identity.actor.role is not Role.AGENT:
            return False
        case = await case_service.case_of_topic(core, topic_of(event) or 0)
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

    def forget(self, original: Message) -> None:
        """The original became internal (a note): its later edits stay where they are."""
        self._copies.pop((original.chat.id, original.message_id), None)


async def mirror_edit(bot: Bot, copies: Copies, message: Message) -> None:
    """Apply an edit of a relayed message to its copy (text, or a caption). A text edited into
    a command (``/note …``) is not words for the other side: the copy stays as it was, and
    the message is internal from then on."""
    found = copies.of(message)
    if found is None:
        return
    if is_command(message):
        copies.forget(message)
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
    catalogs: Catalogs,
) -> None:
    """Copy the buyer's message to the agent, its translation after it when the agent reads
    another language; photos and videos become evidence too."""
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
    await translation.follow_relayed(
        bot, core, catalogs, message, case, target, thread, copy.message_id
    )
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
    state: FSMContext,
) -> None:
    """The agent's words (or photos) reach the buyer from the bot, translated when the buyer
    reads another language (bot/conversations/translation.py; a preview may wait first)."""
    buyer_id = case.buyer_id
    if buyer_id is None:
        return
    try:
        if case.owner_agent_id != agent.user_id:  # writing in the topic takes the case
            case = await case_service.take_over(core, agent, case.number, buyer_told=True)
            await tell_buyer_agent_joined(bot, case, core, catalogs)
        sent = await translation.to_buyer(bot, core, catalogs, tr, message, case, agent, state)
        if sent is None:  # a preview waits for the agent
            return
        relay_copies.add(message, buyer_id, sent)
        await case_service.add_message(
            core, agent, case.number, _summary(message), notify_others=False
        )
    except CoreError as exc:
        await message.reply(texts.error(tr, exc))


async def edited(message: Message, bot: Bot, relay_copies: Copies) -> None:
    """Edits are mirrored: the other side sees the corrected message."""
    await mirror_edit(bot, relay_copies, message)


async def edited_in_topic(
    message: Message,
    case: Case,
    agent: Actor,
    bot: Bot,
    tr: Translator,
    core: CoreContext,
    relay_copies: Copies,
) -> None:
    """An agent's edit in a case's topic: mirrored to the buyer, unless it turns the message
    into a note, which is kept internal (the buyer keeps the message as first sent)."""
    text = (message.text or message.caption or "").strip()
    relayed = relay_copies.of(message) is not None
    await mirror_edit(bot, relay_copies, message)
    if not relayed or not (text == "/note" or text.startswith(("/note ", "/note@", "/note\n"))):
        return
    words = text.split(maxsplit=1)[1] if len(text.split(maxsplit=1)) > 1 else ""
    try:
        await case_service.add_note(core, agent, case.number, words)
    except CoreError as exc:
        await message.reply(texts.error(tr, exc))
        return
    await message.reply(
        tr("Noted (not shown to the buyer). The buyer keeps the message as it was first sent.")
    )


async def menu_while_talking(message: Message, case: Case, tr: Translator) -> None:
    """/menu or /start with a human conversation open: say which one, then the menu as
    usual (the buyer's start flow answers next)."""
    await message.answer(where_you_are(tr, case))
    raise SkipHandler


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
    catalogs: Catalogs,
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
        sent = await translation.to_buyer(bot, core, catalogs, tr, message, view.case, agent, state)
        if sent is None:  # a preview waits for the agent
            return
        relay_copies.add(message, view.case.buyer_id, sent)
        await case_service.add_message(
            core, agent, view.case.number, _summary(message), notify_others=False
        )
    except CoreError as exc:
        await message.answer(texts.error(tr, exc))


def make_router() -> Router:
    """The agents' router; the forum group's id and the relayed copies are workflow data
    (``agents_chat_id``, ``relay_copies``), set by the dispatcher's factory."""
    router = Router(name="agents")
    words = F.content_type.in_(WORDS)
    router.message.register(from_buyer, WithAgent())
    router.message.register(
        menu_while_talking, CommandStart(deep_link=False), InHumanConversation()
    )
    router.message.register(menu_while_talking, Command("menu"), InHumanConversation())
    router.message.register(note, Command("note"), InCaseTopic())
    router.message.register(handback, Command("handback"), InCaseTopic())
    router.message.register(to_buyer, words, ~F.text.startswith("/"), InCaseTopic())
    router.edited_message.register(edited, F.chat.type == "private")
    router.edited_message.register(edited_in_topic, InCaseTopic())
    router.message.register(handback_private, Command("handback"), AgentChat.talking)
    router.message.register(to_buyer_private, AgentChat.talking, words, ~F.text.startswith("/"))
    return router
