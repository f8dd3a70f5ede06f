"""Sellers and agents: joining by invitation, their greeting on a plain /start (their shops,
what waits for them, how to decide; an order's link still reaches the buyer's flow), the case
queue, a case's card, and the buttons under alerts and cards, in private chat, in the shop's
staff group and in the agents' topics.

The buttons come from ``Case.available_actions`` (bot.views.actions); a press names the status
its button was made for. When the case has moved on meanwhile (another seller decided, the
buyer answered), the pressed message is refreshed in place with the case as it stands and who
changed it; nothing is applied twice. A question a button asks ("type the reason") is asked in
the chat and topic where it was pressed, and the next line typed there answers it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from aiogram import Bot, F
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, CommandStart, Filter, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    InaccessibleMessage,
    InlineKeyboardMarkup,
    Message,
    TelegramObject,
    User,
)

from bot.conversations.agents import WORDS, AgentChat, topic_of
from bot.conversations.common import send
from bot.conversations.evidence import ZipDocument
from bot.receiving.routing import Router
from bot.views import disputes as dispute_views
from bot.views import replies as reply_views
from bot.views import texts
from bot.views.actions import (
    STAFF_BUTTONS,
    STATUS_CODES,
    STATUS_OF_CODE,
    StaffCb,
    staff_actions,
)
from bot.views.i18n import Html, Translator, escape
from core.cases import replies as ready_replies
from core.cases.lifecycle import Action, CaseStatus, Role
from core.cases.model import Actor, Case
from core.cases.numbers import find_case_numbers
from core.cases.reasons import Reason, Resolution
from core.errors import CoreError, Forbidden
from core.money import Money, MoneyError
from core.services import cases as case_service
from core.services import dispute_pack, people
from core.services import disputes as dispute_service
from core.services import export as export_service
from core.services import staff as staff_service
from core.services.context import CoreContext
from core.services.staff import StaffIdentity

TYPED = F.text & ~F.text.startswith("/")  # a command (/cancel) is never taken as an answer
NONE_WORDS = frozenset({"-", "—", "no", "none"})  # "no tracking number"


class StaffInput(StatesGroup):
    amount = State()  # a partial refund's amount
    reject = State()  # the reason for the buyer
    info = State()  # what the buyer must send
    refund = State()  # amount and reference of a refund made
    refund_failed = State()  # what the payment provider said
    tracking = State()  # the tracking number of a replacement or reship
    return_tracking = State()  # carrier and tracking of the buyer's return parcel
    lost = State()  # what the carrier says of the lost return parcel
    cancel = State()  # why the case is called off, for the buyer
    label = State()  # return instructions (text) or a label (PDF)


class IsStaff(Filter):
    """Passes for sellers and agents, and hands the handler their identity as ``staff``."""

    async def __call__(
        self, event: TelegramObject, core: CoreContext, event_from_user: User | None = None
    ) -> bool | dict[str, Any]:
        if event_from_user is None:
            return False
        identity = await staff_service.identify(
            core, event_from_user.id, event_from_user.first_name
        )
        return {"staff": identity} if identity is not None else False


class AnswerHere(Filter):
    """A message in the chat and topic where the question was asked. The state itself is
    kept per person, chat and topic (the dispatcher's FSM strategy), so only the answer of
    the person who pressed, typed where they pressed, is taken; this checks the topic again
    for states kept before that."""

    async def __call__(self, message: Message, state: FSMContext) -> bool:
        data = await state.get_data()
        return data.get("thread") == topic_of(message)


async def _card(
    tr: Translator,
    staff: StaffIdentity,
    view: case_service.CaseView,
    core: CoreContext,
    *,
    history: bool = True,
    actions: list[Action] | None = None,
) -> tuple[str, InlineKeyboardMarkup]:
    """A case's card for staff (with its history) and the buttons they may press now
    (``actions``, when the caller already asked the core for them)."""
    chat = None
    if view.case.buyer_id is not None:  # who writes to the bot, and in which language
        chat = await people.chat_user(core, view.case.buyer_id)
    lines = [
        texts.case_card(tr, view.case, view.order, staff=True),
        texts.buyer_line(tr, view.order, chat),
        *texts.account_lines(tr, view.case, chat),
    ]
    disputes = (await dispute_service.of_cases(core, [view.case])).get(view.case.id or 0, [])
    lines += dispute_views.card_lines(tr, core.config, disputes, core.now())
    if history:
        lines += ["", tr("History:")]
        lines += [
            texts.timeline_entry(tr, e.at, e.action, e.note, staff=True, data=e.data)
            for e in view.timeline[-15:]
        ]
    if actions is None:
        actions = await case_service.available_actions(core, staff.actor, view.case)
    markup = staff_actions(tr, view.case, actions)
    if ready_replies.offered(view.case, view.order, staff.actor, core.now()):
        status = STATUS_CODES[view.case.status]  # only where they may write to the buyer
        markup.inline_keyboard.append([reply_views.card_button(tr, view.case.number, status)])
    if core.config.disputes.platforms:  # the platform dispute on the case, from the card
        markup.inline_keyboard.append([dispute_views.card_button(tr, view.case.number)])
    return "\n".join(lines), markup


async def show_card(
    bot: Bot,
    chat_id: int,
    staff: StaffIdentity,
    number: str,
    tr: Translator,
    core: CoreContext,
    *,
    thread_id: int | None = None,
) -> None:
    view = await case_service.get_case(core, staff.actor, number)
    text, markup = await _card(tr, staff, view, core)
    await send(bot, chat_id, text, markup, thread_id=thread_id)


async def _refresh_in_place(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup) -> None:
    """The pressed message shows the case as it stands now, with the buttons that apply."""
    message = query.message
    if message is None or isinstance(message, InaccessibleMessage):
        return
    try:
        if message.text is not None:
            await message.edit_text(text, reply_markup=markup)
        else:  # a photo's caption or a document: only the buttons change
            await message.edit_reply_markup(reply_markup=markup)
    except TelegramBadRequest:  # unchanged, or too old to edit: send it afresh there
        await send(query.bot, message.chat.id, text, markup, thread_id=message.message_thread_id)  # type: ignore[arg-type]


async def _changed(
    query: CallbackQuery,
    tr: Translator,
    staff: StaffIdentity,
    view: case_service.CaseView,
    core: CoreContext,
    actions: list[Action] | None = None,
) -> None:
    """ "This case has just changed": what the last change was and who made it, and the
    pressed message refreshed with the case as it stands."""
    if view.timeline:
        last = view.timeline[-1]
        said = tr(
            "This case has just changed: {what} ({who}, {when}). Here is where it stands now.",
            what=texts.timeline_label(tr, last.action, staff=True),
            who=texts.staff_role(tr, last.actor_role.value),
            when=tr.date(last.at),
        )
    else:
        said = texts.error(tr, CoreError("changed", code="already_handled"))
    await query.answer(said, show_alert=True)
    await _refresh_in_place(
        query, *await _card(tr, staff, view, core, history=False, actions=actions)
    )


def _done_line(tr: Translator, case: Case, *, html: bool = True) -> str:
    return tr(
        "Case {number}: {status}",
        number=texts.bold(case.number) if html else case.number,
        status=texts.status_for(tr, case.status, staff=True),
    )


@dataclass(frozen=True)
class Answer:
    """What a staff member typed for a case, and who they are."""

    core: CoreContext
    actor: Actor
    number: str
    status: CaseStatus | None
    message: Message
    bot: Bot

    @property
    def text(self) -> str:
        return (self.message.text or "").strip()

    @property
    def optional_text(self) -> str | None:
        """The typed text, or None for "-" (nothing to add)."""
        return None if self.text.casefold() in NONE_WORDS else self.text

    async def amount(self, text: str) -> Money:
        """An amount as staff type it ("12.50" or "12,50"), in the case's currency."""
        view = await case_service.get_case(self.core, self.actor, self.number)
        try:
            return Money.parse(text.replace(",", "."), view.case.currency)
        except MoneyError as exc:
            raise CoreError(str(exc), code="invalid_amount") from exc


async def _partial_refund(a: Answer) -> Case:
    return await case_service.approve(
        a.core,
        a.actor,
        a.number,
        Resolution.PARTIAL_REFUND,
        refund_amount=await a.amount(a.text),
        expected_status=a.status,
    )


async def _reject(a: Answer) -> Case:
    return await case_service.reject(a.core, a.actor, a.number, a.text, expected_status=a.status)


async def _ask(a: Answer) -> Case:
    return await case_service.request_info(
        a.core, a.actor, a.number, a.text, expected_status=a.status
    )


async def _refund_made(a: Answer) -> Case:
    amount, _, reference = a.text.partition(" ")
    return await case_service.record_refund(
        a.core, a.actor, a.number, await a.amount(amount), reference.strip() or None
    )


async def _refund_failed(a: Answer) -> Case:
    return await case_service.record_refund_failed(a.core, a.actor, a.number, a.optional_text)


async def _shipped(a: Answer) -> Case:
    return await case_service.record_replacement(a.core, a.actor, a.number, a.optional_text)


async def _return_sent(a: Answer) -> Case:
    return await case_service.mark_return_shipped(a.core, a.actor, a.number, a.optional_text)


async def _lost(a: Answer) -> Case:
    return await case_service.mark_goods_lost(a.core, a.actor, a.number, a.optional_text)


async def _cancel(a: Answer) -> Case:
    return await case_service.cancel(a.core, a.actor, a.number, a.text)


async def _label(a: Answer) -> Case:
    case = await case_service.issue_label(
        a.core, a.actor, a.number, a.message.text or a.message.caption or None
    )
    if a.message.document is not None and case.buyer_id is not None:
        # the label goes to the buyer as it is, from the bot
        await a.bot.copy_message(case.buyer_id, a.message.chat.id, a.message.message_id)
    return case


ANSWERS: dict[str, Callable[[Answer], Awaitable[Case]]] = {
    str(StaffInput.amount.state): _partial_refund,
    str(StaffInput.reject.state): _reject,
    str(StaffInput.info.state): _ask,
    str(StaffInput.refund.state): _refund_made,
    str(StaffInput.refund_failed.state): _refund_failed,
    str(StaffInput.tracking.state): _shipped,
    str(StaffInput.return_tracking.state): _return_sent,
    str(StaffInput.lost.state): _lost,
    str(StaffInput.cancel.state): _cancel,
    str(StaffInput.label.state): _label,
}
# Mistakes in the typed answer itself: the question stays open so it can be typed again.
CORRECTABLE = frozenset(
    {
        "amount_out_of_range",
        "wrong_currency",
        "reason_required",
        "amount_required",
        "invalid_amount",
        "empty",
        "text_too_long",
    }
)


def _questions(tr: Translator) -> dict[str, tuple[State, str]]:
    """The buttons that need a line typed: the state that waits for it and the question."""
    skip = tr("(or - if there is none)")
    return {
        "part": (
            StaffInput.amount,
            tr("Type the amount to refund (the buyer keeps the item), for example 12.50."),
        ),
        "no": (StaffInput.reject, tr("Type the reason for the buyer (it is sent to them).")),
        "info": (StaffInput.info, tr("Type what the buyer must send or answer.")),
        "paid": (
            StaffInput.refund,
            tr("Type the amount refunded and the payment reference, for example: 39.90 PAY-123."),
        ),
        "fail": (
            StaffInput.refund_failed,
            tr("Type what the payment provider said") + " " + skip,
        ),
        "ship": (
            StaffInput.tracking,
            tr("Type the tracking number of the parcel sent.") + " " + skip,
        ),
        "sent": (
            StaffInput.return_tracking,
            tr("Type the carrier and tracking number of the buyer's return parcel") + " " + skip,
        ),
        "lost": (StaffInput.lost, tr("Type what the carrier says about the parcel") + " " + skip),
        "cancel": (StaffInput.cancel, tr("Type why the case is cancelled (the buyer reads it).")),
        "label": (
            StaffInput.label,
            tr("Send the return label as a PDF, or type the return instructions."),
        ),
    }


# The buttons that act at once: each calls one core service.
OneTap = Callable[[CoreContext, Actor, StaffCb, CaseStatus | None], Awaitable[Case]]
ONE_TAP: dict[str, OneTap] = {
    "ok": lambda core, actor, cb, status: case_service.approve(
        core, actor, cb.number, Resolution(cb.resolution), expected_status=status
    ),
    "esc": lambda core, actor, cb, _: case_service.escalate(core, actor, cb.number, "seller_asked"),
    "recv": lambda core, actor, cb, _: case_service.mark_goods_received(core, actor, cb.number),
    "close": lambda core, actor, cb, _: case_service.resolve(core, actor, cb.number),
    "take": lambda core, actor, cb, _: case_service.take_over(core, actor, cb.number),
    "back": lambda core, actor, cb, _: case_service.hand_back(core, actor, cb.number),
    "reopen": lambda core, actor, cb, _: case_service.reopen(core, actor, cb.number),
}


async def join(
    message: Message, command: CommandObject, state: FSMContext, tr: Translator, core: CoreContext
) -> None:
    assert message.from_user is not None
    await state.clear()
    try:
        shops, role = await staff_service.accept_invite(
            core, message.from_user.id, command.args or ""
        )
    except CoreError as exc:
        await message.answer(texts.error(tr, exc))
        return
    await message.answer(
        tr(
            "Welcome! You are now {role} for {shop}. New cases will reach "
            "you here; /cases shows the open ones.",
            role=texts.staff_role(tr, role.value),
            shop=tr.join(core.config.shop(shop).name for shop in shops),
        )
    )


async def not_staff_press(query: CallbackQuery, tr: Translator) -> None:
    """A staff button pressed by someone who is no longer staff (removed): refused, nothing
    is done (the core would refuse it too)."""
    await query.answer(texts.error(tr, Forbidden("not staff", code="not_staff")), show_alert=True)


SHOPS_NAMED = 10  # an agent works for every shop: a long list is cut short


def _greeting(
    tr: Translator,
    name: str | None,
    staff: StaffIdentity,
    shop_names: list[str],
    cases: list[Case],
    *,
    agents_group: bool,
) -> str:
    """Who they are here, what waits for them (open cases by status) and how to decide."""
    more = ["…"] if len(shop_names) > SHOPS_NAMED else []
    shops = tr.join([*shop_names[:SHOPS_NAMED], *more])
    lines = [
        tr(
            "Hello, {name}! You are {role} for {shops}.",
            name=name or "👋",
            role=texts.staff_role(tr, staff.actor.role.value),
            shops=shops,
        ),
        "",
    ]
    if cases:
        counts = Counter(case.status for case in cases)
        lines.append(tr.plural("One open case:", "{n} open cases:", len(cases)))
        for status in CaseStatus:  # in the order a case goes through them
            if counts[status]:
                lines.append(
                    f"{texts.STATUS_ICONS[status]} "
                    f"{escape(texts.status_for(tr, status, staff=True))}: "
                    f"{escape(tr.number(counts[status]))}"
                )
    else:
        lines.append(tr("No open cases. 🎉"))
    lines.append("")
    if staff.actor.role is Role.AGENT and agents_group:
        lines.append(
            tr(
                "Each case passed to agents gets a topic in the agents' group: what you write "
                "there reaches the buyer, /note keeps an internal note and /handback gives the "
                "case back to the assistant."
            )
        )
    elif staff.actor.role is Role.AGENT:
        lines.append(
            tr(
                "/take and a case number takes a case: what you write here then reaches the "
                "buyer, until /handback gives it back to the assistant."
            )
        )
    else:
        lines.append(
            tr(
                "To decide, press the buttons under each alert, or open a case with /case and "
                "its number. /export and a case number makes its evidence pack for a "
                "marketplace dispute."
            )
        )
    lines.append(
        tr(
            "/cases lists the open cases, the nearest deadline first. To see the bot as a "
            "buyer does, send /menu."
        )
    )
    return "\n".join(lines)


async def greet(
    message: Message,
    staff: StaffIdentity,
    state: FSMContext,
    tr: Translator,
    core: CoreContext,
    bot: Bot,
    agents_chat_id: int | None = None,
) -> None:
    """A plain /start from a seller or an agent: the staff greeting, not the buyer menu."""
    assert message.from_user is not None
    if await state.get_state() != AgentChat.talking.state:  # an agent keeps their buyer
        await state.clear()  # a question a button asked is dropped, as after /cancel
    try:
        cases = await case_service.open_cases(core, staff.actor)
    except CoreError as exc:
        await message.answer(texts.error(tr, exc))
        return
    names = [core.config.shop(shop).name for shop in staff.shops]
    text = _greeting(
        tr,
        message.from_user.first_name,
        staff,
        names,
        cases,
        agents_group=agents_chat_id is not None,
    )
    await send(bot, message.chat.id, text)


async def queue(
    message: Message,
    command: CommandObject,
    staff: StaffIdentity,
    tr: Translator,
    core: CoreContext,
    bot: Bot,
) -> None:
    status = reason = None
    for word in (command.args or "").split():
        if word in CaseStatus.__members__.values():
            status = CaseStatus(word)
        elif word in Reason.__members__.values():
            reason = Reason(word)
    try:
        cases = await case_service.open_cases(core, staff.actor, status=status, reason=reason)
    except CoreError as exc:
        await message.answer(texts.error(tr, exc))
        return
    if not cases:
        await message.answer(tr("No open cases. 🎉"))
        return
    lines = [tr("Open cases, nearest deadline first:")]
    disputes = await dispute_service.of_cases(core, cases[:30])
    for case in cases[:30]:
        due = f" · {tr.date(case.deadline_at)}" if case.deadline_at else ""
        due += dispute_views.short(tr, disputes.get(case.id or 0, []), core.now())
        lines.append(f"{texts.case_line(tr, case, staff=True)}{due}")
    lines.append(tr("Open one with /case followed by its number."))
    await send(bot, message.chat.id, "\n".join(lines))


async def _case_number(message: Message, command: CommandObject, tr: Translator) -> str | None:
    """The case number after a command (/case R-2611-0042), or a line saying how to give it."""
    numbers = find_case_numbers(command.args or "")
    if numbers:
        return numbers[0]
    if command.command == "export":
        await message.answer(tr("Give the case number, for example /export R-2611-0042."))
    else:
        await message.answer(tr("Give the case number, for example /case R-2611-0042."))
    return None


async def case(
    message: Message,
    command: CommandObject,
    staff: StaffIdentity,
    state: FSMContext,
    tr: Translator,
    core: CoreContext,
    bot: Bot,
) -> None:
    number = await _case_number(message, command, tr)
    if number is None:
        return
    try:
        if command.command == "take":
            await case_service.take_over(core, staff.actor, number)
            if staff.actor.role is Role.AGENT:  # what they write now goes to the buyer
                await state.set_state(AgentChat.talking)
                await state.update_data(case=number)
        await show_card(bot, message.chat.id, staff, number, tr, core)
    except CoreError as exc:
        await message.answer(texts.error(tr, exc))


async def export(
    message: Message,
    command: CommandObject,
    staff: StaffIdentity,
    tr: Translator,
    core: CoreContext,
    bot: Bot,
) -> None:
    """The case's evidence pack: a ZIP ready to upload to a marketplace dispute."""
    number = await _case_number(message, command, tr)
    if number is None:
        return
    platform = _export_for(command.args or "")
    if platform is not None:
        await _platform_export(message, staff, tr, core, bot, number, platform)
        return
    await bot.send_chat_action(message.chat.id, "upload_document")
    try:
        pack = await export_service.evidence_pack(core, staff.actor, number)
    except CoreError as exc:
        await message.answer(texts.error(tr, exc))
        return
    caption = tr(
        "Evidence pack for case {number}: the summary, the order and its tracking, the "
        "timeline, the conversation and the original photos and videos, ready to upload "
        "to the marketplace dispute.",
        number=texts.bold(number),
    )
    if pack.only_on_telegram:
        caption += "\n" + tr.plural(
            "One photo or video was never downloaded: the manifest lists it by its "
            "Telegram file id.",
            "{n} photos or videos were never downloaded: the manifest lists them by their "
            "Telegram file ids.",
            len(pack.only_on_telegram),
        )
    await bot.send_document(  # application/zip, not octet-stream
        message.chat.id, ZipDocument(pack.data, pack.filename), caption=caption
    )


def _export_for(args: str) -> str | None:
    """``--for shopify`` (or ``--for=shopify``) after /export: the platform's profile; an
    empty string when --for has no value (the core says which ones exist)."""
    words = args.replace("=", " ").split()
    if "--for" not in words:
        return None
    at = words.index("--for")
    return words[at + 1] if at + 1 < len(words) else ""


async def _platform_export(
    message: Message,
    staff: StaffIdentity,
    tr: Translator,
    core: CoreContext,
    bot: Bot,
    number: str,
    platform: str,
) -> None:
    """The pack fitted to one platform's form: what fits, what was made smaller, what was
    left out and why."""
    await bot.send_chat_action(message.chat.id, "upload_document")
    try:
        pack = await dispute_pack.platform_pack(core, staff.actor, number, platform)
    except CoreError as exc:
        await message.answer(texts.error(tr, exc))
        return
    await bot.send_document(
        message.chat.id,
        ZipDocument(pack.data, pack.filename),
        caption=dispute_views.pack_caption(tr, number, pack),
    )


async def act(
    query: CallbackQuery,
    callback_data: StaffCb,
    staff: StaffIdentity,
    state: FSMContext,
    tr: Translator,
    core: CoreContext,
    bot: Bot,
) -> None:
    """A button under an alert or a card, wherever it was pressed."""
    number, code = callback_data.number, callback_data.action
    message = query.message
    chat_id = message.chat.id if message is not None else query.from_user.id
    thread = topic_of(message) if isinstance(message, Message) else None
    try:
        view = await case_service.get_case(core, staff.actor, number)
        if code == "card":
            text, markup = await _card(tr, staff, view, core)
            await query.answer()
            await send(bot, chat_id, text, markup, thread_id=thread)
            return
        action = STAFF_BUTTONS.get(code)
        made_for = STATUS_OF_CODE.get(callback_data.status)
        now_allowed = await case_service.available_actions(core, staff.actor, view.case)
        unknown_outcome = code == "ok" and callback_data.resolution not in set(Resolution)
        if (
            action is None
            or unknown_outcome  # forged or outdated data: shown the case as it is, not a crash
            or view.case.status is not made_for
            or action not in now_allowed
        ):
            await _changed(query, tr, staff, view, core, now_allowed)
            return
        questions = _questions(tr)
        if code in questions:
            next_state, question = questions[code]
            # an agent talking to a buyer from private chat goes back to it after the answer
            talking = await state.get_state() == AgentChat.talking.state
            talking_to = (await state.get_data()).get("case") if talking else None
            await state.set_state(next_state)
            await state.update_data(
                case=number, status=view.case.status.value, thread=thread, talking_to=talking_to
            )
            await query.answer()
            # asked where the button was pressed, to the person who pressed it: their state
            # (kept per person, chat and topic) takes only their next line there
            if message is not None and message.chat.type != "private":
                question = tr(
                    "{person}: {question}",
                    person=Html(
                        f'<a href="tg://user?id={query.from_user.id}">'
                        f"{escape(query.from_user.first_name)}</a>"
                    ),
                    question=question,
                )
            await bot.send_message(chat_id, question, message_thread_id=thread)
            return
        done = await ONE_TAP[code](core, staff.actor, callback_data, made_for)
    except CoreError as exc:
        if exc.code in ("already_handled", "stale_case"):  # somebody else was first
            await _changed(
                query, tr, staff, await case_service.get_case(core, staff.actor, number), core
            )
            return
        await query.answer(texts.error(tr, exc), show_alert=True)
        return
    await query.answer(_done_line(tr, done, html=False))
    # the order does not change with the case; the card under the press has no history
    await _refresh_in_place(
        query, *await _card(tr, staff, replace(view, case=done), core, history=False)
    )


async def answer(
    message: Message,
    state: FSMContext,
    staff: StaffIdentity,
    tr: Translator,
    core: CoreContext,
    bot: Bot,
) -> None:
    """The line of text (or the PDF) a button asked for: apply it to the case."""
    current = await state.get_state()
    data = await state.get_data()
    status = CaseStatus(data["status"]) if data.get("status") else None
    thread = topic_of(message)
    try:
        done = await ANSWERS[current or ""](
            Answer(core, staff.actor, data["case"], status, message, bot)
        )
    except CoreError as exc:
        await message.answer(texts.error(tr, exc))
        if exc.code not in CORRECTABLE:  # else they can type it again, right away
            await _after_question(state, data)
        return
    await _after_question(state, data)
    actions = await case_service.available_actions(core, staff.actor, done)
    await bot.send_message(
        message.chat.id,
        _done_line(tr, done),
        reply_markup=staff_actions(tr, done, actions),
        message_thread_id=thread,
    )


async def _after_question(state: FSMContext, data: dict[str, Any]) -> None:
    """The question is answered: back to the buyer's conversation if the agent was in one."""
    await state.clear()
    if data.get("talking_to"):
        await state.set_state(AgentChat.talking)
        await state.update_data(case=data["talking_to"])


async def unexpected(message: Message, tr: Translator) -> None:
    await message.answer(tr("Please answer with text (or a PDF for a label), or /cancel."))


def make_router() -> Router:
    router = Router(name="staff")
    private = F.chat.type == "private"
    router.message.register(
        join, private, CommandStart(deep_link=True, magic=F.args.startswith("s"))
    )
    # plain /start only: an order's deep link reaches the buyer's flow (staff buy too)
    router.message.register(greet, private, CommandStart(deep_link=False), IsStaff())
    router.message.register(queue, private, Command("cases", "queue"), IsStaff())
    router.message.register(case, private, Command("case", "take"), IsStaff())
    router.message.register(export, private, Command("export"), IsStaff())
    router.callback_query.register(act, StaffCb.filter(), IsStaff())
    router.callback_query.register(not_staff_press, StaffCb.filter())
    waiting = [s for s in StaffInput.__all_states__ if s is not StaffInput.label]
    router.message.register(answer, StateFilter(*waiting), TYPED, AnswerHere(), IsStaff())
    router.message.register(
        answer, StateFilter(StaffInput.label), TYPED | F.document, AnswerHere(), IsStaff()
    )
    router.message.register(  # a pin or another service message is not an answer
        unexpected,
        StateFilter(StaffInput),
        F.content_type.in_(WORDS),
        ~F.text.startswith("/"),
        AnswerHere(),
        IsStaff(),
    )
    return router


__all__ = ["Action", "StaffCb", "StaffInput", "make_router", "show_card"]
