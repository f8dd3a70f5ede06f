"""SQLAlchemy's asyncio engine without its ORM: 45 modules and about 7 MB resident less in
every process, which uses only the engine and its connections (SQLAlchemy Core).

The ``__init__`` of ``sqlalchemy.ext.asyncio`` imports ``AsyncSession``, and with it the whole
ORM. :func:`install` puts that package in ``sys.modules`` without running its ``__init__``:
with the engine's and the results' names, as the ``__init__`` gives them, and the session's
names imported when first asked for (a module ``__getattr__``, PEP 562), so ``from
sqlalchemy.ext.asyncio import AsyncSession`` still works, paying for the ORM then. It runs
from ``core/__init__.py``, before anything imports the package; a package already imported
is left as it is. tests/core/test_persistence.py checks that the bot's modules load without
the ORM and that every name of the package is still there.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

PACKAGE = "sqlalchemy.ext.asyncio"

# the names the package's __init__ gives, by the submodule that holds them
EAGER = {
    "engine": (
        "async_engine_from_config",
        "AsyncConnection",
        "AsyncEngine",
        "AsyncTransaction",
        "create_async_engine",
        "create_async_pool_from_url",
    ),
    "result": ("AsyncMappingResult", "AsyncResult", "AsyncScalarResult", "AsyncTupleResult"),
}
LAZY = {
    "async_scoped_session": "scoping",
    "async_object_session": "session",
    "async_session": "session",
    "async_sessionmaker": "session",
    "AsyncAttrs": "session",
    "AsyncSession": "session",
    "AsyncSessionTransaction": "session",
    "close_all_sessions": "session",
}


def install() -> None:
    if PACKAGE in sys.modules:
        return
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.loader is None:  # pragma: no cover - SQLAlchemy is a dependency
        return
    package = importlib.util.module_from_spec(spec)  # its __init__ is not run

    def __getattr__(name: str) -> Any:
        if name not in LAZY:
            raise AttributeError(f"module {PACKAGE!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{PACKAGE}.{LAZY[name]}"), name)
        setattr(package, name, value)
        return value

    package.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[PACKAGE] = package
    try:
        from sqlalchemy.util import concurrency

        concurrency._concurrency_shim._initialize()  # as the package's __init__ does
        for submodule, names in EAGER.items():
            module = importlib.import_module(f"{PACKAGE}.{submodule}")
            for name in names:
                setattr(package, name, getattr(module, name))
    except BaseException:
        del sys.modules[PACKAGE]  # the real package, next time
        raise
