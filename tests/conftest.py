"""Database fixtures for the whole suite: every database test runs on SQLite and PostgreSQL.

* ``database_url`` is parametrized over ``sqlite`` (a fresh file under ``tmp_path``) and
  ``postgres`` (marked ``postgres``; deselect with ``-m "not postgres"``). PostgreSQL comes
  from ``TEST_POSTGRES_URL`` (CI sets it; then an unreachable server fails the test), else
  ``postgresql+asyncpg://postgres@127.0.0.1:5432/test`` is tried with a 1-second timeout and
  the test is skipped when it does not answer. Each PostgreSQL test gets a schema of its own
  (``t_<hex>``, dropped afterwards: ``bot.testing.postgres.fresh_schema``), named in the URL
  as ``?search_path=…`` so that ``core.persistence.create_engine(database_url)`` anywhere (a
  subprocess too) sees only it.
* ``engine``: the engine for that URL, migrated to head; disposed afterwards.
* ``session_factory``: Core connections on it; ``session``: one connection, closed after.

Before anything is collected, ``pytest_configure`` removes every Returns Desk setting from
the environment (each variable ``Settings`` reads, in any case: ``without_settings``) and
stops ``Settings`` from reading a ``.env`` in the working directory, for the whole session:
every test, and every process it starts, runs on the settings it sets itself, whatever the
developer has exported or put in ``.env``. The harness's own variables (``TEST_POSTGRES_URL``,
``TEST_REDIS_URL``) are not settings and stay. ``tests/test_settings_isolation.py`` checks it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.config import Settings, without_settings  # noqa: E402
from bot.testing.postgres import fresh_schema  # noqa: E402
from core.persistence.engine import (  # noqa: E402
    create_engine,
    create_session_factory,
)
from core.persistence.migrate import upgrade  # noqa: E402

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from core.persistence.engine import Sessions

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def pytest_configure(config: pytest.Config) -> None:
    """No setting of the developer's reaches a test or a process it starts (see above)."""
    patch = pytest.MonkeyPatch()
    kept = without_settings(os.environ)
    for name in [name for name in os.environ if name not in kept]:
        patch.delenv(name)
    patch.setitem(Settings.model_config, "env_file", None)
    config.add_cleanup(patch.undo)


# url → None when it answered, else why not; checked once per test session.
_postgres_checked: dict[str, str | None] = {}


async def _postgres_problem(url: str) -> str | None:
    if url not in _postgres_checked:
        engine = create_engine(url, connect_args={"timeout": 1})
        try:
            async with asyncio.timeout(3):
                async with engine.connect() as conn:
                    await conn.exec_driver_sql("SELECT 1")
            _postgres_checked[url] = None
        except Exception as exc:
            _postgres_checked[url] = f"{type(exc).__name__}: {exc}"
        finally:
            await engine.dispose()
    return _postgres_checked[url]


async def _postgres_url() -> str:
    configured = os.environ.get("TEST_POSTGRES_URL")
    url = configured or DEFAULT_POSTGRES_URL
    problem = await _postgres_problem(url)
    if problem is not None:
        if configured:
            pytest.fail(f"TEST_POSTGRES_URL is set but PostgreSQL does not answer: {problem}")
        pytest.skip("PostgreSQL not available")
    return url


DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"


async def redis_url(database: int | None = None) -> str:
    """The test Redis, flushed; ``database``: another database number of the same server (a
    test that runs beside the others: pytest_collection_modifyitems, own_redis_db)."""
    configured = os.environ.get("TEST_REDIS_URL")
    url = configured or DEFAULT_REDIS_URL
    if database is not None:
        url = urlsplit(url)._replace(path=f"/{database}").geturl()
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=1)
    try:
        await client.ping()
        await client.flushdb()
    except Exception as exc:
        if configured:
            pytest.fail(f"TEST_REDIS_URL is set but Redis does not answer: {exc}")
        pytest.skip("Redis not available")
    finally:
        await client.aclose()
    return url


POSTGRES_LOCK = Path(tempfile.gettempdir()) / f"returns-desk-tests-postgres-{os.getuid()}.lock"
POSTGRES_GATE = POSTGRES_LOCK.with_suffix(".gate")
POSTGRES_LOCK_WAIT = 600.0  # seconds: a test that hangs holding it fails the others, not hang


@contextlib.asynccontextmanager
async def postgres_in_use(*, alone: bool = False) -> AsyncIterator[None]:
    """Hold the test server for one test: shared, or ``alone`` for the test that restarts
    PostgreSQL. The xdist workers are separate processes, so these are file locks (flock):
    the restart waits until no test on another worker is using the server, and their next
    tests wait until it is back, instead of losing their connections midway. Everyone passes
    the gate first, and the restart keeps it while it waits, so that the other workers'
    overlapping tests cannot keep it waiting forever. (One test must not take it twice.)"""
    gate = await asyncio.to_thread(open, POSTGRES_GATE, "a+b")
    lock = await asyncio.to_thread(open, POSTGRES_LOCK, "a+b")
    try:
        await _flock(gate, fcntl.LOCK_EX)
        await _flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        if not alone:
            fcntl.flock(gate, fcntl.LOCK_UN)
        yield
    finally:
        lock.close()  # which releases the locks
        gate.close()


async def _flock(handle: Any, operation: int) -> None:
    deadline = asyncio.get_running_loop().time() + POSTGRES_LOCK_WAIT
    while True:
        try:
            fcntl.flock(handle, operation | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"the PostgreSQL test lock was held over {POSTGRES_LOCK_WAIT:g} s")
            await asyncio.sleep(0.05)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    async with postgres_in_use(), fresh_schema(await _postgres_url(), "t") as url:
        yield url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def session_factory(engine: AsyncEngine) -> Sessions:
    return create_session_factory(engine)


@pytest.fixture
async def session(session_factory: Sessions) -> AsyncIterator[AsyncConnection]:
    async with session_factory() as session:
        yield session


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook turns the groups into node ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """With pytest-xdist (``-n 3 --dist loadgroup``, see pyproject.toml), the end-to-end
    tests run one after another on one worker: they start real processes, share the local
    Redis database and measure time. They spend much of it waiting for those processes (the
    Redis outage test, beside them, sleeps through its outage), so the two other workers
    keep both cores busy meanwhile. tests/test_harness.py checks that xdist keeps the group
    on one worker (pytest 9.2 broke it silently: see pyproject.toml)."""
    for item in items:
        if item.get_closest_marker("own_redis_db"):  # long and mostly waiting: beside them
            item.add_marker(pytest.mark.xdist_group("alone"))
        elif "e2e" in item.path.parts or item.path.name in SERIAL_FILES:
            item.add_marker(pytest.mark.xdist_group("serial"))


# Files outside tests/e2e that start real processes or watch the clock, serialised with them.
SERIAL_FILES = frozenset({"test_settings_isolation.py"})


def count_postgres_begins(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the transactions asyncpg begins (each a BEGIN round trip, and a COMMIT or a
    ROLLBACK later), but for the pool's ping of a connection that sat idle."""
    from asyncpg.transaction import Transaction
    from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection

    begins: list[int] = []
    pinging: list[int] = []
    start, ping = Transaction.start, AsyncAdapt_asyncpg_connection.ping

    async def counted(self: Transaction) -> None:
        if not pinging:
            begins.append(1)
        await start(self)

    def ping_apart(self: AsyncAdapt_asyncpg_connection) -> None:
        pinging.append(1)
        try:
            ping(self)
        finally:
            pinging.pop()

    monkeypatch.setattr(Transaction, "start", counted)
    monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "ping", ping_apart)
    return begins
