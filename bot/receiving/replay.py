"""An update run again says nothing twice.

The inbox marks an update done after its handlers finished; a process that dies between the
answer and that mark leaves the update to be run again by the next process, and the person
would read the same announcement twice ("case R-… opened"). So while an inbox update runs,
each message the handlers send is written down on the update's inbox row (``answers``) right
after Telegram took it (the notes of handlers that sent at about the same time go in one
transaction: bot/receiving/together.py). When the update runs again, the n-th message that is
the same as the n-th of the earlier run (same method, chat and text) is not sent again: the
handler gets the message that was sent. The claim reads the notes with the update (a first
run costs no read), and the done-mark clears them in the same statement.
"""

from __future__ import annotations

import hashlib
import json
import logging
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import SendMessage, TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import Message

from bot.receiving.together import WriteTogether
from core import fast_json
from core.persistence.sqlite_driver import on_the_loop
from core.services.context import CoreContext

log = logging.getLogger("returns_desk.inbox")


@dataclass
class _Run:
    update_id: int
    sent: int = 0  # messages sent (or replayed) so far in this run
    earlier: list[list[str]] = field(default_factory=list)  # [digest, message JSON] of earlier runs
    notes: list[list[str]] = field(default_factory=list)


_current: ContextVar[_Run | None] = ContextVar("inbox_update", default=None)

# a note batch that takes longer fails its handlers (their updates run again later): a
# database that hangs holds up the others' notes this long, well under the handler timeout
NOTE_TIMEOUT = 15.0


def begin(update_id: int, answers: str | None = None) -> None:
    """The handlers about to run (in this task) belong to inbox update ``update_id``;
    ``answers``: what its earlier runs sent, as the claim read it from the inbox row."""
    earlier = fast_json.loads(answers) if answers else []
    _current.set(_Run(update_id, earlier=earlier, notes=list(earlier)))


def _digest(method: SendMessage) -> str:
    # the stdlib's exact text: a digest from another process (with or without orjson) must match
    what = json.dumps([method.__api_method__, str(method.chat_id), method.text], ensure_ascii=False)
    return hashlib.sha256(what.encode()).hexdigest()[:32]


class ReplayAnswers(BaseRequestMiddleware):
    """See the module: texts sent for an inbox update are not sent again when it re-runs."""

    def __init__(self, core: CoreContext) -> None:
        self.core = core
        # the notes of the handlers that sent at about the same time share a transaction
        # (each handler still goes on only once its note is stored)
        self._notes: WriteTogether[tuple[int, str]] = WriteTogether(
            self._write_notes, "replay-notes", timeout=NOTE_TIMEOUT
        )

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        run = _current.get()
        if run is None or not isinstance(method, SendMessage):
            return await make_request(bot, method)
        index, digest = run.sent, _digest(method)
        run.sent += 1
        if index < len(run.earlier) and run.earlier[index][0] == digest:
            log.info("update %s ran again: its message %s was sent before", run.update_id, index)
            message = Message.model_validate_json(run.earlier[index][1], context={"bot": bot})
            return message  # type: ignore[return-value]
        result = await make_request(bot, method)
        if isinstance(result, Message):
            note = [digest, result.model_dump_json(exclude_none=True, by_alias=True)]
            run.notes = [*run.notes[:index], note]
            await self._notes.add((run.update_id, fast_json.dumps(run.notes)))
        return result

    async def _write_notes(self, notes: list[tuple[int, str]]) -> None:
        with on_the_loop():  # one short indexed update per note
            async with self.core.unit_of_work() as uow:
                await uow.one_statement()  # one note: no BEGIN and COMMIT (several: one batch)
                # rows locked in one order (update_id), as the done-mark's
                await uow.inbox.note_answers(sorted(notes))
                await uow.commit()


def install(bot: Bot, core: CoreContext) -> Bot:
    bot.session.middleware(ReplayAnswers(core))
    return bot


__all__: list[Any] = ["ReplayAnswers", "begin", "install"]
