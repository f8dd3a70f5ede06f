"""Sellers' supplier claims: ``/claims`` lists them per supplier with status and deadline; a
claim's card has a button for each move its lifecycle allows now (sent, agreed, refused,
escalated, recovered — which asks the amount — and written off), one that asks for the
supplier's order number, and one that makes the message (Chinese and English) and the ZIP for
the supplier; a supplier's button in the list batches the week's drafts into one of each.

Private chat only, sellers and agents of the claim's shop (the core checks every press: a
claim of another shop is answered like one that does not exist).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from aiogram import Bot, F
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InaccessibleMessage, InlineKeyboardMarkup, Message

from bot.conversations.common import send
from bot.conversations.evidence import ZipDocument
from bot.conversations.staff import TYPED, IsStaff
from bot.receiving.routing import Router
from bot.views import supplier_claims as views
from bot.views import texts
from bot.views.i18n import Catalogs, Translator
from core.errors import CoreError
from core.services import supplier_claims as claim_service
from core.services.context import CoreContext
from core.services.staff import StaffIdentity
from core.suppliers.lifecycle import ClaimMove, ClaimStatus

CORRECTABLE = frozenset(
    {"invalid_amount", "amount_out_of_range", "amount_required", "empty", "text_too_long"}
)


class ClaimInput(StatesGroup):
    order = State()  # the supplier's order number
    amount = State()  # what the supplier paid back


def _names(core: CoreContext) -> dict[str, str]:
    return {key: supplier.name for key, supplier in core.config.suppliers.items()}


def letter_writer(core: CoreContext, catalogs: Catalogs) -> claim_service.Letter:
    accepts = {key: s.accepts.value for key, s in core.config.suppliers.items()}
    return views.letter_writer(catalogs, accepts)


async def list_claims(
    message: Message, staff: StaffIdentity, tr: Translator, core: CoreContext, bot: Bot
) -> None:
    try:
        claims = await claim_service.list_claims(core, staff.actor)
    except CoreError as exc:
        await message.answer(texts.error(tr, exc))
        return
    since = core.now() - timedelta(days=claim_service.BATCH_DAYS)  # what batch_pack takes
    text, markup = views.claims_list(tr, claims, _names(core), since)
    await send(bot, message.chat.id, text, markup)


async def _show(query: CallbackQuery, tr: Translator, text: str, markup: InlineKeyboardMarkup):
    """The pressed message becomes the claim's card (or a new one when it cannot be edited)."""
    message = query.message
    if message is not None and not isinstance(message, InaccessibleMessage) and message.text:
        try:
            await message.edit_text(text, reply_markup=markup)
            return
        except TelegramBadRequest:
            pass
    assert query.bot is not None
    await send(query.bot, query.from_user.id, text, markup)


async def press(
    query: CallbackQuery,
    callback_data: views.ClaimCb,
    staff: StaffIdentity,
    state: FSMContext,
    tr: Translator,
    core: CoreContext,
    bot: Bot,
    catalogs: Catalogs,
) -> None:
    claim_id, action = callback_data.claim, callback_data.action
    try:
        view = await claim_service.get_claim(core, staff.actor, claim_id)  # theirs to see?
        if action in ("pack", "batch"):
            await query.answer()
            await _pack(bot, query.from_user.id, staff, tr, core, catalogs, view, action)
            return
        if action == "show":
            await query.answer()
            await _show(query, tr, *views.claim_card(tr, view))
            return
        if action == "order" and view.claim.is_open:
            await state.set_state(ClaimInput.order)
            await state.update_data(claim=claim_id)
            await query.answer()
            await bot.send_message(
                query.from_user.id,
                tr(
                    "Type {supplier}'s order number for the goods of case {case}.",
                    supplier=view.supplier_name,
                    case=view.claim.case_number,
                ),
            )
            return
        move = ClaimMove(action) if action in set(ClaimMove) else None
        made_for = (
            ClaimStatus(callback_data.status) if callback_data.status in set(ClaimStatus) else None
        )
        allowed = view.claim.allowed_moves()
        if move is None or made_for is not view.claim.status or move not in allowed:
            # an old or forged button (an order number for a closed claim too): show the claim
            # as it stands, with what it allows now
            await query.answer(
                tr("This claim has changed. Here is where it stands now."), show_alert=True
            )
            await _show(query, tr, *views.claim_card(tr, view))
            return
        if move is ClaimMove.RECOVER:
            await state.set_state(ClaimInput.amount)
            await state.update_data(claim=claim_id, status=made_for.value)
            await query.answer()
            await bot.send_message(
                query.from_user.id,
                tr(
                    "Type the amount {supplier} paid back, for example 12.50 (a currency "
                    "code after it when it is not {currency}).",
                    supplier=view.supplier_name,
                    currency=view.claim.goods.currency,
                ),
            )
            return
        await claim_service.move(core, staff.actor, claim_id, move, expected_status=made_for)
        view = await claim_service.get_claim(core, staff.actor, claim_id)
    except CoreError as exc:
        if exc.code == "already_handled":  # another seller moved it first
            await query.answer(
                tr("This claim has changed. Here is where it stands now."), show_alert=True
            )
            await _show(query, tr, *views.claim_card(tr, await _view(core, staff, claim_id)))
            return
        await query.answer(texts.error(tr, exc), show_alert=True)
        return
    await query.answer(_moved_line(tr, view))
    await _show(query, tr, *views.claim_card(tr, view))


async def _pack(
    bot: Bot,
    chat_id: int,
    staff: StaffIdentity,
    tr: Translator,
    core: CoreContext,
    catalogs: Catalogs,
    view: claim_service.ClaimView,
    action: str,
) -> None:
    """One claim's message and ZIP, or the supplier's drafts of the week (``batch``)."""
    await bot.send_chat_action(chat_id, "upload_document")
    try:
        pack = await claim_service.batch_pack(
            core,
            staff.actor,
            letter_writer(core, catalogs),
            claim_id=view.claim.id if action == "pack" else None,
            supplier=view.claim.supplier if action == "batch" else None,
        )
    except CoreError as exc:
        if exc.code == "not_found":  # every draft of the week was sent meanwhile
            await bot.send_message(
                chat_id,
                tr(
                    "No draft claims on {supplier} from the last 7 days: /claims shows where "
                    "each one stands.",
                    supplier=view.supplier_name,
                ),
            )
            return
        await bot.send_message(chat_id, texts.error(tr, exc))
        return
    await _send_pack(bot, chat_id, tr, pack)


async def _view(core: CoreContext, staff: StaffIdentity, claim_id: int) -> claim_service.ClaimView:
    return await claim_service.get_claim(core, staff.actor, claim_id)


def _moved_line(tr: Translator, view: claim_service.ClaimView) -> str:
    return tr(
        "Supplier claim for case {case}: {status}",
        case=view.claim.case_number,
        status=views.status_name(tr, view.claim.status),
    )


async def _send_pack(bot: Bot, chat_id: int, tr: Translator, pack: Any) -> None:
    """The message to paste (Chinese, then English) and the ZIP to attach."""
    batch = pack.batch
    for language in ("zh", "en"):
        await bot.send_message(chat_id, texts.escape(pack.letters[language]))
    caption = tr.plural(
        "For {supplier}: one claim, with its photos (no metadata) and the defect described, "
        "without the buyer's personal data.",
        "For {supplier}: {n} claims, with their photos (no metadata) and the defects "
        "described, without the buyers' personal data.",
        len(batch.claims),
        supplier=batch.supplier_name,
    )
    missing = [c.claim.case_number for c in batch.claims if not c.claim.supplier_order]
    if missing:
        caption += "\n" + tr(
            "No supplier's order number yet for: {cases}.", cases=", ".join(missing)
        )
    kept = sum(c.left_out for c in batch.claims)
    if kept:
        caption += "\n" + tr.plural(
            "One video or file stays with the shop: send it yourself if the supplier asks.",
            "{n} videos or files stay with the shop: send them yourself if the supplier asks.",
            kept,
        )
    await bot.send_document(chat_id, ZipDocument(pack.data, pack.filename), caption=caption)


async def typed(
    message: Message,
    state: FSMContext,
    staff: StaffIdentity,
    tr: Translator,
    core: CoreContext,
    bot: Bot,
) -> None:
    """The order number or the amount a button asked for."""
    current = await state.get_state()
    data = await state.get_data()
    claim_id = int(data.get("claim") or 0)
    text = (message.text or "").strip()
    try:
        if current == ClaimInput.order.state:
            await claim_service.set_supplier_order(core, staff.actor, claim_id, text)
        else:
            status = ClaimStatus(data["status"]) if data.get("status") else None
            await claim_service.move(
                core,
                staff.actor,
                claim_id,
                ClaimMove.RECOVER,
                amount=text,
                expected_status=status,
            )
        view = await claim_service.get_claim(core, staff.actor, claim_id)
    except CoreError as exc:
        if exc.code == "invalid_amount":
            await message.answer(tr("That is not an amount: type it in digits, for example 12.50."))
        else:
            await message.answer(texts.error(tr, exc))
        if exc.code not in CORRECTABLE:
            await state.clear()
        return
    await state.clear()
    await send(bot, message.chat.id, *views.claim_card(tr, view))


async def not_text(message: Message, tr: Translator) -> None:
    await message.answer(tr("Please answer with text, or /cancel."))


async def show_claim(
    message: Message,
    command: CommandObject,
    staff: StaffIdentity,
    tr: Translator,
    core: CoreContext,
) -> None:
    """``/claim_7`` (a command Telegram makes tappable in the notice): the claim's card."""
    match = command.regexp_match
    claim_id = int(match.group(1)) if match is not None else 0
    try:
        view = await claim_service.get_claim(core, staff.actor, claim_id)
    except CoreError as exc:
        await message.answer(texts.error(tr, exc))
        return
    assert message.bot is not None
    await send(message.bot, message.chat.id, *views.claim_card(tr, view))


def make_router() -> Router:
    router = Router(name="supplier_claims")
    private = F.chat.type == "private"
    router.message.register(list_claims, private, Command("claims"), IsStaff())
    router.message.register(
        show_claim, private, Command(re.compile(r"claim_(\d{1,18})")), IsStaff()
    )
    router.callback_query.register(press, views.ClaimCb.filter(), IsStaff())
    waiting = StateFilter(ClaimInput.order, ClaimInput.amount)
    router.message.register(typed, private, waiting, TYPED, IsStaff())
    router.message.register(not_text, private, waiting, ~F.text.startswith("/"), IsStaff())
    return router


__all__ = ["ClaimInput", "make_router"]
