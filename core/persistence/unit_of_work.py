"""One unit of work per user action: the state change, its audit event and its outbox rows
commit together or not at all."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncConnection

from core.persistence.engine import Sessions
from core.persistence.repositories.board import BoardLoginRepository
from core.persistence.repositories.cases import CaseRepository
from core.persistence.repositories.conversations import ConversationRepository
from core.persistence.repositories.disputes import DisputeRepository
from core.persistence.repositories.evidence_files import EvidenceFileRepository
from core.persistence.repositories.inbox import InboxRepository
from core.persistence.repositories.leases import LeaseRepository, RuntimeValueRepository
from core.persistence.repositories.links import LinkRepository
from core.persistence.repositories.orders import ImportRunRepository, OrderRepository
from core.persistence.repositories.outbox import OutboxRepository
from core.persistence.repositories.privacy import PrivacyRepository
from core.persistence.repositories.signals import SignalRepository
from core.persistence.repositories.surveys import SurveyRepository
from core.persistence.repositories.users import StaffRepository, UserRepository


class UnitOfWork:
    def __init__(self, session_factory: Sessions) -> None:
        self._factory = session_factory
        self.session: AsyncConnection  # a Core connection: every repository writes Core

    async def __aenter__(self) -> UnitOfWork:
        self.session = await self._factory().start()
        self.orders = OrderRepository(self.session)
        self.import_runs = ImportRunRepository(self.session)
        self.cases = CaseRepository(self.session)
        self.evidence_files = EvidenceFileRepository(self.session)
        self.links = LinkRepository(self.session)
        self.outbox = OutboxRepository(self.session)
        self.privacy = PrivacyRepository(self.session)
        self.surveys = SurveyRepository(self.session)
        self.signals = SignalRepository(self.session)
        self.users = UserRepository(self.session)
        self.staff = StaffRepository(self.session)
        self.conversations = ConversationRepository(self.session)
        self.inbox = InboxRepository(self.session)
        self.leases = LeaseRepository(self.session)
        self.runtime_values = RuntimeValueRepository(self.session)
        self.board_logins = BoardLoginRepository(self.session)
        self.disputes = DisputeRepository(self.session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is not None:
                await self.session.rollback()
        finally:
            await self.session.close()  # rolls back what was not committed

    async def one_statement(self) -> None:
        """Say that this unit of work is one statement, the next: on PostgreSQL it then commits
        by itself, without the ``BEGIN`` and ``COMMIT`` round trips (under load each waits for
        a turn of a busy event loop: benchmarks/README.md, thirteenth round). Only for a unit
        of work whose one statement is all it does: a statement after it would not be in the
        same transaction. Nothing changes on SQLite, where a statement costs no round trip."""
        if self.session.dialect.name != "postgresql":
            return
        from core.persistence import postgres_driver  # loaded with the engine: not on SQLite

        raw = await self.session.get_raw_connection()
        postgres_driver.run_next_statement_alone(raw.dbapi_connection)

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()
