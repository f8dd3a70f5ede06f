"""Whatever the developer has exported or put in ``.env``, each test runs on the settings it
sets itself: ``tests/conftest.py`` removes every Returns Desk setting for the whole session.

The check runs a small slice of the suite (a conversation in-process, a command of the CLI
and the real bot process) in a ``pytest`` of its own, with every variable ``Settings`` reads
exported to a wrong value that the settings accept (in upper and in lower case, as pydantic
matches any case) and a ``.env`` of wrong values in its working directory; the slice must
pass. The harness's own variables (``TEST_POSTGRES_URL``, ``TEST_REDIS_URL``) pass through.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import Settings, without_settings

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ("TEST_POSTGRES_URL", "TEST_REDIS_URL")  # the CI's variables: not settings, kept
NOWHERE = Path("/proc/returns-desk-nowhere")  # cannot be created, not even by root
INNER = "RETURNS_DESK_WRONG_SETTINGS_CHECK"  # set in the slice's pytest: no check in there

# A wrong value for every variable the settings read; each one passes their validation.
WRONG = {
    "DATA_DIR": str(NOWHERE / "data"),
    "DATABASE_URL": f"sqlite+aiosqlite:///{NOWHERE}/wrong.sqlite3",
    "CONFIG_FILE": str(NOWHERE / "shops.toml"),
    "BOT_TOKEN": "123456789:" + "W" * 35,
    "BOT_API_URL": "http://127.0.0.1:9",
    "AGENTS_CHAT_ID": "-1009999999999",
    "REDIS_URL": "redis://127.0.0.1:9/0",
    "LOG_LEVEL": "CRITICAL",
    "WEBHOOK_URL": "https://wrong.invalid/telegram",
    "WEBHOOK_LISTEN": "127.0.0.1:9",
    "WEBHOOK_SECRET": "wrong-secret-0123456789",
    "WEBAPP_URL": "https://wrong.invalid/board/",
    "WEBAPP_SHORT_NAME": "wrong_app",
    "BOARD_INIT_MAX_AGE": "61",
}

# A few seconds of the suite that reads and writes DATA_DIR, the database and the config.
SLICE = [
    "tests/telegram/test_damaged_item.py::test_a_spanish_buyer_reports_a_damaged_lamp_with_an_album",
    "tests/test_cli.py::test_shopify_export_needs_a_shop",
    "tests/e2e/test_bot_process.py::"
    "test_a_damaged_lamp_reported_with_an_album_is_stored_with_its_three_photos",
]


def setting_variables() -> set[str]:
    """The environment variables ``Settings`` reads, named as pydantic-settings names them
    (the alias, else the env prefix and the field's name)."""
    prefix = Settings.model_config.get("env_prefix") or ""
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias or field.alias
        assert alias is None or isinstance(alias, str), f"{name}: alias {alias!r} not handled"
        names.add((alias or f"{prefix}{name}").upper())
    return names


def wrong_environment() -> dict[str, str]:
    """Every setting wrong, in upper and in lower case."""
    return {**WRONG, **{name.lower(): value for name, value in WRONG.items()}}


def test_every_setting_has_a_wrong_value_that_the_settings_read_and_the_session_drops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = setting_variables()
    assert set(WRONG) == names, "every setting needs a wrong value in WRONG"
    assert not names & set(HARNESS)
    assert not names & {name.upper() for name in os.environ}  # the session dropped them

    defaults = Settings()
    for spelling in (str.upper, str.lower):
        with monkeypatch.context() as patch:
            for name, value in WRONG.items():
                patch.setenv(spelling(name), value)
            wrong = Settings()
            assert not names & {name.upper() for name in without_settings(os.environ)}
        for field in Settings.model_fields:
            assert getattr(wrong, field) != getattr(defaults, field), (spelling, field)


def test_a_slice_of_the_suite_passes_with_every_setting_exported_wrong(tmp_path: Path) -> None:
    if os.environ.get(INNER):  # pragma: no cover - the slice never selects this file
        pytest.skip("inside the check's own pytest")
    assert not any(Path(__file__).name in node for node in SLICE)  # no recursion
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / ".env").write_text(
        "".join(f"{name}={value}\n" for name, value in WRONG.items()), encoding="utf-8"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-n",
            "0",  # three tests: in one process, not three workers importing everything
            "-p",
            "no:cacheprovider",
            f"--rootdir={ROOT}",
            f"--basetemp={tmp_path / 'basetemp'}",
            *(str(ROOT / node) for node in SLICE),
        ],
        cwd=cwd,
        env={**os.environ, **wrong_environment(), INNER: "1"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    passed = re.search(r"(\d+) passed", result.stdout)
    assert passed is not None and int(passed.group(1)) >= len(SLICE), output
