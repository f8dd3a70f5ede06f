"""Every button's callback data: short unique prefixes, packed well under Telegram's 64 bytes.

Callback data is untrusted input: handlers re-check everything it names through the core.
"""

from __future__ import annotations

from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from pydantic import Field

# Numbers in callback data are bounded: a forged button with 30 digits fails to parse (and is
# answered as a stale button) instead of overflowing the database driver.
RowId = Annotated[int, Field(ge=0, le=2**63 - 1)]
SmallCount = Annotated[int, Field(ge=0, le=10_000)]


class MenuCb(CallbackData, prefix="m"):
    action: str  # return | problem | track | cases | change | policy | human | lang | home


class OrderCb(CallbackData, prefix="o"):
    order_id: RowId  # 0: type another order number


class LineCb(CallbackData, prefix="l"):
    line_no: SmallCount  # 0: done choosing


class QtyCb(CallbackData, prefix="q"):
    line_no: SmallCount
    quantity: SmallCount


class ReasonCb(CallbackData, prefix="r"):
    code: str


class ResolutionCb(CallbackData, prefix="s"):
    code: str


class NavCb(CallbackData, prefix="n"):
    action: str  # back | cancel | skip | done | confirm


class CaseCb(CallbackData, prefix="c"):
    number: str
    action: str = "show"  # show | message | evidence | sent | withdraw | withdraw_yes | human


class ChangeCb(CallbackData, prefix="x"):
    kind: str  # cancel_order | change_address


class LangCb(CallbackData, prefix="g"):
    code: str


class RemindCb(CallbackData, prefix="w"):
    order_id: RowId


class ShopCb(CallbackData, prefix="p"):
    shop: str


class SurveyCb(CallbackData, prefix="v"):
    survey: RowId
    score: SmallCount  # 1–5; 0: skip the comment (checked again in the core)
