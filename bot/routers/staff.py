"""Sellers and agents in private chat: joining by invitation, the case queue, a case's card,
and one-tap decisions on the alerts (approve, partial refund, reject, ask for more, pass to an
agent, return label, goods received, refund, shipment, close).

Every press carries the case version it was made for: when two staff press at once, the first
decision wins and the second is told so; nothing is applied twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, CommandStart, Filter, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, Message, TelegramObject, User

from bot import staff_keyboards, texts
from bot.i18n import Translator
from bot.routers.common import send
from bot.staff_keyboards import StaffCb
from core.cases.lifecycle import CaseStatus
from core.cases.model import Actor, Case
from core.cases.numbers import find_case_numbers
from core.cases.reasons import Reason, Resolution
from core.errors import CoreError
from core.money import Money, MoneyError
from core.services import cases as case_service
from core.services import export as export_service
from core.services import staff as staff_service
from core.services.context import CoreContext
from core.services.staff import StaffIdentity

TYPED = F.text & ~F.text.startswith("/")  # a command (/cancel) is never taken as an answer


class StaffInput(StatesGroup):
    amount = State()  # a partial refund's amount
    reject = State()  # the reason for the buyer
    info = State()  # what the buyer must send
    refund = State()  # amount and reference of a refund made
    tracking = State()  # the tracking number of a replacement or reship
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


async def show_card(
    bot: Bot, chat_id: int, staff: StaffIdentity, number: str, tr: Translator, core: CoreContext
) -> None:
    view = await case_service.get_case(core, staff.actor, number)
    lines = [texts.case_card(tr, view.case, view.order, staff=True)]
    buyer = view.order.buyer
    lines.append(
        tr(
            "Buyer: {name} ({country}, {language})",
            name=buyer.name,
            country=buyer.country or "?",
            language=buyer.language or "?",
        )
    )
    lines += ["", tr("History:")]
    lines += [
        texts.timeline_entry(tr, e.at, e.action, e.note, staff=True) for e in view.timeline[-15:]
    ]
    await send(
        bot,
        chat_id,
        "\n".join(lines),
        staff_keyboards.case_actions(tr, view.case, staff.actor.role),
    )


async def _drop_buttons(query: CallbackQuery) -> None:
    """Take the buttons off the alert that was pressed."""
    if query.message is not None and hasattr(query.message, "edit_reply_markup"):
        await query.message.edit_reply_markup(reply_markup=None)


def _done_line(tr: Translator, case: Case) -> str:
    return tr(
        "Case {number}: {status}",
        number=texts.bold(case.number),
        status=texts.status_for(tr, case.status, staff=True),
    )


@dataclass(frozen=True)
class Answer:
    """What a staff member typed for a case, and who they are."""

    core: CoreContext
    actor: Actor
    number: str
    version: int | None
    message: Message
    bot: Bot

    @property
    def text(self) -> str:
        return (self.message.text or "").strip()

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
        expected_version=a.version,
    )


async def _reject(a: Answer) -> Case:
    return await case_service.reject(a.core, a.actor, a.number, a.text, expected_version=a.version)


async def _ask(a: Answer) -> Case:
    return await case_service.request_info(
        a.core, a.actor, a.number, a.text, expected_version=a.version
    )


async def _refund_made(a: Answer) -> Case:
    amount, _, reference = a.text.partition(" ")
    return await case_service.record_refund(
        a.core, a.actor, a.number, await a.amount(amount), reference.strip() or None
    )


async def _shipped(a: Answer) -> Case:
    return await case_service.record_replacement(a.core, a.actor, a.number, a.text)


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
    str(StaffInput.tracking.state): _shipped,
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
    }
)


def make_router() -> Router:
    router = Router(name="staff")
    router.message.filter(F.chat.type == "private")

    @router.message(CommandStart(deep_link=True, magic=F.args.startswith("s")))
    async def join(
        message: Message,
        command: CommandObject,
        state: FSMContext,
        tr: Translator,
        core: CoreContext,
    ) -> None:
        assert message.from_user is not None
        await state.clear()
        try:
            shop, role = await staff_service.accept_invite(
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
                shop=core.config.shop(shop).name,
            )
        )

    @router.message(Command("cases", "queue"), IsStaff())
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
        cases = await case_service.open_cases(core, staff.actor, status=status, reason=reason)
        if not cases:
            await message.answer(tr("No open cases. 🎉"))
            return
        lines = [tr("Open cases, nearest deadline first:")]
        for case in cases[:30]:
            due = f" · {tr.date(case.deadline_at)}" if case.deadline_at else ""
            lines.append(f"{texts.case_line(tr, case)}{due}")
        lines.append(tr("Open one with /case followed by its number."))
        await send(bot, message.chat.id, "\n".join(lines))

    @router.message(Command("case", "take"), IsStaff())
    async def case(
        message: Message,
        command: CommandObject,
        staff: StaffIdentity,
        state: FSMContext,
        tr: Translator,
        core: CoreContext,
        bot: Bot,
    ) -> None:
        numbers = find_case_numbers(command.args or "")
        if not numbers:
            await message.answer(tr("Give the case number, for example /case R-2611-0042."))
            return
        number = numbers[0]
        try:
            if command.command == "take":
                await case_service.take_over(core, staff.actor, number)
                if staff.actor.role.value == "agent":  # what they write now goes to the buyer
                    from bot.routers.agents import AgentChat

                    await state.set_state(AgentChat.talking)
                    await state.update_data(case=number)
            await show_card(bot, message.chat.id, staff, number, tr, core)
        except CoreError as exc:
            await message.answer(texts.error(tr, exc))

    @router.message(Command("export"), IsStaff())
    async def export(
        message: Message,
        command: CommandObject,
        staff: StaffIdentity,
        tr: Translator,
        core: CoreContext,
        bot: Bot,
    ) -> None:
        """The case's evidence pack: a ZIP ready to upload to a marketplace dispute."""
        numbers = find_case_numbers(command.args or "")
        if not numbers:
            await message.answer(tr("Give the case number, for example /export R-2611-0042."))
            return
        number = numbers[0]
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
        await bot.send_document(
            message.chat.id, BufferedInputFile(pack.data, pack.filename), caption=caption
        )

    @router.callback_query(StaffCb.filter(), IsStaff())
    async def act(
        query: CallbackQuery,
        callback_data: StaffCb,
        staff: StaffIdentity,
        state: FSMContext,
        tr: Translator,
        core: CoreContext,
        bot: Bot,
    ) -> None:
        number, version = callback_data.number, callback_data.version
        actor = staff.actor
        asks = {
            "part": (
                StaffInput.amount,
                tr("Type the amount to refund (the buyer keeps the item), for example 12.50."),
            ),
            "no": (StaffInput.reject, tr("Type the reason for the buyer (it is sent to them).")),
            "info": (StaffInput.info, tr("Type what the buyer must send or answer.")),
            "paid": (
                StaffInput.refund,
                tr(
                    "Type the amount refunded and the payment reference, "
                    "for example: 39.90 PAY-123."
                ),
            ),
            "ship": (StaffInput.tracking, tr("Type the tracking number of the parcel sent.")),
            "label": (
                StaffInput.label,
                tr("Send the return label as a PDF, or type the return instructions."),
            ),
        }
        try:
            if callback_data.action in asks:
                # the case must still be where the button was made, before asking anything
                view = await case_service.get_case(core, actor, number)
                if view.case.version != version:
                    raise CoreError("changed", code="already_handled")
                next_state, question = asks[callback_data.action]
                await state.set_state(next_state)
                await state.update_data(case=number, version=version)
                await query.answer()
                await bot.send_message(query.from_user.id, question)
                return
            match callback_data.action:
                case "ok":
                    done = await case_service.approve(
                        core,
                        actor,
                        number,
                        Resolution(callback_data.resolution),
                        expected_version=version,
                    )
                case "esc":
                    done = await case_service.escalate(core, actor, number, "seller_asked")
                case "recv":
                    done = await case_service.mark_goods_received(core, actor, number)
                case "close":
                    done = await case_service.resolve(core, actor, number)
                case "take":
                    done = await case_service.take_over(core, actor, number)
                case _:
                    await query.answer()
                    await show_card(bot, query.from_user.id, staff, number, tr, core)
                    return
        except CoreError as exc:
            await query.answer(texts.error(tr, exc), show_alert=True)
            if exc.code in ("already_handled", "stale_case"):  # "here is where it stands now"
                await _drop_buttons(query)  # they were made for the case as it was
                await show_card(bot, query.from_user.id, staff, number, tr, core)
            return
        await query.answer()
        await _drop_buttons(query)  # one decision per alert
        await bot.send_message(
            query.from_user.id,
            _done_line(tr, done),
            reply_markup=staff_keyboards.case_actions(tr, done, actor.role),
        )

    @router.message(
        StateFilter(
            StaffInput.amount,
            StaffInput.reject,
            StaffInput.info,
            StaffInput.refund,
            StaffInput.tracking,
        ),
        TYPED,
        IsStaff(),
    )
    @router.message(StaffInput.label, TYPED | F.document, IsStaff())
    async def answer(
        message: Message,
        state: FSMContext,
        staff: StaffIdentity,
        tr: Translator,
        core: CoreContext,
        bot: Bot,
    ) -> None:
        """The line of text (or the PDF) a one-tap action asked for: apply it to the case."""
        current = await state.get_state()
        data = await state.get_data()
        try:
            done = await ANSWERS[current or ""](
                Answer(core, staff.actor, data["case"], data.get("version"), message, bot)
            )
        except CoreError as exc:
            await message.answer(texts.error(tr, exc))
            if exc.code not in CORRECTABLE:  # else they can type it again, right away
                await state.clear()
            return
        await state.clear()
        await bot.send_message(
            message.chat.id,
            _done_line(tr, done),
            reply_markup=staff_keyboards.case_actions(tr, done, staff.actor.role),
        )

    @router.message(StateFilter(StaffInput), ~F.text.startswith("/"), IsStaff())
    async def unexpected(message: Message, tr: Translator) -> None:
        await message.answer(tr("Please answer with text (or a PDF for a label), or /cancel."))

    return router
