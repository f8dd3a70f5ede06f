"""Starting the bot while what it needs does not answer: a few clear lines naming the setting
and a non-zero exit (systemd restarts it), not "running" and an error line per second, nor a
chain of tracebacks."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from bot.receiving.inbox import chat_key, topic_key
from tests.test_cli import TOKEN, Run, cli, db_path, run_all


def test_the_bot_does_not_start_without_its_database_or_telegram(tmp_path: Path) -> None:
    no_database, no_database_hook, no_telegram = run_all(
        Run(
            tmp_path,
            ["run", "--sample-config"],
            BOT_TOKEN=TOKEN,
            DATABASE_URL="postgresql+asyncpg://returns:secret@127.0.0.1:1/returns",
        ),
        Run(
            tmp_path,
            ["run", "--webhook", "--sample-config"],
            BOT_TOKEN=TOKEN,
            DATABASE_URL="postgresql+asyncpg://returns:secret@127.0.0.1:1/returns",
            WEBHOOK_URL="https://bot.example.org/telegram",
            WEBHOOK_LISTEN="127.0.0.1:18457",
        ),
        Run(
            tmp_path,
            ["run", "--sample-config"],
            BOT_TOKEN=TOKEN,
            BOT_API_URL="http://127.0.0.1:1",
        ),
    )
    for result, setting in (
        (no_database, "DATABASE_URL"),
        (no_database_hook, "DATABASE_URL"),
        (no_telegram, "BOT_API_URL"),
    ):
        lines = [line for line in result.err.strip().splitlines() if "Running upgrade" not in line]
        assert result.code == 2, result
        assert lines[-1].startswith(f"error: {setting}: "), result
        assert len(lines) < 12 and "Traceback" not in result.err, result
        assert "is running" not in result.err + result.out, result
    assert "does not answer" in no_database.err and "127.0.0.1:1" in no_telegram.err


def test_a_parked_update_of_a_forum_topic_shows_its_chat_and_why(tmp_path: Path) -> None:
    assert cli(tmp_path, "db", "upgrade").code == 0
    payload = {
        "update_id": 78,
        "message": {
            "chat": {"id": -1001234567890, "is_forum": True, "type": "supergroup"},
            "message_thread_id": 12,
            "is_topic_message": True,
            "text": "/note hi",
        },
    }
    key = chat_key(payload)
    assert key == topic_key(-1001234567890, 12)
    conn = sqlite3.connect(db_path(tmp_path))
    with conn:
        conn.execute(
            "INSERT INTO inbox_updates (update_id, chat_key, payload, status, attempts,"
            " received_at, next_attempt_at, finished_at, last_error) VALUES"
            " (78, ?, ?, 'parked', 5, '2026-11-22 10:00:00', '2026-11-22 10:00:00',"
            " '2026-11-22 10:01:00', ?)",
            (key, json.dumps(payload), "KeyError in bot.conversations.agents.note:88: 'x'"),
        )
    conn.close()
    listed = cli(tmp_path, "updates", "parked")
    assert listed.code == 0, listed
    assert "chat -1001234567890  message  attempts 5  KeyError in bot.conversations" in listed.out
    assert str(key) not in listed.out
