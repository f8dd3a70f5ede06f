"""``returns-desk staff invite | list | revoke | remove`` through the real command (a subprocess
per command, as in ``tests/test_cli.py``), on a real database: SQLite and PostgreSQL (the
``database_url`` fixture). What the user reads is checked, and what was stored (the
invitations, the membership rows and the audit trail of membership)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from core.persistence.tables import invitations, staff, staff_events
from tests.test_cli import SAMPLE_CONFIG, Result, Run, run_all


@dataclass
class Desk:
    """The command on one database, and a look at what it stored."""

    tmp_path: Path
    database_url: str
    engine: AsyncEngine

    async def run(self, *args: str) -> Result:
        run = Run(self.tmp_path, ["staff", *args], DATABASE_URL=self.database_url)
        (result,) = await asyncio.to_thread(run_all, run)
        return result

    async def rows(self, table, *order) -> list[dict]:  # type: ignore[no-untyped-def]
        async with self.engine.connect() as conn:
            result = await conn.execute(select(table).order_by(*order))
            return [dict(row) for row in result.mappings()]


@pytest.fixture
async def desk(tmp_path: Path, database_url: str, engine: AsyncEngine) -> AsyncIterator[Desk]:
    yield Desk(tmp_path, database_url, engine)  # ``engine`` migrated the database to head


def link_of(result: Result) -> str:
    [line] = result.out.strip().splitlines()
    assert line.startswith("https://t.me/ReturnsDeskBot?start=s"), result
    return line


async def test_invite_prints_a_single_use_link_bound_to_shops_role_and_a_time(desk: Desk) -> None:
    made = await desk.run("invite", "--shop", "nova", "--shop", "aurora", "--role", "agent")
    assert made.code == 0, made
    link = link_of(made)
    token = link.split("?start=", 1)[1]
    assert 1 <= len(token) <= 64 and token.replace("-", "").replace("_", "").isalnum()
    assert "Invitation 1: agent of aurora, nova; works once, until " in made.err, made
    assert "returns-desk staff revoke 1" in made.err

    [row] = await desk.rows(invitations, invitations.c.id)
    assert row["shops"] == ["aurora", "nova"] and row["role"] == "agent"
    assert row["created_by"] == "cli" and row["accepted_by"] is None
    hours = (row["expires_at"] - row["created_at"]).total_seconds() / 3600
    assert hours == 72
    assert row["nonce"] in token  # the link carries the nonce and a tag, nothing it grants
    assert "nova" not in token and "agent" not in token

    short = await desk.run("invite", "--shop", "lumen", "--role", "seller", "--hours", "2")
    assert short.code == 0, short
    second = (await desk.rows(invitations, invitations.c.id))[1]
    assert (second["expires_at"] - second["created_at"]).total_seconds() == 2 * 3600

    events = await desk.rows(staff_events, staff_events.c.id)
    assert [(e["action"], e["shop"], e["role"], e["by"]) for e in events] == [
        ("invited", "aurora", "agent", "cli"),
        ("invited", "nova", "agent", "cli"),
        ("invited", "lumen", "seller", "cli"),
    ]


async def test_invite_refuses_an_unknown_shop_or_role_and_stores_nothing(desk: Desk) -> None:
    unknown, no_role, too_long = await asyncio.gather(
        desk.run("invite", "--shop", "nova", "--shop", "atlantis", "--role", "seller"),
        desk.run("invite", "--shop", "nova"),
        desk.run("invite", "--shop", "nova", "--role", "agent", "--hours", "100000"),
    )
    assert unknown.code == 2 and "unknown shop 'atlantis'" in unknown.err, unknown
    assert "configured: aurora, lumen, nova" in unknown.err
    assert no_role.code == 2 and "--role" in no_role.err, no_role
    assert too_long.code == 2 and "--hours" in too_long.err, too_long
    assert await desk.rows(invitations, invitations.c.id) == []
    assert await desk.rows(staff_events, staff_events.c.id) == []


async def test_list_shows_configured_staff_and_pending_invitations_by_shop(desk: Desk) -> None:
    await desk.run("invite", "--shop", "nova", "--role", "agent")
    await desk.run("invite", "--shop", "aurora", "--role", "seller")

    every, nova = await asyncio.gather(desk.run("list"), desk.run("list", "--shop", "nova"))
    assert every.code == 0 and nova.code == 0, (every, nova)
    lines = every.out.splitlines()
    assert lines[0] == "Staff:"
    assert any(
        "700001" in line and "agent" in line and "all shops" in line and "via config" in line
        for line in lines
    ), every
    assert any("600001" in line and "seller" in line and "aurora" in line for line in lines)
    pending = every.out.split("Pending invitations:", 1)[1]
    assert "1     agent of nova, until " in pending and "2     seller of aurora" in pending

    assert nova.out.startswith("Staff of nova:")
    assert "600002" in nova.out and "600001" not in nova.out  # aurora's seller is not listed
    assert "700001" in nova.out  # an agent of every shop is
    assert "agent of nova" in nova.out and "seller of aurora" not in nova.out


async def test_revoke_by_number_or_link_and_a_used_or_revoked_one_is_said(desk: Desk) -> None:
    link = link_of(await desk.run("invite", "--shop", "nova", "--role", "agent"))
    await desk.run("invite", "--shop", "nova", "--role", "seller")

    by_link, by_number = await asyncio.gather(desk.run("revoke", link), desk.run("revoke", "2"))
    assert by_link.code == 0 and by_link.out.strip() == (
        "Invitation 1 revoked: its link no longer works."
    ), by_link
    assert by_number.code == 0 and "Invitation 2 revoked" in by_number.out, by_number
    rows = await desk.rows(invitations, invitations.c.id)
    assert all(row["revoked_at"] is not None for row in rows)

    again, unknown, forged = await asyncio.gather(
        desk.run("revoke", "1"), desk.run("revoke", "99"), desk.run("revoke", link[:-2] + "zz")
    )
    assert again.code == 2 and "invitation 1 was already revoked" in again.err, again
    assert unknown.code == 2 and "no invitation 99" in unknown.err, unknown
    assert forged.code == 2 and "no such invitation" in forged.err, forged

    listed = await desk.run("list", "--events")
    assert "Pending invitations:\n  (none)" in listed.out, listed
    trail = listed.out.split("Membership events:", 1)[1]
    assert trail.count(" revoked ") == 2 and "invitation=1" in trail, listed


async def test_remove_takes_an_invited_person_off_and_refuses_one_from_the_file(
    desk: Desk,
) -> None:
    async with desk.engine.begin() as conn:  # two invitations used: a seller of two shops
        for shop in ("aurora", "nova"):
            await conn.execute(
                staff.insert().values(
                    shop=shop,
                    telegram_id=611111,
                    role="seller",
                    via="invite",
                    added_at=datetime(2026, 11, 1, tzinfo=UTC),
                )
            )

    configured, stranger, one_shop = await asyncio.gather(
        desk.run("remove", "600002"),
        desk.run("remove", "999"),
        desk.run("remove", "611111", "--shop", "nova"),
    )
    assert configured.code == 2, configured
    assert configured.err.strip().splitlines()[-1] == (
        "error: 600002 is listed in the configuration file (seller of nova): remove them there"
    )
    assert stranger.code == 2 and "999 is not an invited seller or agent" in stranger.err
    assert one_shop.code == 0, one_shop
    assert one_shop.out.strip() == "Removed 611111: seller of nova. They will be told."

    left = await desk.rows(staff, staff.c.id)
    assert [(r["shop"], r["telegram_id"]) for r in left] == [("aurora", 611111)]
    everything = await desk.run("remove", "611111")
    assert everything.code == 0 and "seller of aurora" in everything.out, everything
    assert await desk.rows(staff, staff.c.id) == []
    assert (await desk.run("remove", "611111")).code == 2  # nothing left to remove

    listed = await desk.run("list", "--events")
    trail = listed.out.split("Membership events:", 1)[1].strip().splitlines()
    assert [line.split()[3] for line in trail] == ["removed", "removed"], listed
    assert "611111" in trail[0] and "nova" in trail[0] and "by cli" in trail[0]


async def test_the_staff_commands_need_the_database(tmp_path: Path) -> None:
    (listed,) = await asyncio.to_thread(run_all, Run(tmp_path, ["staff", "list"]))
    assert listed.code == 1, listed
    assert not (tmp_path / "data" / "returns-desk.sqlite3").exists()


async def test_the_old_deployment_agents_key_is_refused_with_how_to_rewrite_it(
    tmp_path: Path,
) -> None:
    """It meant "agents of every shop": an upgrade must say so, not keep it silently."""
    text = SAMPLE_CONFIG.read_text(encoding="utf-8")
    old = tmp_path / "shops.toml"
    old.write_text(
        text.replace("agents_all_shops = [700001, 700002]", "agents = [700001, 700002]"), "utf-8"
    )
    (result,) = await asyncio.to_thread(
        run_all, Run(tmp_path, ["config", "check"], CONFIG_FILE=str(old))
    )
    assert result.code == 2, result
    [line] = result.err.strip().splitlines()
    assert line.startswith(f"error: {old}: deployment: `agents` is no longer read"), result
    assert "`agents_all_shops = [...]` under [deployment]" in line
    assert "`agents = [...]` under each [shops.<id>]" in line


async def test_config_check_warns_that_the_agents_group_shows_every_shop(tmp_path: Path) -> None:
    """An agent listed for one shop only, with one agents' forum group for every shop: its
    members read every shop's topics, which the scoping does not prevent, so it is said."""
    scoped = tmp_path / "shops.toml"
    text = SAMPLE_CONFIG.read_text(encoding="utf-8")
    scoped.write_text(text.replace("agents = []", "agents = [700777]", 1), "utf-8")
    grouped, private = await asyncio.to_thread(
        run_all,
        Run(
            tmp_path,
            ["config", "check"],
            CONFIG_FILE=str(scoped),
            AGENTS_CHAT_ID="-1001234567890",
        ),
        Run(tmp_path, ["config", "check"], CONFIG_FILE=str(scoped)),
    )
    assert grouped.code == 0 and private.code == 0, (grouped, private)
    assert "AGENTS_CHAT_ID is one forum group for every shop" in grouped.err
    assert "1 agent(s) listed for some shops only" in grouped.err
    assert "AGENTS_CHAT_ID" not in private.err
