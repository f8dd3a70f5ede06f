"""Test support: a fake Telegram Bot API and people who talk to the bot.

* :mod:`.fake_telegram` — ``FakeTelegram``: Telegram's state and rules for one bot.
* :mod:`.fake_session` — ``FakeSession``/``create_fake_bot``: aiogram talks to it in-process.
* :mod:`.fake_server` — ``FakeTelegramServer``: the same over HTTP on loopback.
* :mod:`.people` — ``Person``, ``FeedDriver``, ``PollingDriver``: tests as user stories.
* :mod:`.entities` — Telegram's HTML/MarkdownV2 parsing; :mod:`.bot_api_spec` — the method table.

Import these as ``tests.support.…`` (never ``support.…``: two copies of a module break
``isinstance``).
"""

from .fake_server import FakeTelegramServer
from .fake_session import FakeSession, create_fake_bot
from .fake_telegram import FakeApiError, FakeTelegram, Upload
from .people import FeedDriver, Person, PollingDriver

__all__ = [
    "FakeApiError",
    "FakeSession",
    "FakeTelegram",
    "FakeTelegramServer",
    "FeedDriver",
    "Person",
    "PollingDriver",
    "Upload",
    "create_fake_bot",
]
