"""Alerts never fail silently: evidence goes in the form Telegram accepts, a refused file or an
unreachable recipient costs only itself, what cannot be delivered is visible, retryable and
told to the shop, and a flood of follow-ups becomes a few alerts with a count."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.delivery.notifier import Notifier
from bot.testing.people import visible_text
from core.cases.model import Actor, Case, Evidence, EvidenceKind
from core.cases.reasons import Reason
from core.policy.decision import Claim
from core.services import cases as case_service
from core.services import staff as staff_service
from tests.support import Person
from tests.telegram.conftest import World
from tests.test_cli import Result, Run, run_all

AURORA_SELLER = 600001
AURORA_GROUP = -1001000000001  # shops.toml: aurora's staff_chat_id
NOVA_SELLERS = (600002, 600003)
ALL_SHOPS_AGENTS = (700001, 700002)  # shops.toml: agents_all_shops
INVITED_AGENT = 733333
BUYER = 951001


def photo_as_file(world: World, user: int, name: str) -> Evidence:
    """An image the buyer sent "as a file" (desktop): a document's file_id."""
    sent = world.fake.user_document(user, name, "image/jpeg", content=b"\xff\xd8\xff fake jpeg")
    doc = sent["message"]["document"]
    return Evidence(
        EvidenceKind.DOCUMENT, doc["file_unique_id"], file_id=doc["file_id"], mime_type="image/jpeg"
    )


def photo(world: World, user: int) -> Evidence:
    size = world.fake.user_photo(user)["message"]["photo"][-1]
    return Evidence(EvidenceKind.PHOTO, size["file_unique_id"], file_id=size["file_id"])


async def open_case(
    world: World,
    buyer: Person,
    shop: str,
    order_number: str,
    evidence: tuple[Evidence, ...] = (),
    reason: Reason = Reason.OTHER,
) -> Case:
    await buyer.send(f"/start {await world.start_link(shop, order_number)}")
    order = await world.order(shop, order_number)
    world.fake.take_updates()  # the uploads made files; the bot need not see them
    opened = await case_service.open_case(
        world.core,
        Actor.buyer(buyer.id),
        case_service.NewCase(
            order_id=order.id or 0,
            claims=(Claim(1, 1),),
            reason=reason,
            description="The lamp flickers",
            evidence=evidence,
        ),
    )
    return opened.case


async def send_all(notifier: Notifier, rounds: int = 5) -> None:
    for _ in range(rounds):
        if not await notifier.send_due():
            return


def kinds_of(messages: list[dict[str, Any]]) -> list[str]:
    out = []
    for message in messages:
        for kind in ("photo", "video", "document"):
            if kind in message:
                out.append(kind)
                break
        else:
            out.append("text")
    return out


async def outbox_rows(world: World, case: Case) -> list[Any]:
    async with world.core.unit_of_work() as uow:
        return await uow.outbox.list_for_case(case.id or 0)


async def desk_cli(tmp_path: Path, *args: str) -> Result:
    run = Run(tmp_path, list(args), DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/bot.sqlite3")
    (result,) = await asyncio.to_thread(run_all, run)
    return result


def catch_up(world: World) -> None:
    """The CLI ran on the real clock: the world's clock moves past it, so what it queued is
    due."""
    real_now = datetime.now(UTC)
    if real_now > world.clock.now():
        world.clock.advance(seconds=(real_now - world.clock.now()).total_seconds() + 60)


# ── evidence in the form Telegram accepts ──────────────────────────────────────────────────


async def test_photos_sent_as_files_reach_the_seller_and_the_group_as_documents_with_the_alert(
    world: World, notifier: Notifier
) -> None:
    world.fake.add_group(AURORA_GROUP, "Aurora staff")
    seller = world.person(AURORA_SELLER, "Li", "en")
    buyer = world.person(BUYER, "Ana", "en")
    evidence = (
        photo_as_file(world, BUYER, "IMG_1.jpg"),
        photo_as_file(world, BUYER, "IMG_2.jpg"),
        photo(world, BUYER),
    )
    case = await open_case(world, buyer, "aurora", "AUR-10024", evidence)

    await send_all(notifier)

    for chat in (AURORA_SELLER, AURORA_GROUP):
        got = world.fake.messages_to(chat)
        assert kinds_of(got) == ["photo", "document", "document", "text"], chat
        assert got[1]["media_group_id"] == got[2]["media_group_id"] is not None  # one group
        assert [m["document"]["file_id"] for m in got[1:3]] == [e.file_id for e in evidence[:2]]
        assert f"New case {case.number}" in visible_text(got[-1])
        assert "could not be shown" not in visible_text(got[-1])
        assert world.fake.buttons(got[-1])  # the buttons to decide
    assert "Approve" in " ".join(seller.buttons())
    assert {row.status for row in await outbox_rows(world, case)} == {"sent"}


async def test_an_album_with_one_refused_item_still_brings_the_alert_and_the_rest(
    world: World, notifier: Notifier
) -> None:
    world.fake.add_group(AURORA_GROUP, "Aurora staff")
    world.person(AURORA_SELLER, "Li", "en")
    buyer = world.person(BUYER, "Ana", "en")
    good = [photo(world, BUYER), photo(world, BUYER)]
    lost = Evidence(EvidenceKind.PHOTO, "gone", file_id="AgACFakeNoSuchFile")  # Telegram: 400
    case = await open_case(world, buyer, "aurora", "AUR-10024", (good[0], lost, good[1]))

    await send_all(notifier)

    got = world.fake.messages_to(AURORA_SELLER)
    assert kinds_of(got) == ["photo", "photo", "text"]  # the group refused, then one by one
    assert [m["photo"][-1]["file_id"] for m in got[:2]] == [e.file_id for e in good]
    alert = visible_text(got[-1])
    assert f"New case {case.number}" in alert
    assert "One attachment could not be shown here; it is kept with the case." in alert
    assert world.fake.buttons(got[-1])
    assert {row.status for row in await outbox_rows(world, case)} == {"sent"}


# ── what cannot be delivered is visible, retryable and told ───────────────────────────────


async def test_an_unreachable_staff_group_is_told_to_the_seller_listed_and_retried(
    world: World, notifier: Notifier, tmp_path: Path
) -> None:
    seller = world.person(AURORA_SELLER, "Li", "en")
    buyer = world.person(BUYER, "Ana", "en")
    case = await open_case(world, buyer, "aurora", "AUR-10024")  # the group is not there

    await send_all(notifier)

    [group_row] = [r for r in await outbox_rows(world, case) if r.recipient_role == "staff_chat"]
    assert group_row.status == "failed" and "chat not found" in (group_row.last_error or "")
    notices = [m for m in seller.seen() if "could not be delivered" in m]
    assert notices == [
        f"An alert about case {case.number} could not be delivered to the shop's staff group "
        f"(Telegram server says - Bad Request: chat not found). Check that the bot can still "
        f'write there, then run "returns-desk outbox retry {group_row.id}".'
    ]

    # a later change that also fails is not told again (once per case and recipient)
    await case_service.add_message(world.core, Actor.buyer(BUYER), case.number, "Any news?")
    world.clock.advance(minutes=5)
    await send_all(notifier)
    assert len([m for m in seller.seen() if "could not be delivered" in m]) == 1

    listed = await desk_cli(tmp_path, "outbox", "failed")
    assert listed.code == 0, listed
    line = next(x for x in listed.out.splitlines() if x.startswith(f"{group_row.id}  "))
    assert f"case {case.number}" in line and f"staff_chat {AURORA_GROUP}" in line
    assert "case_opened  failed" in line and "chat not found" in line
    status = await desk_cli(tmp_path, "updates", "status")
    assert "notifications pending: 0, failed: 2" in status.out, status

    world.fake.add_group(AURORA_GROUP, "Aurora staff")  # the shop fixes it
    retried = await desk_cli(tmp_path, "outbox", "retry", str(group_row.id))
    assert retried.out.strip() == "1 notification(s) queued again.", retried
    catch_up(world)
    await send_all(notifier)
    assert any(
        f"New case {case.number}" in visible_text(m) for m in world.fake.history(AURORA_GROUP)
    )
    [again] = [r for r in await outbox_rows(world, case) if r.id == group_row.id]
    assert again.status == "sent"
    rest = await desk_cli(tmp_path, "outbox", "retry", "--all")
    assert rest.out.strip() == "1 notification(s) queued again."  # the message's alert
    nothing = await desk_cli(tmp_path, "outbox", "retry")
    assert nothing.code == 2 and "--all" in nothing.err


# ── agents without a forum group: one delivery per recipient ───────────────────────────────


async def test_a_blocked_and_an_unstarted_agent_do_not_stop_the_third(
    world: World, notifier: Notifier
) -> None:
    buyer = world.person(BUYER, "Ana", "en")
    invited = world.person(INVITED_AGENT, "Ivo", "en")
    made = await staff_service.invite(world.core, ["nova"], "agent")
    await invited.send(f"/start {made.token}")
    blocked = world.person(ALL_SHOPS_AGENTS[0], "Bo", "en")
    await blocked.send("/start")
    world.fake.block(ALL_SHOPS_AGENTS[0])
    # ALL_SHOPS_AGENTS[1] never wrote to the bot: Telegram answers 400 "chat not found"
    before = len(invited.messages())

    case = await open_case(
        world, buyer, "nova", "NV-5502", (photo(world, BUYER),), Reason.COUNTERFEIT
    )
    await send_all(notifier)

    new = invited.messages()[before:]
    assert kinds_of(new) == ["photo", "text"]
    assert visible_text(new[-1]).startswith(f"New case {case.number}\n")
    assert invited.buttons()  # the agent's buttons on the case
    [agents_row] = [r for r in await outbox_rows(world, case) if r.recipient_role == "agents"]
    assert agents_row.status == "sent"
    assert str(ALL_SHOPS_AGENTS[0]) in (agents_row.last_error or "")
    assert str(ALL_SHOPS_AGENTS[1]) in (agents_row.last_error or "")
    async with world.core.unit_of_work() as uow:
        marked = {a: await uow.users.get(a) for a in (*ALL_SHOPS_AGENTS, INVITED_AGENT)}
    for agent in ALL_SHOPS_AGENTS:  # only those two are marked
        assert marked[agent] is not None and not marked[agent].reachable, agent
    assert marked[INVITED_AGENT] is not None and marked[INVITED_AGENT].reachable
    assert kinds_of(world.fake.messages_to(ALL_SHOPS_AGENTS[0])) == ["text"]  # only /start's


# ── floods: coalesced for staff, nothing dropped ──────────────────────────────────────────


async def test_two_hundred_follow_ups_are_all_kept_and_staff_get_a_few_alerts_with_the_count(
    world: World, notifier: Notifier
) -> None:
    sellers = [world.person(s, "Nova", "en") for s in NOVA_SELLERS]
    buyer = world.person(BUYER, "Ana", "en")
    case = await open_case(world, buyer, "nova", "NV-5506")
    await send_all(notifier)
    before = {s.id: len(s.messages()) for s in sellers}

    await buyer.send("/cases")
    await buyer.press(case.number)
    answers = []
    for n in range(200):  # ten seconds of typing
        await buyer.press("Message")
        answered = await buyer.send(f"update {n}")
        answers.append(visible_text(answered[-1]) if answered else "")
        world.clock.advance(seconds=0.05)
        if n % 20 == 0:
            await notifier.send_due()  # the sender runs meanwhile
    await send_all(notifier)
    world.clock.advance(minutes=3)  # the next window: what came after the first alert
    await send_all(notifier)

    view = await case_service.get_case(world.core, Actor.seller(NOVA_SELLERS[0]), case.number)
    assert [e.note for e in view.timeline if e.action == "message"] == [
        f"update {n}" for n in range(200)
    ]
    slow = [a for a in answers if a.startswith("You are writing faster than the shop")]
    added = [a for a in answers if a.startswith("Your message was added")]
    assert len(added) == 20 and len(slow) == 1  # then quiet for the rest of the minute
    assert answers[20] == slow[0] and set(answers[21:]) == {""}
    for seller in sellers:
        alerts = [m for m in seller.seen()[before[seller.id] :] if "a message from the buyer" in m]
        assert 1 <= len(alerts) <= 3, alerts
        assert "Message: update 0" in alerts[0]
        assert "199 messages from the buyer since the last alert; the latest:" in alerts[-1]
        assert "Message: update 199" in alerts[-1]


# ── a buyer who blocked the bot is told once ──────────────────────────────────────────────


async def test_a_blocked_buyer_is_told_to_staff_once_across_later_changes(
    world: World, notifier: Notifier
) -> None:
    sellers = [world.person(s, "Nova", "en") for s in NOVA_SELLERS]
    buyer = world.person(BUYER, "Ana", "en")
    case = await open_case(world, buyer, "nova", "NV-5506")
    await send_all(notifier)
    world.fake.block(BUYER)

    seller = Actor.seller(NOVA_SELLERS[0])
    await case_service.request_info(world.core, seller, case.number, "A photo of the cable?")
    await send_all(notifier)
    await case_service.add_message(world.core, seller, case.number, "Are you there?")
    await send_all(notifier)
    await case_service.add_message(world.core, seller, case.number, "We can send a new one.")
    await send_all(notifier)

    for staff in sellers:
        told = [m for m in staff.seen() if "the buyer blocked the bot" in m]
        assert len(told) == 1, told
        assert told[0].startswith(
            f"Case {case.number}: the buyer blocked the bot and cannot be reached here"
        )
    buyer_rows = [r for r in await outbox_rows(world, case) if r.recipient_role == "buyer"]
    assert len(buyer_rows) >= 3 and {r.status for r in buyer_rows[-3:]} == {"unreachable"}
