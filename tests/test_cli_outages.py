"""Starting the bot while what it needs does not answer: a few clear lines naming the setting
and a non-zero exit (systemd restarts it), not "running" and an error line per second, nor a
chain of tracebacks."""

from __future__ import annotations

from pathlib import Path

from tests.test_cli import TOKEN, Run, run_all


def test_the_bot_does_not_start_without_its_database_or_telegram(tmp_path: Path) -> None:
    no_database, no_telegram = run_all(
        Run(
            tmp_path,
            ["run", "--sample-config"],
            BOT_TOKEN=TOKEN,
            DATABASE_URL="postgresql+asyncpg://returns:secret@127.0.0.1:1/returns",
        ),
        Run(
            tmp_path,
            ["run", "--sample-config"],
            BOT_TOKEN=TOKEN,
            BOT_API_URL="http://127.0.0.1:1",
        ),
    )
    for result, setting in ((no_database, "DATABASE_URL"), (no_telegram, "BOT_API_URL")):
        lines = [line for line in result.err.strip().splitlines() if "upgrade 000" not in line]
        assert result.code == 2, result
        assert lines[-1].startswith(f"error: {setting}: "), result
        assert len(lines) < 12 and "Traceback" not in result.err, result
        assert "is running" not in result.err + result.out, result
    assert "does not answer" in no_database.err and "127.0.0.1:1" in no_telegram.err
