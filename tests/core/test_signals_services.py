"""The abuse signals computed when a case opens, on a real database (SQLite and PostgreSQL):
what they say, what they change, and that they go with the buyer."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from core.cases.lifecycle import CaseStatus
from core.cases.model import Actor, Evidence, EvidenceKind
from core.cases.reasons import Reason
from core.clock import FixedClock
from core.persistence.tables import cases, evidence, evidence_fingerprints
from core.services import cases as case_service
from core.services import privacy
from core.services.context import CoreContext
from core.services.orders import import_orders
from tests.core.factories import DMITRI, LUCIA, MARIE, SAMPLE_JSON, open_case, photos, stored_case

SECOND_ACCOUNT = 100122  # Marie's other Telegram account (a new phone)
LAMP_DELIVERED = datetime(2026, 11, 12, 11, 20, tzinfo=UTC)  # AUR-10021's delivery scan


def signal(case, code: str) -> dict | None:
    for item in case.signals or ():
        if item.code == code:
            return item.params
    return None


def printed(prefix: str, phashes: list[str]) -> tuple[Evidence, ...]:
    """Photos as the bot stores them: with the pHash of their picture."""
    return tuple(
        dataclasses.replace(item, phash=phash)
        for item, phash in zip(photos(len(phashes), prefix), phashes, strict=True)
    )


async def test_not_received_claimed_on_a_delivered_order_is_flagged(ctx: CoreContext) -> None:
    opened = await open_case(ctx, LUCIA, "AUR-10021", Reason.NOT_RECEIVED)

    case = await stored_case(ctx, opened.case.number)
    assert signal(case, "not_received_delivered") == {"delivered_at": LAMP_DELIVERED.isoformat()}
    assert case.status is CaseStatus.AWAITING_AGENT  # a person looks; nobody is refused


async def test_not_received_minutes_after_the_delivery_scan_says_how_many(
    ctx: CoreContext, clock: FixedClock
) -> None:
    clock.at = LAMP_DELIVERED + timedelta(minutes=12)

    opened = await open_case(ctx, LUCIA, "AUR-10021", Reason.NOT_RECEIVED)

    assert signal(await stored_case(ctx, opened.case.number), "not_received_delivered") == {
        "delivered_at": LAMP_DELIVERED.isoformat(),
        "minutes": 12,
    }


async def test_many_cases_across_two_telegram_accounts_of_the_same_email(
    ctx: CoreContext, tmp_path: Path
) -> None:
    # a second order of Marie's: her e-mail in capitals, her phone written another way
    book = json.loads(SAMPLE_JSON.read_text(encoding="utf-8"))
    [marie] = [o for o in book["orders"] if o["number"] == "AUR-10022"]
    again = {**marie, "number": "AUR-20022"}
    again["buyer"] = {**marie["buyer"], "email": " Marie.Dubois@EXAMPLE.fr", "phone": None}
    extra = tmp_path / "more.json"
    extra.write_text(json.dumps({**book, "orders": [again]}), encoding="utf-8")
    await import_orders(ctx, extra)

    first = await open_case(
        ctx, MARIE, "AUR-10022", Reason.DAMAGED, claims=((1, 1),), evidence=photos(3, "a")
    )
    second = await open_case(
        ctx,
        SECOND_ACCOUNT,
        "AUR-20022",
        Reason.DAMAGED,
        claims=((1, 1),),
        evidence=photos(3, "b"),
    )
    third = await open_case(
        ctx,
        SECOND_ACCOUNT,
        "AUR-20022",
        Reason.DAMAGED,
        claims=((2, 1),),
        evidence=photos(3, "c"),
        link_first=False,
    )

    assert signal(await stored_case(ctx, first.case.number), "many_cases") is None
    assert signal(await stored_case(ctx, second.case.number), "many_cases") is None  # 2 < 3
    assert signal(await stored_case(ctx, third.case.number), "many_cases") == {
        "count": 3,
        "days": 90,
        "accounts": 2,
    }
    # 49.00 + 49.00 + 9.50 claimed of 2 × 68.00 bought in 90 days (the cancelled order aside)
    assert signal(await stored_case(ctx, third.case.number), "claim_share") == {
        "percent": 79,
        "claimed": {"amount": "107.50", "currency": "EUR"},
        "bought": {"amount": "136.00", "currency": "EUR"},
        "days": 90,
    }


async def test_the_same_photo_names_the_earlier_case_and_is_refreshed_when_added_later(
    ctx: CoreContext,
) -> None:
    earlier = await open_case(
        ctx,
        LUCIA,
        "AUR-10021",
        Reason.DAMAGED,
        evidence=printed("lucia", ["c3b1e4a0f0e1d2c3", "0000ffff0000ffff", "123456789abcdef0"]),
    )
    later = await open_case(
        ctx,
        MARIE,
        "AUR-10022",
        Reason.DAMAGED,
        claims=((2, 1),),
        evidence=photos(3, "marie"),
        wants_person=True,  # waits on an agent: more photos are welcome
    )
    assert signal(await stored_case(ctx, later.case.number), "same_photo") is None

    # one bit off the lamp's first photo: the same picture, re-encoded
    await case_service.add_evidence(
        ctx, Actor.buyer(MARIE), later.case.number, printed("again", ["c3b1e4a0f0e1d2c2"])
    )

    assert signal(await stored_case(ctx, later.case.number), "same_photo") == {
        "case": earlier.case.number,
        "distance": 1,
        "other_buyer": True,
        "cases": [earlier.case.number],
    }


async def test_a_photo_of_another_shops_case_is_not_compared(ctx: CoreContext) -> None:
    """Another shop's pictures and case numbers are not this shop's data."""
    await open_case(
        ctx,
        DMITRI,
        "NV-5501",
        Reason.DOES_NOT_WORK,
        description="dead",
        evidence=printed("dmitri", ["c3b1e4a0f0e1d2c3"]),
    )
    later = await open_case(
        ctx,
        MARIE,
        "AUR-10022",
        Reason.DAMAGED,
        claims=((2, 1),),
        evidence=printed("marie", ["c3b1e4a0f0e1d2c3"]),
    )

    assert signal(await stored_case(ctx, later.case.number), "same_photo") is None


async def test_signals_and_fingerprints_are_erased_with_the_buyer(
    ctx: CoreContext, clock: FixedClock
) -> None:
    lucia = await open_case(
        ctx,
        LUCIA,
        "AUR-10021",
        Reason.NOT_RECEIVED,
        evidence=(
            Evidence(
                EvidenceKind.DOCUMENT,
                "scan-1",
                file_id="scan-file-1",
                phash="c3b1e4a0f0e1d2c3",
                taken_at=datetime(2026, 11, 1, tzinfo=UTC),
            ),
        ),
    )
    marie = await open_case(
        ctx,
        MARIE,
        "AUR-10022",
        Reason.DAMAGED,
        claims=((2, 1),),
        evidence=printed("marie", ["0f0f0f0f0f0f0f0f", "f0f0f0f0f0f0f0f0", "00ff00ff00ff00ff"]),
    )
    assert (await stored_case(ctx, lucia.case.number)).signals
    await case_service.withdraw(ctx, Actor.buyer(LUCIA), lucia.case.number)
    clock.advance(days=ctx.config.retention.dispute_window_days + 1)

    erased = await privacy.request_erasure(ctx, Actor.buyer(LUCIA), LUCIA)

    assert erased.done
    async with ctx.unit_of_work() as uow:
        rows = await uow.session.execute(
            select(evidence.c.case_id, evidence_fingerprints.c.phash).join(
                evidence, evidence.c.id == evidence_fingerprints.c.evidence_id
            )
        )
        kept = sorted((case_id, phash) for case_id, phash in rows)
        found = await uow.session.execute(select(cases.c.number, cases.c.signals))
        signals = {number: value for number, value in found}
    assert marie.case.id is not None
    assert kept == sorted(
        (marie.case.id, p) for p in ("0f0f0f0f0f0f0f0f", "f0f0f0f0f0f0f0f0", "00ff00ff00ff00ff")
    )  # only the other buyer's pictures are left
    assert signals[lucia.case.number] is None
    assert (await stored_case(ctx, lucia.case.number)).signals is None


async def test_a_phone_on_many_orders_joins_no_one_but_an_e_mail_still_does(
    ctx: CoreContext, tmp_path: Path
) -> None:
    # a parcel forwarder's (or a marketplace relay's) phone is on 22 orders of 22 people
    book = json.loads(SAMPLE_JSON.read_text(encoding="utf-8"))
    [model] = [o for o in book["orders"] if o["number"] == "AUR-10022"]
    forwarded = [
        {
            **model,
            "number": f"AUR-3{n:04d}",
            "buyer": {**model["buyer"], "email": f"p{n}@example.org", "phone": "+1 (555) 0100"},
        }
        for n in range(22)
    ]
    forwarded[1]["buyer"]["email"] = " P0@EXAMPLE.org"  # one person's two orders: same e-mail
    extra = tmp_path / "forwarded.json"
    extra.write_text(json.dumps({**book, "orders": forwarded}), encoding="utf-8")
    await import_orders(ctx, extra)
    async with ctx.unit_of_work() as uow:
        ids = {o.number: o.id for o in await uow.orders.find_by_key("AUR30000")}
        ids |= {o.number: o.id for o in await uow.orders.find_by_key("AUR30001")}
        ids |= {o.number: o.id for o in await uow.orders.find_by_key("AUR30005")}
        person = await uow.signals.person("aurora", ids["AUR-30000"], None, 20)
        alone = await uow.signals.person("aurora", ids["AUR-30005"], None, 20)
        everyone = await uow.signals.person("aurora", ids["AUR-30005"], None, 30)

    assert person.orders == {ids["AUR-30000"], ids["AUR-30001"]}  # the e-mail joins them
    assert alone.orders == {ids["AUR-30005"]}  # the shared phone joins no one
    assert len(everyone.orders) == 22  # under a higher limit it would
