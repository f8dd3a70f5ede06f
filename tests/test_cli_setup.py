"""Setup mistakes, through the real ``returns-desk`` command: each one gets a short line that
names the variable or key, in plain words, with no traceback and a fitting exit code.

The commands run as in ``tests/test_cli.py``: a subprocess in ``tmp_path`` with its own
``DATA_DIR`` and only the settings the test sets (``tests/conftest.py`` cleared the rest);
``run_all`` also checks that no output holds a traceback.
"""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

from tests.test_cli import (
    SAMPLE_CONFIG,
    SAMPLE_JSON,
    TOKEN,
    Result,
    Run,
    cli,
    db_path,
    run_all,
    tables,
)

SAMPLE_NAME = 'bot_username = "ReturnsDeskBot"'


def own_config(tmp_path: Path) -> Path:
    """The sample with a secret and a bot name of one's own in every place."""
    text = SAMPLE_CONFIG.read_text(encoding="utf-8")
    assert SAMPLE_NAME in text and text.count("-demo-secret-change-me-") == 3
    for number, shop in enumerate(("aurora", "nova", "lumen")):
        start = text.index(f'link_secret = "{shop}-demo-secret')
        end = text.index("\n", start)
        text = text[:start] + f'link_secret = "our-own-secret-{number}-k2Jd93hQz"' + text[end:]
    path = tmp_path / "shops.toml"
    path.write_text(text.replace(SAMPLE_NAME, 'bot_username = "AcmeReturnsBot"'), "utf-8")
    return path


def check_own_config(tmp_path: Path, **env: str) -> Result:
    """``returns-desk config check`` with a token, one's own configuration and ``env``."""
    return cli(
        tmp_path, "config", "check", BOT_TOKEN=TOKEN, CONFIG_FILE=str(own_config(tmp_path)), **env
    )


def lines(text: str) -> list[str]:
    return text.strip().splitlines()


def warnings(text: str) -> list[str]:
    return [line for line in lines(text) if line.startswith("warning: ")]


# --- run on the sample ----------------------------------------------------------------------


def test_run_refuses_the_sample_configuration_and_says_how_to_make_one(tmp_path: Path) -> None:
    copy = tmp_path / "copy.toml"
    copy.write_text(SAMPLE_CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
    sample, copied = run_all(
        Run(tmp_path, ["run"], BOT_TOKEN=TOKEN),
        Run(tmp_path, ["run"], BOT_TOKEN=TOKEN, CONFIG_FILE=str(copy)),
    )
    for result in (sample, copied):
        assert result.code == 2, result
        assert result.out == ""
        assert len(lines(result.err)) == 2, result
        first, how = lines(result.err)
        assert first.startswith("error: ") and "link_secret" in first, result
        assert '"ReturnsDeskBot"' in first, result
        assert "CONFIG_FILE=shops.toml" in how and "--sample-config" in how, result
        assert "bot_username" in how and "link_secret" in how
    assert "CONFIG_FILE is not set" in sample.err
    assert f"CONFIG_FILE={copy}" in copied.err
    assert not (tmp_path / "data").exists()  # refused before the database


# --- config check warns ---------------------------------------------------------------------


def test_config_check_warns_that_bot_token_is_missing(tmp_path: Path) -> None:
    result = cli(tmp_path, "config", "check", CONFIG_FILE=str(own_config(tmp_path)))
    assert result.code == 0, result
    assert warnings(result.err) == [
        "warning: BOT_TOKEN is not set: `returns-desk run` needs the token from @BotFather"
    ], result


def test_config_check_warns_about_the_samples_secrets_and_bot_name(tmp_path: Path) -> None:
    sample, own = run_all(
        Run(tmp_path, ["config", "check"], BOT_TOKEN=TOKEN),
        Run(tmp_path, ["config", "check"], BOT_TOKEN=TOKEN, CONFIG_FILE=str(own_config(tmp_path))),
    )
    assert sample.code == 0, sample
    secret, name = warnings(sample.err)
    assert "link_secret" in secret and "aurora, nova, lumen" in secret, sample
    assert "deployment.bot_username" in name and '"ReturnsDeskBot"' in name, sample
    assert own.code == 0, own
    assert warnings(own.err) == [], own
    assert "Bot: @AcmeReturnsBot" in own.out


def test_config_check_warns_about_an_agents_chat_id_that_is_not_negative(tmp_path: Path) -> None:
    result = check_own_config(tmp_path, AGENTS_CHAT_ID="12345")
    assert result.code == 0, result
    (warning,) = warnings(result.err)
    assert warning.startswith("warning: AGENTS_CHAT_ID=12345 is not a supergroup id"), result
    assert "negative" in warning


def test_config_check_warns_about_a_webhook_url_that_is_not_https(tmp_path: Path) -> None:
    result = check_own_config(tmp_path, WEBHOOK_URL="http://bot.example.com/telegram")
    assert result.code == 0, result
    (warning,) = warnings(result.err)
    assert warning.startswith("warning: WEBHOOK_URL=http://bot.example.com/telegram is not https")


def test_config_check_masks_passwords(tmp_path: Path) -> None:
    result = cli(
        tmp_path,
        "config",
        "check",
        DATABASE_URL="postgresql+asyncpg://desk:pg-Passw0rd@db.example:5432/returns_desk",
        REDIS_URL="redis://:redis-Passw0rd@127.0.0.1:6379/0",
    )
    assert result.code == 0, result
    assert "Passw0rd" not in result.out + result.err, result
    assert "Database: postgresql+asyncpg://desk:***@db.example:5432/returns_desk" in result.out
    assert "Redis: redis://:***@127.0.0.1:6379/0" in result.out
    assert f"Data directory: {(tmp_path / 'data').resolve()}" in result.out


# --- wrong values: one line each ------------------------------------------------------------


def test_config_file_that_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "core").mkdir()
    check, run = run_all(
        Run(tmp_path, ["config", "check"], CONFIG_FILE="core"),
        Run(tmp_path, ["run"], CONFIG_FILE="core", BOT_TOKEN=TOKEN),
    )
    for result in (check, run):
        assert result.code == 2, result
        assert result.err == (
            "error: CONFIG_FILE: core is a folder; it must be a TOML file such as shops.toml\n"
        ), result


def test_config_file_that_does_not_exist(tmp_path: Path) -> None:
    result = cli(tmp_path, "db", "upgrade", CONFIG_FILE="shop.toml")
    assert result.code == 2, result
    assert lines(result.err) == [
        f"error: CONFIG_FILE: shop.toml does not exist (looked in {tmp_path.resolve()})"
    ]
    assert not (tmp_path / "data").exists()


def test_a_wrong_type_in_the_configuration_is_said_plainly(tmp_path: Path) -> None:
    text = SAMPLE_CONFIG.read_text(encoding="utf-8")
    assert "\nagents_all_shops = [700001, 700002]" in text
    wrong = tmp_path / "shops.toml"
    wrong.write_text(
        text.replace("\nagents_all_shops = [700001, 700002]", "\nagents_all_shops = 700001"),
        "utf-8",
    )
    result = cli(tmp_path, "config", "check", CONFIG_FILE=str(wrong))
    assert result.code == 2, result
    assert lines(result.err) == [
        f"error: {wrong}: deployment.agents_all_shops: must be a list in brackets, such as "
        "[1, 2] (got 700001)"
    ], result
    assert "Input should" not in result.err


def test_a_wrong_type_in_a_setting_is_said_plainly(tmp_path: Path) -> None:
    result = cli(tmp_path, "config", "check", AGENTS_CHAT_ID="-100 1234")
    assert result.code == 2, result
    assert lines(result.err) == ['error: AGENTS_CHAT_ID: must be a whole number (got "-100 1234")']


def test_a_misspelt_variable_in_dot_env_is_named(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "# my settings\nCONFIG_FIL=shops.toml\nPOSTGRES_PASSWORD=for-compose\n", encoding="utf-8"
    )
    result = cli(tmp_path, "config", "check", BOT_TOKEN=TOKEN)
    assert result.code == 0, result
    assert warnings(result.err)[0] == (
        "warning: .env line 2: CONFIG_FIL is not a setting and is ignored; "
        "did you mean CONFIG_FILE?"
    ), result
    assert "POSTGRES_PASSWORD" not in result.err  # compose's own, not a typo of ours


def test_a_token_of_letters_gets_the_real_rule(tmp_path: Path) -> None:
    letters, short = run_all(
        Run(tmp_path, ["config", "check"], BOT_TOKEN="notatokenatall"),
        Run(tmp_path, ["config", "check"], BOT_TOKEN="123456:AAE-short"),
    )
    for result in (letters, short):
        assert result.code == 2, result
        assert len(lines(result.err)) == 1, result
        assert result.err.startswith("error: BOT_TOKEN: not a token from @BotFather: "), result
        assert "3 to 20 digits, a colon and 30 or more letters, digits, _ or -" in result.err
    assert "it has no colon" in letters.err and "notatokenatall" not in letters.err
    assert "after the colon has 9 characters" in short.err and "AAE-short" not in short.err


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a folder\n", encoding="utf-8")
    result = cli(tmp_path, "import-orders", SAMPLE_JSON, "--quiet")
    assert result.code == 2, result
    assert lines(result.err) == [
        f"error: DATA_DIR: {tmp_path / 'data'} is a file; it must be a folder (such as data)"
    ]


# --- the database ---------------------------------------------------------------------------


def test_db_downgrade_needs_yes_when_it_cannot_ask(tmp_path: Path) -> None:
    assert cli(tmp_path, "db", "upgrade").code == 0
    refused = cli(tmp_path, "db", "downgrade", "base")
    assert refused.code == 2, refused
    assert lines(refused.err)[-1] == (
        "error: db downgrade base removes every table and all its data: confirm with --yes"
    ), refused
    assert "orders" in tables(tmp_path)  # nothing removed


def test_db_downgrade_asks_first(tmp_path: Path) -> None:
    assert cli(tmp_path, "db", "upgrade").code == 0
    for answer, code in (("n", 1), ("y", 0)):
        run = Run(tmp_path, ["db", "downgrade", "base"])
        leader, follower = pty.openpty()
        process = subprocess.Popen(
            run.args,
            cwd=run.cwd,
            env=run.env,
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.close(follower)
        os.write(leader, f"{answer}\n".encode())
        out, err = process.communicate(timeout=60)
        os.close(leader)
        assert "Traceback" not in err
        assert process.returncode == code, (out, err)
        assert "Downgrade to base, removing every table and all its data? [y/N]" in err
        if answer == "n":
            assert "Nothing was changed." in err and "orders" in tables(tmp_path)
        else:
            assert "base (no tables)" in out and tables(tmp_path) <= {"alembic_version"}


def test_commands_that_only_read_create_no_database(tmp_path: Path) -> None:
    database = db_path(tmp_path).resolve()
    commands = [
        ["db", "current"],
        ["db", "downgrade", "base", "--yes"],
        ["updates", "status"],
        ["updates", "parked"],
        ["updates", "retry", "--all"],
        ["link", "AUR-10021"],
        ["staff", "list"],
    ]
    readers = run_all(*(Run(tmp_path, command) for command in commands))
    for result in readers:
        assert result.code == 1, result
        assert result.out == ""
        assert len(lines(result.err)) == 1, result
        assert result.err.startswith(f"No database yet: {database} is not there"), result
        assert "DATA_DIR" in result.err
    assert not (tmp_path / "data").exists()


def test_commands_say_which_database_and_data_directory_they_use(tmp_path: Path) -> None:
    data = (tmp_path / "data").resolve()
    line = f"Database: SQLite {data / 'returns-desk.sqlite3'} (not there yet: created now); "
    line += f"data directory {data}"
    imported = cli(tmp_path, "import-orders", SAMPLE_JSON, "--quiet")
    assert imported.code == 0, imported
    assert lines(imported.err)[0] == line, imported

    existing = line.replace(" (not there yet: created now)", "")
    upgrade, status, run, postgres = run_all(
        Run(tmp_path, ["db", "upgrade"]),
        Run(tmp_path, ["updates", "status"]),
        Run(
            tmp_path, ["run", "--sample-config"], BOT_TOKEN=TOKEN, REDIS_URL="redis://127.0.0.1:1/0"
        ),
        Run(
            tmp_path,
            ["db", "upgrade"],
            DATABASE_URL="postgresql+asyncpg://desk:pg-Passw0rd@127.0.0.1:1/returns_desk",
        ),
    )
    assert upgrade.code == 0 and lines(upgrade.err) == [existing], upgrade
    assert status.code == 0 and lines(status.err) == [existing], status
    assert run.code == 2 and existing in lines(run.err), run  # then Redis is not reachable
    assert postgres.code == 2, postgres
    assert lines(postgres.err)[0] == (
        f"Database: postgresql+asyncpg://desk:***@127.0.0.1:1/returns_desk; data directory {data}"
    ), postgres
    assert "Passw0rd" not in postgres.err
