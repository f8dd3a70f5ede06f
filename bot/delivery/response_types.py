"""Reading the Bot API's answers more cheaply.

aiogram checks every answer against ``Response[<the method's result type>]``, a pydantic generic
class it asks pydantic for on every call. Pydantic keeps those classes in a *weak* cache: after a
garbage collection one is built again (about 2 ms of schema generation), so
the bot's session (bot/delivery/session.py) keeps the class of each method type in a plain dict.

Most answers are the message the bot just sent, with the inline keyboard it sent echoed back:
reading the keyboard again, a pydantic model and aiogram's ``model_post_init`` for each button,
was half the cost of reading such an answer (``benchmarks/answers.py``). The session reads the
message without it and puts back the keyboard object the bot sent; the bot never reads a sent
message's keyboard, and the object is the same keyboard Telegram shows.

Anything else (an error status, ``"ok": false``, JSON or a shape it cannot read) goes to
aiogram's own check, which raises what it always raised (``TelegramBadRequest``,
``TelegramRetryAfter``, ``ClientDecodeError``…).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aiogram.client.session.base import BaseSession
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InlineKeyboardMarkup, Message

if TYPE_CHECKING:
    from aiogram import Bot

# method class → Response[its result type]; a few dozen Bot API methods at most
_RESPONSE_TYPES: dict[type[Any], Any] = {}


def response_type(method: TelegramMethod[Any]) -> Any:
    """``Response[<method's result type>]``, made once per method class and kept."""
    kind = type(method)
    found = _RESPONSE_TYPES.get(kind)
    if found is None:
        found = _RESPONSE_TYPES[kind] = Response[method.__returning__]  # type: ignore[name-defined]
    return found


def _sent_keyboard(method: TelegramMethod[Any], result: Any) -> InlineKeyboardMarkup | None:
    """The inline keyboard the bot sent, when the answer is a message echoing it back."""
    if not isinstance(result, dict) or "reply_markup" not in result or "message_id" not in result:
        return None
    keyboard = getattr(method, "reply_markup", None)
    return keyboard if isinstance(keyboard, InlineKeyboardMarkup) else None


class KeptResponseTypes(BaseSession):
    """A session whose successful answers are read as the module says."""

    def check_response(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        status_code: int,
        content: str,
    ) -> Response[TelegramType]:
        if HTTPStatus.OK <= status_code <= HTTPStatus.IM_USED:
            try:
                answer = self.json_loads(content)
                keyboard = _sent_keyboard(method, answer.get("result"))
                if keyboard is not None:
                    del answer["result"]["reply_markup"]  # parsed just now: ours to change
                response: Response[TelegramType] = response_type(method).model_validate(
                    answer, context={"bot": bot}
                )
            except Exception:
                pass
            else:
                if response.ok:
                    if keyboard is not None and isinstance(response.result, Message):
                        result = response.result.model_copy(update={"reply_markup": keyboard})
                        response = response.model_copy(update={"result": result})
                    return response
        return super().check_response(bot, method, status_code, content)
