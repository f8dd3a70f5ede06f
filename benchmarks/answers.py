"""The cost of reading one Bot API answer: aiogram's ``AiohttpSession.check_response`` against
the bot's ``TelegramSession`` (bot/delivery/session.py, response_types.py), for the answers
an update gets most: a ``sendMessage`` with an inline keyboard (the buyer's next choices), one
without, and an ``answerCallbackQuery``. Prints µs of CPU per answer, three rounds.

    .venv/bin/python benchmarks/answers.py [--answers 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.utils.keyboard import InlineKeyboardBuilder

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.delivery.session import TelegramSession
from core import fast_json

TEXT = "Why do you want to return the <b>Desk lamp</b>? Tap the reason that fits best."
REASONS = ["Arrived damaged", "Wrong item", "Not as described", "Missing parts", "Fake"]
REASONS += ["Changed my mind", "Never arrived", "Other reason", "‹ Back", "Cancel"]


def keyboard() -> Any:
    builder = InlineKeyboardBuilder()
    for number, label in enumerate(REASONS):
        builder.button(text=label, callback_data=f"reason:{number}")
    builder.adjust(1)
    return builder.as_markup()


def sent(with_keyboard: bool) -> tuple[SendMessage, str]:
    markup = keyboard() if with_keyboard else None
    method = SendMessage(chat_id=777001, text=TEXT, reply_markup=markup)
    result: dict[str, Any] = {
        "message_id": 1234,
        "from": {"id": 42, "is_bot": True, "first_name": "Returns Desk", "username": "RDBot"},
        "chat": {"id": 777001, "first_name": "Ana", "type": "private"},
        "date": 1765000000,
        "text": "Why do you want to return the Desk lamp? Tap the reason that fits best.",
        "entities": [{"type": "bold", "offset": 30, "length": 9}],
    }
    if markup is not None:
        result["reply_markup"] = markup.model_dump(exclude_none=True)
    return method, json.dumps({"ok": True, "result": result})


def per_answer_us(session: Any, bot: Bot, method: Any, content: str, answers: int) -> float:
    started = time.process_time()
    for _ in range(answers):
        session.check_response(bot, method, 200, content)
    return (time.process_time() - started) / answers * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=3000)
    args = parser.parse_args()
    sessions = {
        "aiogram": AiohttpSession(json_loads=fast_json.loads),
        "ours": TelegramSession(json_loads=fast_json.loads),
    }
    bot = Bot("42:TEST", session=sessions["ours"])
    answers = {
        "sendMessage, 10 buttons": sent(with_keyboard=True),
        "sendMessage, no keyboard": sent(with_keyboard=False),
        "answerCallbackQuery": (
            AnswerCallbackQuery(callback_query_id="1"),
            json.dumps({"ok": True, "result": True}),
        ),
    }
    print("µs of CPU per answer:", ", ".join(f"{name} (aiogram / ours)" for name in answers))
    for round_ in range(1, 4):
        figures = []
        for method, content in answers.values():
            pair = [
                per_answer_us(session, bot, method, content, args.answers)
                for session in sessions.values()
            ]
            figures.append(f"{pair[0]:6.1f} / {pair[1]:6.1f}")
        print(f"round {round_}:  " + "    ".join(figures))
    for session in sessions.values():
        await session.close()


if __name__ == "__main__":
    asyncio.run(main())
