"""The outbox sender: delivers every queued notification, within Telegram's limits.

Rows are written by the core in the same transaction as the change they announce; this loop
sends them oldest first, at most one message a second per private chat, one every three
seconds per group (20 a minute) and about 30 a second overall; it waits as told on 429,
retries network and server errors with backoff, and marks a buyer who blocked the bot as
unreachable (and tells the shop). A row is marked sent right after Telegram accepted it, so a
restart resumes with what is still pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InputMediaDocument, InputMediaPhoto, InputMediaVideo

from bot.conversations.common import send
from bot.delivery import retries
from bot.delivery.translated import translation_block
from bot.views import disputes as dispute_views
from bot.views import events as event_views
from bot.views import texts
from bot.views.i18n import Catalogs, Translator
from core.cases import events as ev
from core.cases.events import CLOSING_KINDS
from core.cases.model import Case, Evidence, EvidenceKind
from core.orders.model import Order
from core.persistence.repositories.outbox import SENT, OutboxMessage
from core.persistence.sqlite_driver import on_the_loop
from core.persistence.unit_of_work import UnitOfWork
from core.services import access, notify, people
from core.services import cases as case_service
from core.services import disputes as dispute_service
from core.services.context import CoreContext
from core.services.people import ChatUser

log = logging.getLogger("returns_desk.notifier")

UNDELIVERED = "alert_undelivered"  # the notice to the shop that a staff alert was not delivered

MAX_ATTEMPTS = 8
CLAIM_SECONDS = 60  # a message being sent is claimed this long (a dead sender's claim expires)


class SendLimits:
    """Telegram's pacing: per chat, per group and overall. Entries of quiet chats are dropped
    so the table stays small."""

    def __init__(
        self,
        *,
        per_second: float = 30.0,
        private_interval: float = 1.0,
        group_interval: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.global_interval = 1.0 / per_second
        self.private_interval = private_interval
        self.group_interval = group_interval
        self.clock = clock
        self._last: dict[int, float] = {}
        self._last_any = 0.0

    def ready(self, chat_id: int) -> bool:
        now = self.clock()
        interval = self.group_interval if chat_id < 0 else self.private_interval
        return now - self._last.get(chat_id, -1e9) >= interval

    async def wait_turn(self) -> None:
        delay = self._last_any + self.global_interval - self.clock()
        if delay > 0:
            await asyncio.sleep(delay)

    def sent(self, chat_id: int) -> None:
        now = self.clock()
        self._last[chat_id] = now
        self._last_any = now
        if len(self._last) > 1000:
            horizon = now - max(self.group_interval, self.private_interval)
            self._last = {chat: at for chat, at in self._last.items() if at >= horizon}


InputMedia = InputMediaPhoto | InputMediaVideo | InputMediaDocument
ALBUM_MAX = 10  # Telegram's limit of items in one media group

# Telegram's answers that mean "this one person cannot be written to" (blocked the bot, never
# pressed Start, account deleted): that recipient is marked, the others still get the message.
_GONE = ("chat not found", "user is deactivated", "bot can't initiate conversation")


def input_media(item: Evidence) -> InputMedia:
    """The form Telegram accepts for what the file is: an image or video sent "as a file" has
    a document's file_id, which Telegram refuses as a photo (400)."""
    assert item.file_id is not None
    if item.kind is EvidenceKind.DOCUMENT:
        return InputMediaDocument(media=item.file_id)
    if item.is_video:
        return InputMediaVideo(media=item.file_id)
    return InputMediaPhoto(media=item.file_id)


def album_groups(evidence: tuple[Evidence, ...]) -> list[list[InputMedia]]:
    """Photos and videos together, documents apart (Telegram mixes neither with the other in
    one media group), each group at most ten items."""
    visual = [input_media(item) for item in evidence if item.kind is not EvidenceKind.DOCUMENT]
    files = [input_media(item) for item in evidence if item.kind is EvidenceKind.DOCUMENT]
    return [
        group[start : start + ALBUM_MAX]
        for group in (visual, files)
        for start in range(0, len(group), ALBUM_MAX)
    ]


def album_media(evidence: tuple[Evidence, ...]) -> list[InputMedia]:
    return [media for group in album_groups(evidence) for media in group]


def _gone(exc: TelegramBadRequest) -> bool:
    return any(words in exc.message.lower() for words in _GONE)


class Notifier:
    def __init__(
        self,
        bot: Bot,
        core: CoreContext,
        catalogs: Catalogs,
        *,
        agents_chat_id: int | None = None,
        limits: SendLimits | None = None,
        idle: float = 1.0,
    ) -> None:
        self.bot = bot
        self.core = core
        self.catalogs = catalogs
        self.agents_chat_id = agents_chat_id
        self.limits = limits or SendLimits()
        self.idle = idle
        self._topic_names: dict[int, str] = {}  # case id → the topic name last set
        # what a notification put off by an error had already delivered, so that trying it
        # again sends only the rest: outbox id → (chat, "album" | "text")
        self._delivered: dict[int, set[tuple[int, str]]] = {}
        self._latest: datetime | None = None  # the latest wall-clock time seen (see _now)
        # evidence items Telegram refused, told in the text sent after them: (outbox id, chat)
        self._refused: dict[tuple[int, int], int] = {}

    async def run(self, stop: asyncio.Event, may_send: Callable[[], bool] = lambda: True) -> None:
        """Send until ``stop`` is set; then send what is due once more and return. With
        several processes only the one holding the sending lease sends (``may_send``):
        Telegram's limits are per bot, not per process. Its SQLite statements (short, by
        index) run on the event loop's thread."""
        with on_the_loop():
            await self._run(stop, may_send)

    async def _run(self, stop: asyncio.Event, may_send: Callable[[], bool]) -> None:
        while not stop.is_set():
            if not may_send():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.idle)
                continue
            try:
                sent = await self.send_due()
            except Exception:  # keep the loop alive; the row stays pending
                log.exception("the notifier pass failed")
                sent = 0
            if not sent:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.idle)
                except TimeoutError:
                    pass
        if may_send():
            await self.send_due()

    async def send_due(self, limit: int = 50) -> int:
        """One pass over the due rows; returns how many were settled (sent or given up)."""
        async with self.core.unit_of_work() as uow:
            due = await uow.outbox.pending(now=self._now(), limit=limit)
        settled = 0
        busy: set[int] = set()  # chats that must wait: later rows for them wait too (order)
        for message in due:
            chats = await self._recipients(message)
            if any(chat in busy or not self.limits.ready(chat) for chat in chats):
                busy.update(chats)
                continue
            settled += await self._deliver(message, chats)
        return settled

    async def _recipients(self, message: OutboxMessage) -> list[int]:
        if message.chat_id is not None:
            return [message.chat_id]
        if message.recipient_role == "agents":
            if self.agents_chat_id is not None:
                return [self.agents_chat_id]
            # no forum group: each agent of the case's shop (configured or invited), read now
            async with self.core.unit_of_work() as uow:
                return await access.agent_ids(uow, self.core.config, message.shop or "")
        return []

    async def _language(self, message: OutboxMessage, chat_id: int) -> Translator:
        shop = self.core.config.shops.get(message.shop or "")
        fallback = shop.language if shop is not None else None
        if chat_id < 0:
            return self.catalogs.get(fallback)
        async with self.core.unit_of_work() as uow:
            user = await uow.users.get(chat_id)
        return self.catalogs.get(user.language if user and user.language else fallback)

    async def _subject(self, message: OutboxMessage) -> tuple[Case | None, Order | None, bool]:
        """The case a notification is about, as it stands now, its order, and whether agents
        can take its shop's cases (which buttons staff get)."""
        if message.case_id is None:
            return None, None, True
        async with self.core.unit_of_work() as uow:
            case = await uow.cases.get(message.case_id)
            if case is None:
                return None, None, True
            order = await uow.orders.get(case.order_id)
            on_duty = await access.agents_on_duty(uow, self.core.config, case.shop)
        return case, order, on_duty

    async def _chat_user(self, message: OutboxMessage, case: Case | None) -> ChatUser | None:
        """Who is writing to the bot about the case, and in which language: for staff."""
        if case is None or case.buyer_id is None or message.recipient_role == "buyer":
            return None
        return await people.chat_user(self.core, case.buyer_id)

    @staticmethod
    def _render(
        message: OutboxMessage,
        tr: Translator,
        case: Case | None,
        order: Order | None,
        agents_on_duty: bool,
        chat_user: ChatUser | None,
    ) -> event_views.Rendered:
        if message.kind in event_views.NOTICES:  # not about a case
            return event_views.NOTICES[message.kind](tr, message.payload)
        return event_views.render(
            tr,
            message.kind,
            message.recipient_role,
            message.payload,
            case,
            order,
            agents_on_duty=agents_on_duty,
            chat_user=chat_user,
        )

    def _now(self) -> datetime:
        """The wall clock, never going back: after NTP steps the clock back, rows queued on
        the clock as it was stay due (they would otherwise wait for the clock to catch up),
        and backoffs are measured from the latest time seen."""
        now = self.core.now()
        if self._latest is None or now > self._latest:
            self._latest = now
        return self._latest

    async def _deliver(self, message: OutboxMessage, chats: list[int]) -> int:
        now = self._now()
        async with self.core.unit_of_work() as uow:  # another sender may have it: skip it then
            claimed = await uow.outbox.claim(
                message.id, now=now, until=now + timedelta(seconds=CLAIM_SECONDS)
            )
            await uow.commit()
        if not claimed:
            return 0
        if message.kind not in ev.EVENT_TYPES and message.kind not in event_views.NOTICES:
            log.error("notification %s has an unknown kind %r", message.id, message.kind)
            await self._give_up(message, f"unknown kind {message.kind}")
            return 1
        done = self._delivered.setdefault(message.id, set())
        case, order, on_duty = await self._subject(message)
        chat_user = await self._chat_user(message, case)
        message = await self._with_followups(message, case)
        # One row, several people (the agents without a forum group, resolved at send time so
        # that an agent invited a minute ago is included): each recipient stands alone. One who
        # blocked the bot or never pressed Start is marked and skipped; the others get it.
        # Per-recipient state lives here, not in one row per agent queued by the core, because
        # only the bot knows whether the agents have a forum group (AGENTS_CHAT_ID).
        fan_out = message.chat_id is None
        gone: list[str] = []
        try:
            for chat_id in chats:
                if (chat_id, "text") in done:
                    continue  # this recipient has it already (an earlier attempt)
                try:
                    case = await self._deliver_to(
                        message, chat_id, done, case, order, on_duty, chat_user
                    )
                except (TelegramForbiddenError, TelegramBadRequest) as exc:
                    if not fan_out or (isinstance(exc, TelegramBadRequest) and not _gone(exc)):
                        raise
                    done.add((chat_id, "text"))
                    gone.append(f"{chat_id}: {exc.message}")
                    await self._recipient_gone(chat_id)
        except TelegramRetryAfter as exc:
            await self._retry(message, f"429 retry after {exc.retry_after}s", exc.retry_after)
            return 0
        except TelegramForbiddenError as exc:
            self._forget(message.id)
            await self._unreachable(message, str(exc))
            return 1
        except (TelegramNetworkError, TelegramServerError, *retries.TRANSIENT_ERRORS) as exc:
            # passing trouble, e.g. nginx's HTML 502 page (ClientDecodeError): later
            delay = min(2**message.attempts, 300)
            await self._retry(message, retries.describe(exc), delay)
            return 0
        except TelegramBadRequest as exc:  # our own mistake: retrying will not help
            log.error("notification %s refused by Telegram: %s", message.id, exc)
            self._forget(message.id)
            await self._give_up(message, str(exc))
            return 1
        self._forget(message.id)
        if gone and len(gone) == len(chats):  # nobody could be written to
            await self._give_up(message, "; ".join(gone), unreachable=True)
            return 1
        async with self.core.unit_of_work() as uow:
            await uow.outbox.mark_sent(
                message.id,
                now,
                note="; ".join(gone) or None,
                payload=message.payload if "upto" in message.payload else None,
            )
            await uow.commit()
        if case is not None:
            await self._sync_topic(message, case, order)
        return 1

    async def _deliver_to(
        self,
        message: OutboxMessage,
        chat_id: int,
        done: set[tuple[int, str]],
        case: Case | None,
        order: Order | None,
        on_duty: bool,
        chat_user: ChatUser | None,
    ) -> Case | None:
        """The message to one chat: its evidence first (what Telegram accepts of it), then the
        text with its buttons. Returns the case (with its forum topic, once made)."""
        tr = await self._language(message, chat_id)
        rendered = self._render(message, tr, case, order, on_duty, chat_user)
        await self.limits.wait_turn()
        thread = None
        if chat_id == self.agents_chat_id and case is not None:
            case = await self._topic(case, order, chat_id, tr)
            thread = case.agent_topic_id
        text = rendered.text
        if case is not None:  # people's own words, in the reader's language
            role, kind, payload = message.recipient_role, message.kind, message.payload
            text += await translation_block(self.core, self.catalogs, tr, role, kind, payload, case)
        if rendered.album:
            if (chat_id, "album") not in done:
                self._refused[(message.id, chat_id)] = await self._send_album(
                    chat_id, rendered.album, thread
                )
                done.add((chat_id, "album"))
            refused = self._refused.get((message.id, chat_id), 0)
            if refused:
                text += "\n" + event_views.attachments_not_shown(tr, refused)
        sent = await send(self.bot, chat_id, text, rendered.markup, thread_id=thread)
        done.add((chat_id, "text"))
        self._refused.pop((message.id, chat_id), None)
        if case is not None and message.recipient_role != "buyer" and rendered.markup:
            await self._retire_older_alert(case, chat_id, sent.message_id)
        self.limits.sent(chat_id)
        return case

    async def _with_followups(self, message: OutboxMessage, case: Case | None) -> OutboxMessage:
        """A coalesced staff alert of the buyer's follow-ups (see notify.queue) tells how many
        messages came since this recipient's previous one, and shows the latest. Counted now,
        from the timeline, so that no concurrent writer has to update the row."""
        if (
            case is None
            or case.id is None
            or message.kind != ev.MessagePosted.kind
            or notify.FOLLOWUPS not in message.dedupe_key
        ):
            return message
        async with self.core.unit_of_work() as uow:
            rows = await uow.outbox.list_for_case(case.id)
            trail = await uow.cases.audit_trail(case.id)
        # how many of the buyer's messages the previous alerts to this recipient covered
        # (kept in each sent row's payload by the sender, the only writer of a claimed row)
        covered = max(
            (
                int(row.payload.get("upto") or 0)
                for row in rows
                if row.id != message.id
                and row.status == SENT
                and row.kind == message.kind
                and notify.FOLLOWUPS in row.dedupe_key
                and (row.recipient_role, row.chat_id) == (message.recipient_role, message.chat_id)
            ),
            default=0,
        )
        words = [
            entry
            for entry in trail
            if entry.action == ev.MessagePosted.audit_action and entry.actor_role.value == "buyer"
        ]
        if len(words) <= covered:
            return message
        payload = {
            **message.payload,
            "text": words[-1].note or "",
            "count": len(words) - covered,
            "upto": len(words),
        }
        return dataclasses.replace(message, payload=payload)

    async def _recipient_gone(self, chat_id: int) -> None:
        """One person of a fan-out cannot be written to: remember it for them alone."""
        if chat_id <= 0:
            return
        async with self.core.unit_of_work() as uow:
            await uow.users.set_reachable(chat_id, False, self.core.now())
            await uow.commit()
        people.forget(self.core, chat_id)
        log.info("chat %s cannot be written to; the other recipients still get it", chat_id)

    async def _give_up(
        self, message: OutboxMessage, error: str, *, unreachable: bool = False
    ) -> None:
        """Not deliverable at all: kept as failed (``returns-desk outbox failed`` lists it,
        ``outbox retry`` sends it again) and the shop hears of it through another recipient."""
        async with self.core.unit_of_work() as uow:
            if unreachable:
                await uow.outbox.mark_unreachable(message.id, error)
            else:
                await uow.outbox.mark_failed(message.id, error, None)
            await self._tell_shop(uow, message, error)
            await uow.commit()

    async def _tell_shop(self, uow: UnitOfWork, message: OutboxMessage, error: str) -> None:
        """A staff alert that could not be delivered is told to the shop's other staff: the
        sellers hear of the staff group's and the agents' failures, the staff group of a
        seller's (if the shop has one); once per case and recipient."""
        if message.kind == UNDELIVERED or message.case_id is None or message.shop is None:
            return
        shop = self.core.config.shops.get(message.shop)
        if shop is None or message.recipient_role not in ("seller", "staff_chat", "agents"):
            return
        targets: list[tuple[str, int]] = []
        if message.recipient_role == "seller":
            if shop.staff_chat_id is not None:
                targets.append(("staff_chat", shop.staff_chat_id))
        else:
            targets += [
                ("seller", seller)
                for seller in await access.seller_ids(uow, self.core.config, message.shop)
                if seller != message.chat_id
            ]
            if message.recipient_role == "agents" and shop.staff_chat_id is not None:
                targets.append(("staff_chat", shop.staff_chat_id))
        payload = {
            "case": message.payload.get("case", ""),
            "recipient": message.recipient_role,
            "chat": message.chat_id,
            "outbox_id": message.id,
            "error": error[:300],
        }
        for role, chat in targets:
            await uow.outbox.enqueue(
                kind=UNDELIVERED,
                recipient_role=role,
                chat_id=chat,
                shop=message.shop,
                case_id=message.case_id,
                payload=payload,
                dedupe_key=(
                    f"undelivered:{message.case_id}:{message.recipient_role}:"
                    f"{message.chat_id}:{chat}"
                ),
                at=self.core.now(),
            )

    def _forget(self, message_id: int) -> None:
        """The row is settled: what it had delivered, and refused, need not be remembered."""
        self._delivered.pop(message_id, None)
        for key in [key for key in self._refused if key[0] == message_id]:
            del self._refused[key]

    async def _retire_older_alert(self, case: Case, chat_id: int, message_id: int) -> None:
        """The newest alert about a case carries its buttons; the one before loses them, so
        that nobody decides on what another person already decided."""
        assert case.id is not None
        async with self.core.unit_of_work() as uow:
            older = await uow.outbox.replace_live_alert(
                case.id, chat_id, message_id, self.core.now()
            )
            await uow.commit()
        if older is None:
            return
        try:
            await self.bot.edit_message_reply_markup(
                chat_id=chat_id, message_id=older, reply_markup=None
            )
        except TelegramBadRequest as exc:  # deleted, or already without buttons
            log.info("old alert %s in chat %s kept its buttons: %s", older, chat_id, exc)

    async def _send_album(
        self, chat_id: int, album: tuple[Evidence, ...], thread: int | None
    ) -> int:
        """Sends the evidence in the groups Telegram accepts; returns how many items it
        refused. A group refused as a whole (400) is tried item by item, so one bad file costs
        only itself, and the alert's text goes out anyway."""
        refused = 0
        for group in album_groups(album):
            try:
                await self._send_group(chat_id, group, thread)
                continue
            except TelegramBadRequest as exc:
                if _gone(exc):
                    raise
                log.warning("evidence for chat %s refused as a group: %s", chat_id, exc)
            if len(group) == 1:
                refused += 1
                continue
            for item in group:
                try:
                    await self._send_group(chat_id, [item], thread)
                except TelegramBadRequest as exc:
                    if _gone(exc):
                        raise
                    log.warning("evidence %s for chat %s refused: %s", item.media, chat_id, exc)
                    refused += 1
        return refused

    async def _send_group(self, chat_id: int, group: list[InputMedia], thread: int | None) -> None:
        if len(group) > 1:
            await self.bot.send_media_group(chat_id, group, message_thread_id=thread)
            return
        [single] = group
        assert isinstance(single.media, str)
        if isinstance(single, InputMediaDocument):
            await self.bot.send_document(chat_id, single.media, message_thread_id=thread)
        elif isinstance(single, InputMediaVideo):
            await self.bot.send_video(chat_id, single.media, message_thread_id=thread)
        else:
            await self.bot.send_photo(chat_id, single.media, message_thread_id=thread)

    async def _topic(self, case: Case, order: Order | None, chat_id: int, tr: Translator) -> Case:
        """In the agents' forum group each case has its own topic, made on first need and
        named with the status, case number, reason and buyer country."""
        if case.agent_topic_id is not None:
            return case
        name = self._topic_name(case, order, tr, await self._dispute_note(case, tr))
        topic = await self.bot.create_forum_topic(chat_id, name)
        await case_service.set_agent_topic(self.core, case, topic.message_thread_id)
        self._topic_names[case.id or 0] = name
        return dataclasses.replace(case, agent_topic_id=topic.message_thread_id)

    def _topic_name(
        self, case: Case, order: Order | None, tr: Translator, dispute_note: str = ""
    ) -> str:
        country = order.buyer.country if order is not None else None
        icon = texts.STATUS_ICONS[case.status]
        name = f"{icon} {case.number} · {texts.reason(tr, case.reason)} · {country or '?'}"
        return (name + dispute_note)[:128]

    async def _dispute_note(self, case: Case, tr: Translator) -> str:
        """`` · ⚖️ 1 d 23 h``: the nearest platform-dispute deadline, as of this rename (each
        dispute reminder renames the topic again)."""
        found = await dispute_service.of_cases(self.core, [case])
        return dispute_views.short(tr, found.get(case.id or 0, []), self.core.now())

    async def _sync_topic(self, message: OutboxMessage, case: Case, order: Order | None) -> None:
        """The topic follows its case: renamed with the status, closed when the case closes,
        reopened with it. Telegram refusing a rename (nothing changed) is not an error."""
        if self.agents_chat_id is None or case.agent_topic_id is None:
            return
        tr = self.catalogs.get(self.core.config.shops[case.shop].language)
        name = self._topic_name(case, order, tr, await self._dispute_note(case, tr))
        try:
            if self._topic_names.get(case.id or 0) != name:
                await self.bot.edit_forum_topic(self.agents_chat_id, case.agent_topic_id, name=name)
                self._topic_names[case.id or 0] = name
            if message.kind in CLOSING_KINDS:
                await self.bot.close_forum_topic(self.agents_chat_id, case.agent_topic_id)
            elif message.kind == ev.Reopened.kind:
                await self.bot.reopen_forum_topic(self.agents_chat_id, case.agent_topic_id)
        except TelegramBadRequest as exc:
            log.info("topic of %s not updated: %s", case.number, exc)

    async def _retry(self, message: OutboxMessage, error: str, seconds: float) -> None:
        give_up = message.attempts + 1 >= MAX_ATTEMPTS
        retry_at = None if give_up else self._now() + timedelta(seconds=seconds)
        if give_up:
            self._forget(message.id)
            log.warning("notification %s not sent (%s); giving up", message.id, error)
            await self._give_up(message, f"{error} (after {message.attempts + 1} attempts)")
            return
        log.warning(
            "notification %s not sent (%s); %s",
            message.id,
            error,
            "giving up" if give_up else f"retry at {retry_at}",
        )
        async with self.core.unit_of_work() as uow:
            await uow.outbox.mark_failed(message.id, error, retry_at)
            await uow.commit()

    async def _unreachable(self, message: OutboxMessage, error: str) -> None:
        """The person blocked the bot (or the bot left the group): stop trying, remember it,
        and tell the shop. Staff hear that a buyer blocked the bot once, when it changes from
        reachable, not again at every later change of the case."""
        now = self.core.now()
        async with self.core.unit_of_work() as uow:
            await uow.outbox.mark_unreachable(message.id, error)
            was_reachable = True
            if message.chat_id is not None and message.chat_id > 0:
                user = await uow.users.get(message.chat_id)
                was_reachable = user is None or user.reachable
                await uow.users.set_reachable(message.chat_id, False, now)
                people.forget(self.core, message.chat_id)
            if message.recipient_role == "buyer" and message.case_id is not None:
                case = await uow.cases.get(message.case_id)
                if case is not None and was_reachable:
                    await notify.queue(uow, self.core.config, case, ev.BuyerUnreachable(), now)
            else:
                await self._tell_shop(uow, message, error)
            await uow.commit()
        log.info("chat %s blocked the bot; notification %s dropped", message.chat_id, message.id)
