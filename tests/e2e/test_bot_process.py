"""The real bot process (``python -m bot run``) against a fake Telegram over HTTP: what a
buyer does reaches the database and the evidence folder, whatever Telegram or the machine
does in between (a restart, an update delivered twice, flood control, a blocked chat)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.demo import sample_png
from bot.testing.people import visible_text
from core.cases.lifecycle import CaseStatus
from core.cases.reasons import Reason, Resolution
from core.money import Money
from tests.e2e.conftest import E2E, ROOT, send_album_of, start_payload
from tests.support import Person

LUCIA = 910021  # AUR-10021, the damaged lamp (es)
GIULIA = 910029  # AUR-10029, cheap damaged coasters; her Telegram says "ja": no catalogue, English
DMITRY = 905501  # NV-5501, the dead earbud (ru)
MARIE = 920022  # AUR-10022, two lines (fr)
WANG = 600001  # Aurora's seller
STALE_ANSWER = "Bad Request: query is too old and response timeout expired or query ID is invalid"
CASE_NUMBER = re.compile(r"R-\d{4}-0001")
LAMP_PRICE = "39,90\u00a0€"  # as Spanish writes it: a no-break space before the sign


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def lamp_case_until_evidence(lucia: Person) -> None:
    """Lucía opens the link from her order e-mail and reports the lamp as damaged."""
    await lucia.send(f"/start {start_payload('aurora', 'AUR-10021')}")
    assert "AUR-10021" in lucia.last() and "vinculado" in lucia.last()
    await lucia.press("Devolución o reembolso")
    await lucia.press("AUR-10021")
    await lucia.press("Llegó dañado")
    await lucia.send("La base llegó rota 💡")
    assert "paquete" in lucia.last()  # the guide asks for the parcel first
    assert "0 de al menos 3" in lucia.last()


async def confirm_refund(lucia: Person) -> str:
    await lucia.press("Listo")
    await lucia.press("Reembolso")
    assert LAMP_PRICE in lucia.last()
    await lucia.press("Confirmar")
    return lucia.last()


def seen_by(e2e: E2E, chat_id: int) -> list[str]:
    return [visible_text(message) for message in e2e.fake.messages_to(chat_id)]


async def eventually(check: Callable[[], Any], within: float = 8.0) -> Any:
    """Wait for background work of the bot (the notifier) to show."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.05)


async def test_a_damaged_lamp_reported_with_an_album_is_stored_with_its_three_photos(
    e2e: E2E,
) -> None:
    await e2e.start_bot()
    lucia = e2e.person(LUCIA, "Lucía", "es")
    await lamp_case_until_evidence(lucia)

    photos = [sample_png(seed) for seed in (1, 2, 3)]
    answers = await send_album_of(lucia, photos)
    assert len(answers) == 1, [m.get("text") for m in answers]  # one answer for the album
    assert "3 de al menos 3" in lucia.last()
    opened = await confirm_refund(lucia)

    number = CASE_NUMBER.search(opened)
    assert number is not None, opened
    assert LAMP_PRICE in opened
    [case] = await e2e.cases_of(LUCIA)
    assert case.number == number.group()
    assert case.reason is Reason.DAMAGED and case.resolution is Resolution.REFUND
    assert case.status is CaseStatus.AWAITING_RESOLUTION
    assert case.refund_amount == Money.parse("39.90", "EUR")
    assert case.description == "La base llegó rota 💡"
    assert [e.sha256 for e in case.evidence] == [sha256(p) for p in photos]
    for item, content in zip(case.evidence, photos, strict=True):
        assert item.sha256 is not None
        assert e2e.evidence_file(item.sha256).read_bytes() == content
    # the shop hears about it from the same process (its outbox sender)
    told = await eventually(lambda: [t for t in seen_by(e2e, WANG) if case.number in t])
    assert told, seen_by(e2e, WANG)
    assert e2e.failed_calls() == [] and e2e.bots.errors() == []


async def test_a_conversation_survives_the_bot_process_being_killed(e2e: E2E) -> None:
    await e2e.start_bot()
    lucia = e2e.person(LUCIA, "Lucía", "es")
    await lamp_case_until_evidence(lucia)
    photos = [sample_png(seed) for seed in (4, 5, 6)]
    await lucia.send_photo(content=photos[0])
    await lucia.send_photo(content=photos[1])
    assert "2 de al menos 3" in lucia.last()

    e2e.kill_bot()  # SIGKILL: nothing is flushed, no shutdown code runs
    await e2e.start_bot()

    await lucia.send_photo(content=photos[2])
    assert lucia.last().startswith("Recibí 3 de al menos 3.")  # the third photo was counted
    assert "fotos o videos" not in lucia.last()  # and the count is said once
    opened = await confirm_refund(lucia)
    assert CASE_NUMBER.search(opened), opened

    [case] = await e2e.cases_of(LUCIA)
    assert case.description == "La base llegó rota 💡"
    assert [e.sha256 for e in case.evidence] == [sha256(p) for p in photos]
    assert all(e2e.evidence_file(e.sha256).is_file() for e in case.evidence if e.sha256)
    # the killed process's long poll ends with 409 when the new one polls: nothing else failed
    assert e2e.failed_calls(ignore={409}) == [] and e2e.bots.errors() == []


async def test_updates_delivered_twice_make_one_case_without_a_duplicate_photo(e2e: E2E) -> None:
    await e2e.start_bot()
    giulia = e2e.person(GIULIA, "Giulia", "ja")  # no Japanese catalogue: English
    await giulia.send(f"/start {start_payload('aurora', 'AUR-10029')}")
    assert "Your order AUR-10029 is linked" in giulia.last()
    await giulia.press("Return or refund")
    await giulia.press("AUR-10029")
    await giulia.press("Arrived damaged")
    await giulia.press("Skip")
    photos = [sample_png(seed) for seed in (7, 8, 9)]
    await giulia.send_photo(content=photos[0])
    photo_update = e2e.fake.update_log[-1]["update_id"]
    await giulia.send_photo(content=photos[1])
    assert "Received 2 of at least 3" in giulia.last()

    e2e.fake.redeliver(photo_update)  # Telegram hands the first photo out again
    await giulia.driver.deliver()
    assert "Received 2 of at least 3" in giulia.last()

    await giulia.send_photo(content=photos[2])
    assert "Received 3 of at least 3" in giulia.last()
    await giulia.press("Done")
    await giulia.press("Refund")
    await giulia.press("Confirm")
    confirm_update = e2e.fake.update_log[-1]["update_id"]
    assert CASE_NUMBER.search(giulia.last()), giulia.last()

    e2e.fake.redeliver(confirm_update)  # the Confirm press, again, to the same process
    await giulia.driver.deliver()
    # and once more after a crash: the new process has never seen this update
    e2e.kill_bot()
    await e2e.start_bot()
    e2e.fake.redeliver(confirm_update)
    await giulia.driver.deliver()

    [case] = await e2e.cases_of(GIULIA)
    assert [e.sha256 for e in case.evidence] == [sha256(p) for p in photos]
    assert sum(CASE_NUMBER.search(text) is not None for text in giulia.seen()) == 1
    assert not any("Sorry" in text for text in giulia.seen())
    # the inbox knows the copies (even after the restart): they never reach a handler, so
    # nothing is answered twice; the killed process's long poll ends with 409
    handled = e2e.bots.handled()
    assert handled[photo_update] == 1 and handled[confirm_update] == 1
    assert e2e.failed_calls(ignore={409}) == []
    assert e2e.bots.errors() == []


async def test_flood_control_is_waited_out_and_nothing_is_lost(e2e: E2E) -> None:
    await e2e.start_bot()
    dmitry = e2e.person(DMITRY, "Дмитрий", "ru")
    await dmitry.send(f"/start {start_payload('nova', 'NV-5501')}")
    await dmitry.press("Вернуть товар или деньги")
    await dmitry.press("NV-5501")
    await dmitry.press("Повреждён")
    await dmitry.press("Пропустить")

    e2e.fake.fail_next("sendMessage", status=429, retry_after=1)
    began = time.monotonic()
    photos = [sample_png(seed) for seed in (10, 11, 12)]
    await send_album_of(dmitry, photos)
    waited = time.monotonic() - began

    refused = [c for c in e2e.fake.calls_to("sendMessage") if c.error is not None]
    assert [c.error.code for c in refused if c.error] == [429]
    assert waited >= 1.0  # the bot waited as told before sending again
    assert "3" in dmitry.last() and "Готово" in " ".join(dmitry.buttons())
    retried = e2e.fake.calls_to("sendMessage")  # a refused call keeps its raw form fields
    assert retried[-2].error is not None and retried[-1].error is None
    assert retried[-2].params["text"] == retried[-1].params["text"]  # the same answer, again

    await dmitry.press("Готово")
    await dmitry.press("Замена")
    await dmitry.press("Подтвердить")
    assert CASE_NUMBER.search(dmitry.last()) and "Магазин рассмотрит" in dmitry.last()
    [case] = await e2e.cases_of(DMITRY)
    assert case.status is CaseStatus.AWAITING_SELLER
    assert case.reason is Reason.DAMAGED and case.preferred_resolution is Resolution.REPLACEMENT
    assert [e.sha256 for e in case.evidence] == [sha256(p) for p in photos]  # none lost
    assert e2e.failed_calls(ignore={429}) == [] and e2e.bots.errors() == []


async def test_a_buyer_who_blocked_the_bot_is_marked_unreachable_and_others_are_served(
    e2e: E2E,
) -> None:
    await e2e.start_bot()
    lucia = e2e.person(LUCIA, "Lucía", "es")
    marie = e2e.person(MARIE, "Marie", "fr")
    await lucia.send("/start")
    assert "Lucía" in lucia.last()

    # Lucía writes, then blocks the bot before it answers; Marie writes at the same time
    e2e.fake.user_message(LUCIA, "/cases")
    e2e.fake.block(LUCIA)
    await marie.send("/start")

    assert "Bonjour Marie" in marie.last()
    forbidden = [c for c in e2e.fake.calls if c.error is not None]
    assert [(c.error.code, c.params.get("chat_id")) for c in forbidden if c.error] == [(403, LUCIA)]
    user = await e2e.user(LUCIA)
    assert user is not None and user.reachable is False
    await marie.press("Mes demandes")
    assert "Bonjour" not in marie.last()  # still served
    assert e2e.bots.errors() == []

    await lucia.send("/start")  # writing again unblocks
    user = await e2e.user(LUCIA)
    assert user is not None and user.reachable is True


async def test_what_people_type_is_shown_escaped_and_stored_verbatim(e2e: E2E) -> None:
    name = "Marie <3 & Co 💐"
    typed_number = "AUR-10022 <urgent> & 😅"
    wrong_check = "<b>faux</b> & 🙃 >"
    description = "<i>trop petite</i> & taille > 50 😕"
    message = "<script>alert('x')</script> & merci 🙏"
    await e2e.start_bot()
    marie = e2e.person(MARIE, name, "fr")

    await marie.send("/start")
    assert f"Bonjour {name}\u202f!" in marie.last()
    await marie.press("Retour ou remboursement")
    assert "numéro de commande" in marie.last()
    await marie.send(typed_number)  # not linked yet: the bot asks to prove it is hers
    assert "adresse e-mail" in marie.last()
    await marie.send(wrong_check)
    assert "Je n’ai pas pu associer" in marie.last()
    await marie.send("AUR-10022")
    await marie.send("marie.dubois@example.fr")
    await marie.press("Linen pillowcase")
    await marie.press("Continuer")
    await marie.press("1")
    await marie.press("Mauvaise taille ou couleur")
    await marie.send(description)
    await marie.send_photo(content=sample_png(13))
    await marie.press("Terminé")
    if "Confirmer et envoyer" not in " ".join(marie.buttons()):  # several outcomes: pick one
        await marie.press(marie.buttons()[0])
    assert f"Votre description\u00a0: {description}" in marie.last()
    await marie.press("Confirmer et envoyer")
    opened = marie.last()
    number = CASE_NUMBER.search(opened)
    assert number is not None, opened

    await marie.press("Mes demandes")
    await marie.press(number.group())
    assert f"Votre description\u00a0: {description}" in marie.last()
    await marie.press("Ajouter un message")
    await marie.send(message)
    assert "Votre message a été ajouté" in marie.last()
    await marie.press("Mes demandes")
    await marie.press(number.group())
    assert message in marie.last()  # the case's history shows it as typed

    [case] = await e2e.cases_of(MARIE)
    assert case.description == description
    notes = [event.note for event in await e2e.audit(case) if event.action == "message"]
    assert notes == [message]
    sent_html = " ".join(m.get("html") or "" for m in marie.messages())
    assert "&lt;script&gt;" in sent_html and "<script>" not in sent_html
    assert e2e.failed_calls() == [] and e2e.bots.errors() == []


# Put first on the bot process's import path: a thread that writes the names of the modules
# the process has loaded when the test asks (a file appears), since the process is killed.
MODULES_ON_REQUEST = """
import os, sys, threading, time

def _write_loaded_modules_when_asked():
    asked, out = {asked!r}, {out!r}
    while not os.path.exists(asked):
        time.sleep(0.05)
    with open(out + ".part", "w", encoding="utf-8") as file:
        file.write("\\n".join(sorted(sys.modules)))
    os.replace(out + ".part", out)

threading.Thread(target=_write_loaded_modules_when_asked, daemon=True).start()
"""


async def test_a_bot_process_on_sqlite_never_loads_postgresql_or_the_orm(
    e2e: E2E, tmp_path: Path
) -> None:
    """A case opened with photos, its alert sent, on SQLite: SQLAlchemy's PostgreSQL dialect,
    asyncpg (about 2 MB resident) and the ORM (about 6) were never loaded
    (core/persistence/engine.py, core/sqlalchemy_asyncio.py; benchmarks/README.md)."""
    probe = tmp_path / "probe"
    probe.mkdir()
    asked, out = probe / "asked", probe / "loaded-modules.txt"
    (probe / "sitecustomize.py").write_text(
        MODULES_ON_REQUEST.format(asked=str(asked), out=str(out))
    )
    # first on the path, before this checkout and whatever the environment had
    search_path = [str(probe), str(ROOT), os.environ.get("PYTHONPATH", "")]
    e2e.bots.settings["PYTHONPATH"] = os.pathsep.join(filter(None, search_path))
    await e2e.start_bot()
    lucia = e2e.person(LUCIA, "Lucía", "es")
    await lamp_case_until_evidence(lucia)
    await send_album_of(lucia, [sample_png(seed) for seed in (1, 2, 3)])
    assert CASE_NUMBER.search(await confirm_refund(lucia))
    [case] = await e2e.cases_of(LUCIA)
    assert await eventually(lambda: [t for t in seen_by(e2e, WANG) if case.number in t])

    asked.touch()
    assert await eventually(out.exists), "the bot process did not write its modules"
    loaded = set(out.read_text(encoding="utf-8").split())
    assert {"aiosqlite", "bot.receiving.inbox", "core.services.cases", "PIL.Image"} <= loaded
    assert not {name for name in loaded if name.split(".")[0] == "asyncpg"}
    assert not {"sqlalchemy.dialects.postgresql", "sqlalchemy.orm"} & loaded
    assert e2e.failed_calls() == [] and e2e.bots.errors() == []
