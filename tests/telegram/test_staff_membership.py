"""Staff membership, attacked as the issue found it: one invitation link opened by three
accounts, expired and revoked links, a link signed with a shop's order-link secret, an agent of
one shop on another shop's case, a removed seller's old alert button, a removed agent's case.

Conversations go update by update through the real Dispatcher; removals go through the real
``returns-desk staff remove`` (a subprocess on the same database), so nothing the bot process
remembers can keep a removed person in. The race on one link runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.delivery.notifier import Notifier
from bot.views import texts
from bot.views.actions import StaffCb
from core.cases.lifecycle import CaseStatus
from core.cases.model import Actor, Owner
from core.clock import FixedClock
from core.errors import CoreError
from core.persistence.engine import create_session_factory
from core.persistence.repositories.staff import StaffEvent
from core.persistence.unit_of_work import UnitOfWork
from core.policy.config import load_config
from core.services import cases as case_service
from core.services import staff as staff_service
from core.services.context import CoreContext
from core.services.evidence_store import EvidenceStore
from core.services.link_tokens import make_invite_token
from tests.support import Person
from tests.telegram.conftest import CATALOGS, NOW, World, counterfeit_charger
from tests.telegram.test_staff import earbud_case
from tests.test_cli import Result, Run, run_all

EN = CATALOGS.get("en")
NOVA_AGENT, AURORA_AGENT, ALL_SHOPS_AGENT = 711111, 722222, 700001
NEWCOMER = 633333
MARTA = 944444


def said(code: str, language: str = "en") -> str:
    """The sentence the bot says for a core error code, in a language."""
    return texts.error(CATALOGS.get(language), CoreError("x", code=code))


async def join(world: World, person: Person, shops: list[str], role: str) -> str:
    """``person`` opens a fresh invitation; the bot's answer."""
    made = await staff_service.invite(world.core, shops, role)
    await person.send(f"/start {made.token}")
    return person.last()


async def membership_trail(core: CoreContext) -> list[StaffEvent]:
    async with core.unit_of_work() as uow:
        return await uow.staff.events()


async def staff_cli(tmp_path: Path, *args: str) -> Result:
    """``returns-desk staff …`` as the shop runs it, on the world's database."""
    run = Run(
        tmp_path,
        ["staff", *args],
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/bot.sqlite3",
    )
    (result,) = await asyncio.to_thread(run_all, run)
    assert result.code == 0, result
    return result


def catch_up(world: World) -> None:
    """The CLI ran on the real clock: the world's fixed clock moves past it, so that what it
    queued is due."""
    real_now = datetime.now(UTC)
    if real_now > world.clock.now():
        world.clock.advance(seconds=(real_now - world.clock.now()).total_seconds() + 60)


# ── one link, one account ──────────────────────────────────────────────────────────────────


async def test_three_accounts_open_one_invitation_and_only_the_first_joins(world: World) -> None:
    await counterfeit_charger(world, world.person(MARTA, "Marta", "pt"))
    made = await staff_service.invite(world.core, ["nova"], "agent")
    first = world.person(NOVA_AGENT, "Sam", "en")
    second = world.person(644444, "Eve", "en")
    third = world.person(655555, "Иван", "ru")

    await first.send(f"/start {made.token}")
    await second.send(f"/start {made.token}")
    await third.send(f"/start {made.token}")

    assert "You are now a support agent for Nova Gadgets" in first.last()
    assert second.last() == said("invite_used")
    assert "already used by someone else" in second.last()
    assert third.last() == said("invite_used", "ru")  # in the person's language
    for late in (second, third):
        await late.send("/cases")
        assert "R-2611-0001" not in late.last()  # not staff: a buyer's empty list
    await first.send("/cases")
    assert "R-2611-0001" in first.last()

    # the first opening it again is still welcome (a double tap), and nothing is doubled
    await first.send(f"/start {made.token}")
    assert "You are now a support agent for Nova Gadgets" in first.last()
    trail = [(e.action, e.telegram_id, e.shop) for e in await membership_trail(world.core)]
    assert trail == [
        ("invited", None, "nova"),
        ("joined", NOVA_AGENT, "nova"),
        ("refused_accepted", 644444, "nova"),
        ("refused_accepted", 655555, "nova"),
    ]
    async with world.core.unit_of_work() as uow:
        assert await uow.staff.members("nova", "agent") == [NOVA_AGENT]
        invitation = await uow.staff.invitation(invitation_id=made.invitation.id)
    assert invitation is not None and invitation.accepted_by == NOVA_AGENT


@pytest.fixture
async def core_on(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[CoreContext]:
    """The core alone on the ``database_url`` database (SQLite, then PostgreSQL)."""
    sessions = create_session_factory(engine)
    yield CoreContext(
        config=load_config(),
        unit_of_work=lambda: UnitOfWork(sessions),
        evidence=EvidenceStore(tmp_path / "evidence"),
        clock=FixedClock(NOW),
    )


async def test_accounts_racing_on_one_link_exactly_one_joins(core_on: CoreContext) -> None:
    made = await staff_service.invite(core_on, ["nova", "lumen"], "seller")
    racers = [811111, 822222, 833333, 844444, 855555]

    results = await asyncio.gather(
        *(staff_service.accept_invite(core_on, who, made.token) for who in racers),
        return_exceptions=True,
    )

    joined = [who for who, result in zip(racers, results, strict=True) if isinstance(result, tuple)]
    refused = [r for r in results if isinstance(r, CoreError)]
    assert len(joined) == 1, results
    assert len(refused) == len(racers) - 1 and {r.code for r in refused} == {"invite_used"}
    async with core_on.unit_of_work() as uow:
        assert await uow.staff.members("nova", "seller") == joined
        assert await uow.staff.members("lumen", "seller") == joined
    actions = [e.action for e in await membership_trail(core_on)]
    assert actions.count("joined") == 2  # one per shop
    assert actions.count("refused_accepted") == 2 * (len(racers) - 1)


async def test_an_expired_and_a_revoked_invitation_let_nobody_in(world: World) -> None:
    late = world.person(NEWCOMER, "Chen", "en")
    expiring = await staff_service.invite(world.core, ["nova"], "seller", hours=1)
    revoked = await staff_service.invite(world.core, ["nova"], "seller")
    await staff_service.revoke(world.core, str(revoked.invitation.id))
    world.clock.advance(hours=1, seconds=1)

    await late.send(f"/start {expiring.token}")
    assert late.last() == said("invite_expired")
    await late.send(f"/start {revoked.token}")
    assert late.last() == "This invitation was withdrawn by the shop. Ask the shop for a new one."
    assert await staff_service.identify(world.core, NEWCOMER) is None
    actions = [e.action for e in await membership_trail(world.core)]
    assert actions == ["invited", "invited", "revoked", "refused_expired", "refused_revoked"]


async def test_a_link_signed_with_a_shops_order_secret_makes_nobody_staff(world: World) -> None:
    """Whoever can sign order links knows ``link_secret``: neither the new form nor the old
    one (shop:role:date under that secret) signed with it is accepted."""
    mallory = world.person(NEWCOMER, "Mallory", "en")
    real = await staff_service.invite(world.core, ["nova"], "agent")
    secret = world.core.config.shop("nova").link_secret
    resigned = make_invite_token(real.invitation.nonce, secret)
    message = b"nova:agent:20991231"
    old_tag = hmac.new(secret.encode(), b"order-link:invite:" + message, hashlib.sha256).digest()
    old_form = (
        "s"
        + base64.urlsafe_b64encode(message).decode().rstrip("=")
        + base64.urlsafe_b64encode(old_tag).decode().rstrip("=")[:16]
    )

    for forged in (resigned, old_form, real.token[:-1] + ("A" if real.token[-1] != "A" else "B")):
        await mallory.send(f"/start {forged}")
        assert mallory.last() == said("invite_invalid"), forged
    assert await staff_service.identify(world.core, NEWCOMER) is None
    async with world.core.unit_of_work() as uow:
        invitation = await uow.staff.invitation(invitation_id=real.invitation.id)
    assert invitation is not None and invitation.accepted_by is None  # still the real one's


# ── agents are scoped to their shops ───────────────────────────────────────────────────────


async def forged_press(world: World, person: Person, data: StaffCb) -> str:
    """A press with callback data the person was never shown; the bot's popup answer."""
    message_id = person.last_message()["message_id"]
    update = world.fake.press(person.id, message_id, data.pack(), strict=False)
    await person.driver.deliver()
    [answer] = [
        a
        for a in world.fake.callback_answers
        if a["callback_query_id"] == update["callback_query"]["id"]
    ]
    return str(answer.get("text") or "")


async def test_an_agent_of_one_shop_gets_nothing_of_another_shops_case(
    world: World, notifier: Notifier
) -> None:
    case = await counterfeit_charger(world, world.person(MARTA, "Marta", "pt"))  # nova's
    outsider = world.person(AURORA_AGENT, "Ola", "en")
    insider = world.person(NOVA_AGENT, "Sam", "en")
    assert "Aurora" in await join(world, outsider, ["aurora"], "agent")
    assert "Nova Gadgets" in await join(world, insider, ["nova"], "agent")
    missing = "R-2611-0999"
    not_found = said("case_not_found")

    everywhere = world.person(ALL_SHOPS_AGENT, "Ana", "en")
    world.person(700002, "Bo", "en")  # the other agent of every shop
    # no forum group: the case's alert goes to nova's agents only (and those of every shop)
    await notifier.send_due()
    assert any(case.number in text for text in everywhere.seen())
    assert any(case.number in text for text in insider.seen())
    assert not any(case.number in text for text in outsider.seen())

    for command in ("/case", "/take", "/export"):
        await outsider.send(f"{command} {case.number}")
        refused = outsider.last()
        await outsider.send(f"{command} {missing}")
        assert refused == outsider.last() == not_found, command
    await outsider.send("/cases")
    assert case.number not in outsider.last()
    taken = await forged_press(world, outsider, StaffCb(number=case.number, action="take"))
    nowhere = await forged_press(world, outsider, StaffCb(number=missing, action="take"))
    assert taken == nowhere == not_found
    approve = StaffCb(number=case.number, action="ok", resolution="refund", status="awaiting_agent")
    assert await forged_press(world, outsider, approve) == not_found

    async with world.core.unit_of_work() as uow:  # nothing was done to the case
        stored = await uow.cases.get_by_number(case.number)
        assert stored is not None and stored.id is not None
        trail = await uow.cases.audit_trail(stored.id)
    assert stored.owner is Owner.BOT and stored.status is CaseStatus.AWAITING_AGENT
    assert not any(event.actor_id == AURORA_AGENT for event in trail)

    # the shop's own agent and an agent of every shop do see it
    await insider.send(f"/case {case.number}")
    assert case.number in insider.last() and insider.last() != not_found
    await everywhere.send(f"/case {case.number}")
    assert case.number in everywhere.last() and everywhere.last() != not_found
    identity = await staff_service.identify(world.core, AURORA_AGENT)
    assert identity is not None and identity.shops == ["aurora"]


# ── removal ────────────────────────────────────────────────────────────────────────────────


async def test_a_removed_seller_cannot_use_an_old_alert_and_is_told(
    world: World, notifier: Notifier, tmp_path: Path
) -> None:
    seller = world.person(NEWCOMER, "Chen", "en")
    assert "Nova Gadgets" in await join(world, seller, ["nova"], "seller")
    number = await earbud_case(world)
    await notifier.send_due()
    assert any(number in text for text in seller.seen())
    assert any("Approve" in label for label in seller.buttons())

    removed = await staff_cli(tmp_path, "remove", str(NEWCOMER))
    assert removed.out.strip() == f"Removed {NEWCOMER}: seller of nova. They will be told."

    await seller.press("Approve: Replacement")
    assert seller.last_answer is not None
    assert seller.last_answer["text"] == said("not_staff")
    async with world.core.unit_of_work() as uow:
        case = await uow.cases.get_by_number(number)
        assert case is not None and case.id is not None
        trail = await uow.cases.audit_trail(case.id)
    assert case.status is CaseStatus.AWAITING_SELLER and case.resolution is None
    assert not any(event.action == "approve" for event in trail)
    with pytest.raises(CoreError) as core_refusal:  # the core refuses too, whoever asks
        await case_service.get_case(world.core, Actor.seller(NEWCOMER), number)
    assert core_refusal.value.code == "not_staff"

    catch_up(world)
    await notifier.send_due()
    assert seller.last().startswith("You are no longer a seller for Nova Gadgets.")
    await seller.send("/cases")
    assert number not in seller.last()
    trail_actions = [(e.action, e.by) for e in await membership_trail(world.core)]
    assert trail_actions[-1] == ("removed", "cli")


async def test_a_removed_agents_case_goes_back_to_the_queue(
    world: World, notifier: Notifier, tmp_path: Path
) -> None:
    marta = world.person(MARTA, "Marta", "pt")
    case = await counterfeit_charger(world, marta)
    agent = world.person(NOVA_AGENT, "Sam", "en")
    await join(world, agent, ["nova"], "agent")
    await agent.send(f"/take {case.number}")
    async with world.core.unit_of_work() as uow:
        taken = await uow.cases.get_by_number(case.number)
    assert taken is not None and taken.owner_agent_id == NOVA_AGENT
    await notifier.send_due()

    removed = await staff_cli(tmp_path, "remove", str(NOVA_AGENT), "--role", "agent")
    assert f"Back to the queue: {case.number}." in removed.out

    async with world.core.unit_of_work() as uow:
        back = await uow.cases.get_by_number(case.number)
        assert back is not None and back.id is not None
        trail = await uow.cases.audit_trail(back.id)
    assert back.owner is Owner.BOT and back.owner_agent_id is None
    assert back.status is CaseStatus.AWAITING_AGENT  # waiting for another agent
    [hand_back] = [e for e in trail if e.action == "hand_back"]
    assert hand_back.actor_role.value == "system"
    catch_up(world)
    await notifier.send_due()
    assert agent.last().startswith("You are no longer a support agent for Nova Gadgets.")
    await agent.send("Hello?")  # the removed agent's words no longer reach the buyer
    assert not any("Hello?" in text for text in marta.seen())
