"""Persistence: the only package that knows SQLAlchemy.

engine = create_engine(settings.database_url)      # sqlite+aiosqlite or postgresql+asyncpg
await migrate.upgrade(engine)                      # core.persistence.migrate: to head
sessions = create_session_factory(engine)
async with sessions() as session:
    repos = Repositories(session)
    ...
    await session.commit()                         # the caller's unit of work commits
"""

from core.persistence.engine import create_engine, create_session_factory
from core.persistence.repositories import Repositories

__all__ = [
    "Repositories",
    "create_engine",
    "create_session_factory",
]
