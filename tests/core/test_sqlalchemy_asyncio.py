"""SQLAlchemy's asyncio package without its ORM (core/sqlalchemy_asyncio.py), checked in a
fresh interpreter: the bot's modules load without the ORM, and every name the package's own
``__init__`` gives is still there."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import sqlalchemy

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_INIT = Path(sqlalchemy.__file__).parent / "ext" / "asyncio" / "__init__.py"


def _exported_names() -> set[str]:
    tree = ast.parse(PACKAGE_INIT.read_text())
    return {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.level == 1
        for alias in node.names
    }


def _run(code: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_bot_loads_without_the_orm_and_the_package_keeps_every_name() -> None:
    names = sorted(_exported_names())
    assert {"AsyncEngine", "AsyncConnection", "AsyncSession", "create_async_engine"} <= set(names)
    seen = _run(
        "import json, sys\n"
        "import bot.__main__, bot.app, bot.receiving.runner\n"
        "orm_before = 'sqlalchemy.orm' in sys.modules\n"
        "import sqlalchemy.ext.asyncio as package\n"
        f"missing = [n for n in {names!r} if not hasattr(package, n)]\n"
        f"unlisted = [n for n in {names!r} if n not in dir(package)]\n"
        "import sqlalchemy.ext.asyncio\n"
        "dotted = sqlalchemy.ext.asyncio.AsyncEngine is package.AsyncEngine\n"
        "from sqlalchemy.ext.asyncio import AsyncSession\n"
        "from sqlalchemy.ext.asyncio.session import AsyncSession as real\n"
        "print(json.dumps({'orm_before': orm_before, 'missing': missing, 'unlisted': unlisted,\n"
        "    'dotted': dotted, 'same': AsyncSession is real,\n"
        "    'orm_after': 'sqlalchemy.orm' in sys.modules}))\n"
    )
    assert seen == {
        "orm_before": False,
        "missing": [],
        "unlisted": [],
        "dotted": True,
        "same": True,
        "orm_after": True,
    }


def test_a_package_imported_before_is_left_as_it_is() -> None:
    seen = _run(
        "import json, sys\n"
        "import sqlalchemy.ext.asyncio as first\n"
        "import core.sqlalchemy_asyncio as lean\n"
        "lean.install()\n"
        "print(json.dumps({'same': sys.modules['sqlalchemy.ext.asyncio'] is first,\n"
        "    'orm': 'sqlalchemy.orm' in sys.modules}))\n"
    )
    assert seen == {"same": True, "orm": True}
