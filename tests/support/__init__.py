"""Test support: the fake Telegram lives in :mod:`bot.testing` (the demo ships it).

``tests.support.X`` is the very same module as ``bot.testing.X`` (aliased, not copied), so
``isinstance`` checks hold whichever name a test imports.
"""

import sys

from bot import testing as _testing
from bot.testing import (
    FakeApiError,
    FakeSession,
    FakeTelegram,
    FakeTelegramServer,
    FeedDriver,
    Person,
    PollingDriver,
    Upload,
    bot_api_spec,
    create_fake_bot,
    entities,
    fake_server,
    fake_session,
    fake_telegram,
    people,
)

for _module in (bot_api_spec, entities, fake_server, fake_session, fake_telegram, people):
    sys.modules[f"{__name__}.{_module.__name__.rsplit('.', 1)[1]}"] = _module

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
del _testing
