"""SQLAlchemy's asyncio engine without its ORM: 45 modules and about 6 MB resident less in
every process, which uses only the engine and its connections (SQLAlchemy Core).

The ``__init__`` of ``sqlalchemy.ext.asyncio`` imports ``AsyncSession``, and with it the whole
ORM. :func:`install` puts a finder first on ``sys.meta_path`` that loads that package from its
own files but with another body: the engine's and the results' names, as the ``__init__``
gives them, and the session's names imported when first asked for (a module ``__getattr__``,
PEP 562), so ``from sqlalchemy.ext.asyncio import AsyncSession`` still works, paying for the
ORM then. The import system does the rest as for any package (the import lock, the parent's
attribute, clean-up after an error). It is installed from ``core/__init__.py``; a package
imported before is left as it is. tests/core/test_sqlalchemy_asyncio.py checks that the bot's
modules load without the ORM and that every name of the package is still there.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
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


class WithoutOrm(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``sqlalchemy.ext.asyncio`` where it is installed and loads it with the body
    above instead of its ``__init__``."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != PACKAGE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None:  # pragma: no cover - SQLAlchemy is a dependency
            return None
        spec.loader = self
        return spec

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None  # the usual module object

    def exec_module(self, module: ModuleType) -> None:
        def __getattr__(name: str) -> Any:
            if name not in LAZY:
                raise AttributeError(f"module {PACKAGE!r} has no attribute {name!r}")
            value = getattr(importlib.import_module(f"{PACKAGE}.{LAZY[name]}"), name)
            setattr(module, name, value)
            return value

        def __dir__() -> list[str]:
            return sorted({*module.__dict__, *LAZY})

        module.__getattr__ = __getattr__  # type: ignore[method-assign]
        module.__dir__ = __dir__  # type: ignore[method-assign]
        from sqlalchemy.util import concurrency

        concurrency._concurrency_shim._initialize()  # as the package's __init__ does
        for submodule, names in EAGER.items():
            loaded = importlib.import_module(f"{PACKAGE}.{submodule}")
            for name in names:
                setattr(module, name, getattr(loaded, name))


def install() -> None:
    if PACKAGE in sys.modules or any(isinstance(f, WithoutOrm) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, WithoutOrm())
