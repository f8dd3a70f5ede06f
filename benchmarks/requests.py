"""The cost of sending one Bot API request: aiogram's form body against the bot's JSON body
(bot/delivery/request_bodies.py), both through the bot's session, to a server in another
process on loopback (so that only the sending side's CPU is counted). The requests an update
makes most: a ``sendMessage`` with an inline keyboard, one without, an ``editMessageText``
with a keyboard and an ``answerCallbackQuery``. Prints µs of CPU per request (building the
body, aiohttp's request and reading the answer), three rounds, the two alternating.

    .venv/bin/python benchmarks/requests.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.answers import TEXT, keyboard, sent
from bot.delivery.session import TelegramSession
from core import fast_json


class FormSession(TelegramSession):
    """The bot's session as it was: aiogram's form for every request."""

    build_form_data = AiohttpSession.build_form_data  # type: ignore[assignment]


def serve(port: int) -> None:
    """The other process: every method answered at once with a fixed, valid answer."""
    from aiohttp import web

    message = json.loads(sent(with_keyboard=True)[1])
    plain = json.loads(sent(with_keyboard=False)[1])
    answers = {"sendMessage": message, "editMessageText": message}

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        method = request.match_info["method"]
        body = answers.get(method, {"ok": True, "result": True})
        if method == "sendMessage" and b"reply_markup" not in await request.read():
            body = plain
        return web.json_response(body)

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", answer)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def per_request_us(bot: Bot, method: Any, requests: int) -> float:
    started = time.process_time()
    for _ in range(requests):
        await bot(method)
    return (time.process_time() - started) / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    try:
        asyncio.run(measure(port, args.requests))
    finally:
        server.terminate()
        server.wait()


async def measure(port: int, requests: int) -> None:
    api = TelegramAPIServer.from_base(f"http://127.0.0.1:{port}")
    default = DefaultBotProperties(parse_mode=ParseMode.HTML)
    bots = {
        name: Bot(
            "42:TEST",
            default=default,
            session=kind(api=api, json_loads=fast_json.loads, json_dumps=fast_json.dumps),
        )
        for name, kind in (("form", FormSession), ("json", TelegramSession))
    }
    for _ in range(100):  # the server is up, the connections are open
        try:
            await bots["form"](AnswerCallbackQuery(callback_query_id="1"))
            break
        except Exception:
            await asyncio.sleep(0.1)
    methods = {
        "sendMessage, 10 buttons": SendMessage(chat_id=777001, text=TEXT, reply_markup=keyboard()),
        "sendMessage, no keyboard": SendMessage(chat_id=777001, text=TEXT),
        "editMessageText, 10 buttons": EditMessageText(
            chat_id=777001, message_id=1234, text=TEXT, reply_markup=keyboard()
        ),
        "answerCallbackQuery": AnswerCallbackQuery(callback_query_id="1"),
    }
    for bot in bots.values():  # warm: every method once
        for method in methods.values():
            await bot(method)
    print("µs of CPU per request:", ", ".join(f"{name} (form / json)" for name in methods))
    for round_ in range(1, 4):
        figures = []
        for method in methods.values():
            pair = [await per_request_us(bot, method, requests) for bot in bots.values()]
            figures.append(f"{pair[0]:6.1f} / {pair[1]:6.1f}")
        print(f"round {round_}:  " + "    ".join(figures))
    for bot in bots.values():
        await bot.session.close()


if __name__ == "__main__":
    main()
