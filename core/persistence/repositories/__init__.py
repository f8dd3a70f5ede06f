"""Repositories: rows ↔ domain objects. They never commit; the caller's unit of work does."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from core.persistence.repositories.cases import CaseRepository
from core.persistence.repositories.links import LinkRepository
from core.persistence.repositories.orders import ImportRunRepository, OrderRepository
from core.persistence.repositories.outbox import OutboxMessage, OutboxRepository
from core.persistence.repositories.users import StaffRepository, TelegramUser, UserRepository


class Repositories:
    """Every repository around one session (one unit of work)."""

    def __init__(self, session: AsyncConnection) -> None:
        self.session = session
        self.orders = OrderRepository(session)
        self.import_runs = ImportRunRepository(session)
        self.cases = CaseRepository(session)
        self.outbox = OutboxRepository(session)
        self.links = LinkRepository(session)
        self.users = UserRepository(session)
        self.staff = StaffRepository(session)


__all__ = [
    "CaseRepository",
    "ImportRunRepository",
    "LinkRepository",
    "OrderRepository",
    "OutboxMessage",
    "OutboxRepository",
    "Repositories",
    "StaffRepository",
    "TelegramUser",
    "UserRepository",
]
