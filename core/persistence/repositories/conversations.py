"""Conversation state (the bot's FSM state and data) per chat, kept in the database."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.persistence.repositories._common import conflict_insert
from core.persistence.tables import conversation_states


class ConversationRepository:
    def __init__(self, session: AsyncConnection) -> None:
        self.session = session

    async def get(self, key: str) -> tuple[str | None, dict[str, Any]]:
        row = (await self.session.execute(_GET, {"key": key})).first()
        if row is None:
            return None, {}
        return row.state, dict(row.data or {})

    async def put(self, key: str, state: str | None, data: dict[str, Any], at: datetime) -> None:
        """Store a conversation whole, in one statement (an empty one is removed)."""
        if state is None and not data:
            await self.session.execute(
                delete(conversation_states).where(conversation_states.c.key == key)
            )
            return
        row = {"key": key, "state": state, "data": data, "updated_at": at}
        await self.session.execute(self._upsert(), [row])

    async def put_many(
        self, conversations: Iterable[tuple[str, str | None, dict[str, Any]]], at: datetime
    ) -> None:
        """Store several conversations whole (the last of a key wins) in at most two
        statements: the inbox writes a batch of finished updates' conversations at once."""
        latest = {key: (state, data) for key, state, data in conversations}
        empty = [key for key, (state, data) in latest.items() if state is None and not data]
        rows = [
            {"key": key, "state": state, "data": data, "updated_at": at}
            for key, (state, data) in latest.items()
            if state is not None or data
        ]
        if empty:
            await self.session.execute(
                delete(conversation_states).where(conversation_states.c.key.in_(empty))
            )
        if rows:
            await self.session.execute(self._upsert(), rows)

    def _upsert(self) -> Any:
        """``INSERT … ON CONFLICT (key) DO UPDATE`` for this dialect, built once per dialect
        (every update writes a conversation; building the statement costs more than running
        it)."""
        return conflict_insert(
            self.session,
            conversation_states,
            "upsert",
            lambda insert: insert.on_conflict_do_update(
                index_elements=["key"],
                set_={
                    "state": insert.excluded.state,
                    "data": insert.excluded.data,
                    "updated_at": insert.excluded.updated_at,
                },
            ),
        )

    async def purge_idle(self, before: datetime) -> int:
        """Forget conversations nobody touched since ``before`` (abandoned half-way)."""
        result = await self.session.execute(
            delete(conversation_states).where(conversation_states.c.updated_at < before)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def count(self) -> int:
        rows = await self.session.execute(select(conversation_states.c.key))
        return len(rows.all())


_GET = select(conversation_states.c.state, conversation_states.c.data).where(
    conversation_states.c.key == bindparam("key")
)
