"""Every conversation state, one group per flow. The buyer's flows (OpenCase, CaseFollowUp)
keep their data as one typed model, ``bot.conversations.buyer.conversation.BuyerConversation``."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup


class OpenCase(StatesGroup):
    order = State()  # which order (typed or picked)
    check = State()  # the ownership check for a typed order number
    items = State()  # which lines
    quantity = State()  # how many of a line
    reason = State()
    description = State()
    evidence = State()
    resolution = State()
    confirm = State()


class CaseFollowUp(StatesGroup):
    message = State()  # a message for an open case
    evidence = State()  # more photos for a case waiting on the buyer
    return_tracking = State()  # "I've sent it": carrier and tracking number (optional)
    return_receipt = State()  # then a photo of the postage receipt (optional)
