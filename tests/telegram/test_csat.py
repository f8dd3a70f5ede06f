"""After the case: the buyer is asked to rate it, a day later, with five buttons; then for an
optional comment. A low score reaches the shop's sellers and the agent who handled it, with the
comment and a button to reopen the case. Driven update by update through the real Dispatcher;
the surveys' timer and the outbox sender are run as the bot runs them."""

from __future__ import annotations

from bot.delivery.notifier import Notifier
from core.cases.lifecycle import CaseStatus
from core.cases.model import Actor, Case
from core.services import cases as case_service
from tests.support import Person
from tests.telegram.conftest import World, counterfeit_charger

NOVA_SELLERS = (600002, 600003)
AGENT = 700001
STARS = ["1⭐", "2⭐", "3⭐", "4⭐", "5⭐"]


async def send_all(notifier: Notifier) -> None:
    for _ in range(10):
        if not await notifier.send_due():
            return


async def rejected_by_an_agent(world: World, buyer: Person, notifier: Notifier) -> Case:
    """The buyer's counterfeit claim, taken and rejected by an agent; alerts sent."""
    case = await counterfeit_charger(world, buyer)
    agent = Actor.agent(AGENT, "Sam")
    await case_service.take_over(world.core, agent, case.number)
    await case_service.reject(world.core, agent, case.number, "Genuine: the serial checks out")
    await send_all(notifier)
    return case


async def asked(world: World, notifier: Notifier) -> None:
    """A day passes: the timers run, the sender sends."""
    world.clock.advance(hours=24)
    await case_service.run_timers(world.core)
    await send_all(notifier)


async def test_a_survey_a_day_after_the_decision_a_low_score_and_a_comment_alert_the_shop(
    world: World, notifier: Notifier
) -> None:
    buyer = world.person(951301, "Ana")
    staff = {s: world.person(s, f"staff {s}") for s in (*NOVA_SELLERS, AGENT, 700002)}
    case = await rejected_by_an_agent(world, buyer, notifier)

    world.clock.advance(hours=23, minutes=59)
    await case_service.run_timers(world.core)
    await send_all(notifier)
    assert not any("How did we do" in text for text in buyer.seen())  # not before the delay

    await asked(world, notifier)
    assert buyer.last() == (
        f"How did we do with case {case.number}? Rate it from 1 (poor) to 5 (excellent)."
    )
    assert buyer.buttons() == STARS

    await buyer.press("2⭐")
    assert f"Case {case.number}: you rated it 2 out of 5." in buyer.seen()
    assert buyer.last().startswith("Thank you! Anything you would like to tell us?")
    assert buyer.buttons() == ["⏭ Skip"]

    await buyer.send("<b>Rude</b> & slow 😡")
    assert buyer.last() == "Thank you for telling us. The shop has been told and will look into it."

    await send_all(notifier)
    for staff_id in (*NOVA_SELLERS, AGENT):
        alert = next(t for t in staff[staff_id].seen() if "rated it" in t)
        assert f"Case {case.number}: the buyer rated it 2 out of 5." in alert
        assert "The buyer's comment: <b>Rude</b> & slow 😡" in alert  # escaped, shown as typed
    assert not any("rated it" in t for t in staff[700002].seen())  # only who handled it

    seller = staff[NOVA_SELLERS[0]]
    assert "🔁 Reopen" in seller.buttons()
    await seller.press("🔁 Reopen")
    async with world.core.unit_of_work() as uow:
        stored = await uow.cases.get_by_number(case.number)
    assert stored is not None and stored.status is CaseStatus.REOPENED
    async with world.core.unit_of_work() as uow:
        survey = await uow.surveys.get(1)
    assert survey is not None
    assert (survey.status, survey.score, survey.comment) == (
        "answered",
        2,
        "<b>Rude</b> & slow 😡",
    )


async def test_a_high_score_alerts_nobody_and_the_comment_may_be_skipped(
    world: World, notifier: Notifier
) -> None:
    buyer = world.person(951302, "Rui")
    staff = {s: world.person(s, f"staff {s}") for s in (*NOVA_SELLERS, AGENT)}
    await rejected_by_an_agent(world, buyer, notifier)
    await asked(world, notifier)
    before = {s: len(person.seen()) for s, person in staff.items()}

    await buyer.press("5⭐")
    await buyer.press("Skip")
    assert buyer.last() == "Thank you for your answer."
    await buyer.send("/cases")  # the conversation goes on as usual
    assert "Thank you for your answer." not in buyer.last()

    await send_all(notifier)
    assert {s: len(person.seen()) for s, person in staff.items()} == before
    async with world.core.unit_of_work() as uow:
        survey = await uow.surveys.get(1)
    assert survey is not None and (survey.score, survey.comment) == (5, None)


async def test_a_double_press_counts_once_and_says_so(world: World, notifier: Notifier) -> None:
    buyer = world.person(951303, "Ines")
    await rejected_by_an_agent(world, buyer, notifier)
    await asked(world, notifier)
    question = buyer.last_message()
    data = {text: cb for row in world.fake.buttons(question) for text, cb in row}

    world.fake.press(buyer.id, question["message_id"], data["4⭐"] or "")
    world.fake.press(buyer.id, question["message_id"], data["1⭐"] or "", strict=False)
    await buyer.driver.deliver()

    seen = buyer.seen()
    assert sum("Anything you would like to tell us?" in t for t in seen) == 1
    assert "You have already rated this case. Thank you, your answer is kept." in seen
    async with world.core.unit_of_work() as uow:
        survey = await uow.surveys.get(1)
    assert survey is not None and survey.score == 4


async def test_a_reopened_case_withdraws_its_survey_and_a_late_press_is_answered_clearly(
    world: World, notifier: Notifier
) -> None:
    buyer = world.person(951304, "Tomas")
    case = await rejected_by_an_agent(world, buyer, notifier)
    await asked(world, notifier)
    assert buyer.buttons() == STARS

    await case_service.reopen(world.core, Actor.agent(AGENT), case.number, "a second look")
    await send_all(notifier)
    await buyer.press("4⭐")
    assert buyer.last() == (
        "This case was reopened, so this survey no longer applies. You may be asked again "
        "once it is settled."
    )
    async with world.core.unit_of_work() as uow:
        survey = await uow.surveys.get(1)
    assert survey is not None and (survey.status, survey.score) == ("withdrawn", None)

    world.clock.advance(hours=47)  # the survey's delay twice over, within the seller's time
    await case_service.run_timers(world.core)
    await send_all(notifier)
    assert sum("How did we do" in text for text in buyer.seen()) == 1  # never asked again


def stats_captions(world: World, chat_id: int) -> list[str]:
    """The captions of the /stats albums sent to this chat, oldest first."""
    captions = [str(m.get("caption", "")) for m in world.fake.messages_to(chat_id)]
    return [c for c in captions if c.startswith("Figures of the last")]


async def test_stats_shows_the_satisfaction_of_the_period(world: World, notifier: Notifier) -> None:
    buyer = world.person(951305, "Lena")
    seller = world.person(NOVA_SELLERS[0], "Nadia")
    await rejected_by_an_agent(world, buyer, notifier)
    await seller.send("/stats 30d")
    assert "Satisfaction" not in stats_captions(world, seller.id)[-1]  # nothing asked yet

    await asked(world, notifier)
    await buyer.press("4⭐")
    world.clock.advance(minutes=5)
    await seller.send("/stats 30d")
    assert stats_captions(world, seller.id)[-1].endswith(
        "Satisfaction after the case: 100% rated 4 or 5 (1 of one survey answered)"
    )
