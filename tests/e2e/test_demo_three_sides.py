"""The demo the way the README shows it: ``returns-desk demo --script
core/sample/demo-three-sides.txt``. Its transcript shows what every side receives (the
seller's alert, the buyer's pushed updates, the agents' topic and the agent's relayed words),
and the README's excerpt of it is what the product prints today."""

from __future__ import annotations

import re
import sqlite3
import sys
from pathlib import Path

import pytest

from bot.demo import THREE_SIDES_SCRIPT
from tests.e2e.conftest import ROOT, run_demo

README = ROOT / "README.md"
SCRIPT_ARGUMENT = "core/sample/demo-three-sides.txt"  # as the README writes it
CASE_NUMBER = re.compile(r"\bR-\d{4}-(\d{4})\b")
ENGLISH_DATE = re.compile(r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{1,2}, \d{4}")


def cli() -> list[str]:
    """``returns-desk`` as installed next to this Python (``python -m bot`` without it)."""
    installed = Path(sys.executable).with_name("returns-desk")
    return [str(installed)] if installed.exists() else [sys.executable, "-m", "bot"]


# session, not module: the 25 s demo runs once per worker whatever order xdist sends the
# tests in (a module fixture runs again each time other files come between them)
@pytest.fixture(scope="session")
def three_sides(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The transcript of the README's command (run from the repository, as the README says),
    and the demo's data directory."""
    data_dir = tmp_path_factory.mktemp("three-sides") / "data"
    return run_demo(cli(), SCRIPT_ARGUMENT, data_dir, cwd=ROOT, timeout=120), data_dir


def numbers(transcript: str) -> tuple[str, str]:
    fang = re.search(r"Your case (R-\d{4}-\d{4}) is open\.", transcript)
    pedro = re.search(r"Seu caso (R-\d{4}-\d{4}) foi aberto\.", transcript)
    assert fang is not None and pedro is not None, transcript
    return fang.group(1), pedro.group(1)


def test_the_script_is_the_one_the_readme_names_and_it_is_packaged() -> None:
    assert (ROOT / SCRIPT_ARGUMENT).resolve() == THREE_SIDES_SCRIPT
    readme = README.read_text(encoding="utf-8")
    assert f".venv/bin/returns-desk demo --script {SCRIPT_ARGUMENT}" in readme
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"sample/*.txt"' in pyproject  # installed with the package, like the sample orders


def test_a_buyer_answers_the_postal_code_question_with_digits_and_links_the_order(
    three_sides: tuple[str, Path],
) -> None:
    transcript, _ = three_sides
    assert (
        "Fang › NV-5505\n"
        "bot › To protect your order, please type one of these as given in the order: the "
        "e-mail address, the last 4 digits of the phone number, or the postal code.\n"
    ) in transcript
    assert "Fang › 55100\nbot › Thank you, order NV-5505 is now linked to this chat.\n" in (
        transcript
    )
    assert "no button" not in transcript


def test_the_seller_gets_the_alert_and_the_buyer_is_told_of_each_decision(
    three_sides: tuple[str, Path],
) -> None:
    transcript, data_dir = three_sides
    fang_case, _ = numbers(transcript)

    # the seller's alert: the album first, then the card with what she may decide
    alert = transcript.split(
        f"── to Emma (seller, private chat) · /as emma ──\nbot › [album: 3 photos]\n"
        f"bot › New case {fang_case}\n",
        1,
    )
    assert len(alert) == 2, transcript
    card = alert[1].split("\nFang › /as emma\n", 1)[0]
    assert "Reason: Arrived damaged" in card
    assert "      [1] ✅ Approve: Refund (asked for)" in card

    # the buyer's updates, pushed by the outbox while the seller works
    approved = transcript.split("Emma › [Approve: Refund]\n", 1)[1]
    assert (
        f"── to Fang (buyer, private chat) · /as fang ──\n"
        f"bot › Good news: case {fang_case} is approved (Refund).\n"
    ) in approved.split("Emma › [Record the refund]", 1)[0]
    recorded = transcript.split("Emma › 35.00 PAY-7781\n", 1)[1]
    assert recorded.startswith(f"bot › Case {fang_case}: Resolved\n")
    assert (
        f"── to Fang (buyer, private chat) · /as fang ──\n"
        f"bot › Case {fang_case}: $35.00 has been refunded.\n"
    ) in recorded.split("Emma › /as pedro", 1)[0]

    database = sqlite3.connect(data_dir / "demo.sqlite3")
    try:
        row = database.execute(
            "SELECT status, money, refund_reference, refunded_minor, decided_by FROM cases "
            "WHERE number = ?",
            (fang_case,),
        ).fetchone()
        photos = database.execute(
            "SELECT COUNT(*) FROM evidence JOIN cases ON cases.id = evidence.case_id "
            "WHERE cases.number = ?",
            (fang_case,),
        ).fetchone()
    finally:
        database.close()
    assert row == ("resolved", "refunded", "PAY-7781", 3500, "seller")
    assert photos == (3,)


def test_a_counterfeit_claim_opens_a_topic_and_the_agent_talks_to_the_buyer(
    three_sides: tuple[str, Path],
) -> None:
    transcript, data_dir = three_sides
    _, pedro_case = numbers(transcript)
    topic = f"── in the agents' group, topic {pedro_case} · /as sam + /in {pedro_case} ──\n"
    opened = transcript.split(topic, 1)
    assert len(opened) == 2, transcript
    assert opened[1].startswith(
        f"bot ✱ opens the topic “🧑‍💼 {pedro_case} · Looks fake / counterfeit · PT”\n"
        f"bot › [album: 2 photos]\nbot › New case {pedro_case}\n"
    )

    # the agent writes in the topic: the buyer reads it from the bot, in his chat
    said = "Olá Pedro, sou o Sam. Pode enviar uma foto da etiqueta com o número de série?"
    joined = (
        f"Sam (topic {pedro_case}) › {said}\n"
        "── to Pedro (buyer, private chat) · /as pedro ──\n"
        f"bot › Um atendente entrou no caso {pedro_case} e vai falar com você por aqui.\n"
    )
    # the joining notice goes on with which conversation he is in (a line), then the words
    then_said = re.escape(f"bot › {said}\n")
    assert re.search(re.escape(joined) + r"(      .+\n)+" + then_said, transcript)
    # and what the buyer sends back reaches the topic
    assert (
        "Pedro › /photo a etiqueta\n"
        f"── in the agents' group, topic {pedro_case} · /as sam ──\n"
        "bot › [photo] a etiqueta\n"
        "Pedro › Aqui está, obrigado\n"
        f"── in the agents' group, topic {pedro_case} · /as sam ──\n"
        "bot › Aqui está, obrigado\n"
    ) in transcript
    # the agent's decision reaches the buyer, in Portuguese
    decided = transcript.split(f"Sam (topic {pedro_case}) › [Approve: Refund]\n", 1)[1]
    assert (
        f"── to Pedro (buyer, private chat) · /as pedro ──\n"
        f"bot › Boa notícia: seu caso {pedro_case} foi aprovado (Reembolso).\n"
    ) in decided

    database = sqlite3.connect(data_dir / "demo.sqlite3")
    try:
        row = database.execute(
            "SELECT reason, owner, owner_agent_id, agent_topic_id IS NOT NULL, decided_by "
            "FROM cases WHERE number = ?",
            (pedro_case,),
        ).fetchone()
    finally:
        database.close()
    assert row == ("counterfeit", "agent", 700001, 1, "agent")


def _normal(text: str) -> str:
    """Case numbers and dates depend on the day the demo runs."""
    return ENGLISH_DATE.sub("<date>", CASE_NUMBER.sub(r"R-<yymm>-\1", text))


def test_the_readme_excerpt_is_what_the_demo_prints(three_sides: tuple[str, Path]) -> None:
    transcript, _ = three_sides
    readme = README.read_text(encoding="utf-8")
    section = readme.split("### The demo", 1)[1].split("\n### ", 1)[0]
    excerpt = section.split("```text\n", 1)[1].split("```", 1)[0]
    printed = [_normal(line.rstrip()) for line in transcript.splitlines()]
    at = 0
    for line in excerpt.splitlines():
        if line.strip() == "…":
            continue
        wanted = _normal(line.rstrip())
        try:
            at = printed.index(wanted, at) + 1
        except ValueError:
            pytest.fail(f"the README's line is not in the transcript (in this order): {line!r}")
    assert at > 0, "the README's excerpt has no line to compare"
