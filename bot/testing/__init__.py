"""A fake Telegram Bot API and people who talk to the bot: for the tests and the demo.

It ships inside the package because ``returns-desk demo`` runs on it (no token, no network).

* :mod:`.fake_telegram` — ``FakeTelegram``: Telegram's state and rules for one bot.
* :mod:`.fake_session` — ``FakeSession``/``create_fake_bot``: aiogram talks to it in-process.
* :mod:`.fake_server` — ``FakeTelegramServer``: the same over HTTP on loopback; it POSTs
  updates to the bot's webhook while one is set.
* :mod:`.balancer` — ``RoundRobinBalancer``: several webhook bot processes behind one URL.
* :mod:`.people` — ``Person``, ``FeedDriver``, ``PollingDriver``: tests as user stories.
* :mod:`.entities` — Telegram's HTML/MarkdownV2 parsing; :mod:`.bot_api_spec` — the method table.

Tests may import these as ``tests.support`` too: it is an alias of this package, not a copy.
"""

from .balancer import RoundRobinBalancer
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
    "RoundRobinBalancer",
    "Upload",
    "create_fake_bot",
]
