"""Sellers and agents in private chat: joining by invitation, the case queue, a case's card,
and one-tap decisions on the alerts (approve, partial refund, reject, ask for more, pass to an
agent, return label, goods received, refund, shipment, close).

Every press carries the case version it was made for: when two staff press at once, the first
decision wins and the second is told so; nothing is applied twice.
"""

from __future__ import annotations

import re
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
from core.cases.model import Case
from core.cases.reasons import Reason, Resolution
from core.errors import CoreError
from core.money import Money, MoneyError
from core.services import cases as case_service
from core.services import export as export_service
from core.services import staff as staff_service
from core.services.context import CoreContext
from core.services.staff import StaffIdentity

TYPED = F.text & ~F.text.startswith("/")  # a command (/cancel) is never taken as an answer
CASE_NUMBER = re.compile(r"\b[A-Z]{1,3}-\d{4}-\d{4,}\b", re.IGNORECASE)


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
        match = CASE_NUMBER.search(command.args or "")
        if match is None:
            await message.answer(tr("Give the case number, for example /case R-2611-0042."))
            return
        number = match.group(0).upper()
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
        match = CASE_NUMBER.search(command.args or "")
        if match is None:
            await message.answer(tr("Give the case number, for example /export R-2611-0042."))
            return
        number = match.group(0).upper()
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

    async def finish(
        message: Message,
        state: FSMContext,
        staff: StaffIdentity,
        tr: Translator,
        core: CoreContext,
        bot: Bot,
        run,
    ) -> None:
        data = await state.get_data()
        try:
            done = await run(data["case"], data.get("version"))
        except CoreError as exc:
            await message.answer(texts.error(tr, exc))
            if exc.code not in (
                "amount_out_of_range",
                "wrong_currency",
                "reason_required",
                "amount_required",
                "invalid_amount",
            ):
                await state.clear()
            return
        await state.clear()
        await bot.send_message(
            message.chat.id,
            _done_line(tr, done),
            reply_markup=staff_keyboards.case_actions(tr, done, staff.actor.role),
        )

    def parse_money(text: str, currency: str) -> Money:
        try:
            return Money.parse(text.replace(",", ".").strip(), currency)
        except MoneyError as exc:
            raise CoreError(str(exc), code="invalid_amount") from exc

    @router.message(StaffInput.amount, TYPED, IsStaff())
    async def partial(
        message: Message,
        state: FSMContext,
        staff: StaffIdentity,
        tr: Translator,
        core: CoreContext,
        bot: Bot,
    ) -> None:
        async def run(number: str, version: int | None) -> Case:
            view = await case_service.get_case(core, staff.actor, number)
            amount = parse_money(message.text or "", view.case.currency)
            return await case_service.approve(
                core,
                staff.actor,
                number,
                Resolution.PARTIAL_REFUND,
                refund_amount=amount,
                expected_version=version,
            )

        await finish(message, state, staff, tr, core, bot, run)

    @router.message(StaffInput.reject, TYPED, IsStaff())
    async def reject(
        message: Message,
        state: FSMContext,
        staff: StaffIdentity,
        tr: Translator,
        core: CoreContext,
        bot: Bot,
    ) -> None:
        async def run(number: str, version: int | None) -> Case:
            return await case_service.reject(
                core, staff.actor, number, message.text or "", expected_version=version
            )

        await finish(message, state, staff, tr, core, bot, run)

    @router.message(StaffInput.info, TYPED, IsStaff())
    async def ask(
        message: Message,
        state: FSMContext,
        staff: StaffIdentity,
        tr: Translator,
        core: CoreContext,
        bot: Bot,
    ) -> None:
        async def run(number: str, version: int | None) -> Case:
            return await case_service.request_info(
                core, staff.actor, number, message.text or "", expected_version=version
            )

        await finish(message, state, staff, tr, core, bot, run)

    @router.message(StaffInput.refund, TYPED, IsStaff())
    async def refunded(
        message: Message,
        state: FSMContext,
        staff: StaffIdentity,
        tr: Translator,
        core: CoreContext,
        bot: Bot,
    ) -> None:
        async def run(number: str, version: int | None) -> Case:
            view = await case_service.get_case(core, staff.actor, number)
            amount_text, _, reference = (message.text or "").strip().partition(" ")
            amount = parse_money(amount_text, view.case.currency)
            return await case_service.record_refund(
                core, staff.actor, number, amount, reference.strip() or None
            )

        await finish(message, state, staff, tr, core, bot, run)

    @router.message(StaffInput.tracking, TYPED, IsStaff())
    async def shipped(
        message: Message,
        state: FSMContext,
        staff: StaffIdentity,
        tr: Translator,
        core: CoreContext,
        bot: Bot,
    ) -> None:
        async def run(number: str, version: int | None) -> Case:
            return await case_service.record_replacement(
                core, staff.actor, number, (message.text or "").strip()
            )

        await finish(message, state, staff, tr, core, bot, run)

    @router.message(StaffInput.label, TYPED | F.document, IsStaff())
    async def label(
        message: Message,
        state: FSMContext,
        staff: StaffIdentity,
        tr: Translator,
        core: CoreContext,
        bot: Bot,
    ) -> None:
        async def run(number: str, version: int | None) -> Case:
            view = await case_service.get_case(core, staff.actor, number)
            note = message.text or message.caption or None
            done = await case_service.issue_label(core, staff.actor, number, note)
            if message.document is not None and view.case.buyer_id is not None:
                # the label goes to the buyer as it is, from the bot
                await bot.copy_message(view.case.buyer_id, message.chat.id, message.message_id)
            return done

        await finish(message, state, staff, tr, core, bot, run)

    @router.message(StateFilter(StaffInput), ~F.text.startswith("/"), IsStaff())
    async def unexpected(message: Message, tr: Translator) -> None:
        await message.answer(tr("Please answer with text (or a PDF for a label), or /cancel."))

    return router
