"""One truth for what can happen next. For every status and every combination of a case's facts
(its outcome, money, goods, owner, escalation) and every role:

- each action the core makes available has a button, each button performs an available
  action, and each button has a handler;
- the case's own method accepts every available action and refuses every other one with the
  very code ``refusal`` gives (so no button offers what the core would refuse);
- every event type has a renderer for each audience that hears of it, in every language;
- every error code has a sentence in every language.

A transition that loses its button, an event its renderer or an error code its words fails here.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.conversations.buyer.my_cases import CASE_BUTTONS
from bot.conversations.callbacks import CaseCb
from bot.conversations.staff import ONE_TAP, _questions
from bot.views import events as event_views
from bot.views import texts
from bot.views.actions import (
    BUYER_BUTTONS,
    STAFF_BUTTONS,
    StaffCb,
    buyer_actions,
    staff_actions,
)
from core.cases import events as ev
from core.cases.lifecycle import (
    TRANSITIONS,
    Action,
    CaseStatus,
    GoodsStatus,
    MoneyStatus,
    Role,
)
from core.cases.model import Actor, Assessment, Case, CaseLine, Owner
from core.cases.reasons import Reason, Resolution
from core.errors import CoreError, ErrorCode
from core.money import Money
from core.policy.record import DecisionRecord, MoneyValue
from core.services import cases, evidence_store, link_tokens, linking
from tests.telegram.conftest import CATALOGS

ERROR_MODULES = (cases, evidence_store, link_tokens, linking)  # every error class is loaded
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
AGENT, OTHER_AGENT, BUYER, SELLER = 700001, 700002, 920021, 600001
ROOT = Path(__file__).resolve().parents[2]
EN = CATALOGS.get("en")

# Codes that are about the typed value, not about whether the action may happen.
VALUE_CODES = frozenset({"amount_out_of_range", "wrong_currency", "evidence_still_missing"})


def case_with(
    status: CaseStatus,
    resolution: Resolution | None,
    money: MoneyStatus,
    return_required: bool,
    owner: int | None,
    escalated: bool,
) -> Case:
    refund = Money.parse("20.00", "EUR") if money is not MoneyStatus.NONE else None
    goods = GoodsStatus.NOT_REQUIRED
    if return_required:
        goods = {
            CaseStatus.RETURN_IN_TRANSIT: GoodsStatus.IN_TRANSIT,
            CaseStatus.AWAITING_RESOLUTION: GoodsStatus.RECEIVED,
        }.get(status, GoodsStatus.NOT_RETURNED)
    return Case(
        number="R-2611-0001",
        shop="aurora",
        order_id=1,
        order_number="AUR-10021",
        buyer_id=BUYER,
        reason=Reason.DAMAGED,
        status=status,
        lines=(CaseLine(1, 1),),
        opened_at=NOW,
        updated_at=NOW,
        currency="EUR",
        preferred_resolution=Resolution.REFUND,
        resolution=resolution,
        refund_amount=refund,
        return_required=return_required,
        goods=goods,
        money=money,
        owner=Owner.AGENT if owner else Owner.BOT,
        owner_agent_id=owner,
        escalated=escalated,
        decision=DecisionRecord(
            resolutions=("refund", "replacement", "partial_refund"),
            refund_total=MoneyValue(amount="39.90", currency="EUR"),
            return_required=return_required,
        ),
        id=1,
    )


def variants() -> Iterator[Case]:
    for status, resolution, money, ret, owner, escalated in itertools.product(
        CaseStatus,
        (None, Resolution.REFUND, Resolution.REPLACEMENT, Resolution.ADDRESS_CHANGE),
        MoneyStatus,
        (False, True),
        (None, AGENT),
        (False, True),
    ):
        moves_money = resolution is not None and resolution.moves_money
        if (money is not MoneyStatus.NONE) != moves_money and money is not MoneyStatus.REFUNDED:
            continue  # money is pending or failed only on a refund outcome
        yield case_with(status, resolution, money, ret, owner, escalated)


ACTORS = {
    Role.BUYER: Actor.buyer(BUYER),
    Role.SELLER: Actor.seller(SELLER),
    Role.AGENT: Actor.agent(AGENT),
    Role.SYSTEM: Actor.system(),
}
ASSESSMENT = Assessment(
    eligible=True,
    missing=False,
    review="seller",
    resolutions=(Resolution.REFUND,),
    record=DecisionRecord(
        resolutions=("refund",), refund_total=MoneyValue(amount="39.90", currency="EUR")
    ),
)

# How each action is performed on a case, with plausible values.
PERFORM: dict[Action, Callable[[Case, Actor, bool], list[ev.CaseEvent]]] = {
    Action.REQUEST_INFO: lambda c, a, d: c.request_info(a, "Which colour?", agents_on_duty=d),
    Action.PROVIDE_INFO: lambda c, a, d: c.provide_info(a, ASSESSMENT),
    Action.ESCALATE: lambda c, a, d: c.escalate(a, "buyer_asked"),
    Action.APPROVE: lambda c, a, d: c.approve(
        a, (c.allowed_resolutions() or [Resolution.REFUND])[0], agents_on_duty=d
    ),
    Action.REJECT: lambda c, a, d: c.reject(a, "Used", agents_on_duty=d),
    Action.ISSUE_LABEL: lambda c, a, d: c.issue_label(a, "Post it to Yiwu"),
    Action.RETURN_SHIPPED: lambda c, a, d: c.mark_return_shipped(a, "DHL", "00340434"),
    Action.GOODS_RECEIVED: lambda c, a, d: c.mark_goods_received(a),
    Action.GOODS_LOST: lambda c, a, d: c.mark_goods_lost(a, "lost"),
    Action.RECORD_REFUND: lambda c, a, d: c.record_refund(a, Money.parse("1.00", "EUR")),
    Action.REFUND_FAILED: lambda c, a, d: c.record_refund_failed(a, "card expired"),
    Action.SHIP_REPLACEMENT: lambda c, a, d: c.ship_replacement(a, "LX1"),
    Action.CLOSE: lambda c, a, d: c.close(a),
    Action.TAKE: lambda c, a, d: c.take(a),
    Action.HAND_BACK: lambda c, a, d: c.hand_back(a),
    Action.WITHDRAW: lambda c, a, d: c.withdraw(a),
    Action.CANCEL: lambda c, a, d: c.cancel(a, "Duplicate"),
    Action.EXPIRE: lambda c, a, d: c.expire(a),
    Action.REOPEN: lambda c, a, d: c.reopen(a, "disagrees"),
}


def test_every_action_of_the_table_has_a_method_and_a_button() -> None:
    assert set(PERFORM) == set(TRANSITIONS)
    staff_or_buyer = set(STAFF_BUTTONS.values()) | set(BUYER_BUTTONS.values())
    # what only the system does (timers) needs no button
    assert set(TRANSITIONS) - staff_or_buyer == {Action.EXPIRE}
    for action in set(TRANSITIONS) - staff_or_buyer:
        assert TRANSITIONS[action].roles == {Role.SYSTEM}


def test_every_button_has_a_handler() -> None:
    handled = set(ONE_TAP) | set(_questions(EN))
    assert set(STAFF_BUTTONS) == handled
    assert set(BUYER_BUTTONS) <= set(CASE_BUTTONS)


def _staff_codes(markup) -> list[StaffCb]:
    return [
        StaffCb.unpack(button.callback_data)
        for row in markup.inline_keyboard
        for button in row
        if button.callback_data and button.callback_data.startswith("t:")
    ]


def _buyer_codes(markup) -> set[str]:
    return {
        CaseCb.unpack(button.callback_data).action
        for row in markup.inline_keyboard
        for button in row
        if button.callback_data and button.callback_data.startswith("c:")
    }


def test_every_available_action_has_a_button_and_no_button_offers_a_refused_one() -> None:
    checked = 0
    for case in variants():
        for role in (Role.SELLER, Role.AGENT):
            for on_duty in (True, False):
                actions = case.available_actions(ACTORS[role], agents_on_duty=on_duty)
                buttons = _staff_codes(staff_actions(EN, case, actions))
                offered = {STAFF_BUTTONS[b.action] for b in buttons if b.action != "card"}
                assert offered == set(actions), (case.status, role, actions)
                approvals = {b.resolution for b in buttons if b.action == "ok"}
                if Action.APPROVE in actions:  # one button per outcome the policy offers
                    expected = {r.value for r in case.allowed_resolutions()} - {"partial_refund"}
                    assert approvals == expected
                checked += 1
        actions = case.available_actions(ACTORS[Role.BUYER])
        codes = _buyer_codes(buyer_actions(EN, case))
        offered = {BUYER_BUTTONS[code] for code in codes if code in BUYER_BUTTONS}
        assert offered == set(actions), (case.status, actions)
        if case.is_open:
            assert "message" in codes
    assert checked > 1000


def test_the_case_accepts_exactly_what_it_makes_available() -> None:
    accepted_by: dict[Action, set[Role]] = {action: set() for action in PERFORM}
    for case in variants():
        for role, actor in ACTORS.items():
            for on_duty in (True, False):
                for action, perform in PERFORM.items():
                    refusal = case.refusal(action, actor, agents_on_duty=on_duty)
                    trial = copy.deepcopy(case)
                    try:
                        events = perform(trial, actor, on_duty)
                    except CoreError as exc:
                        if refusal is None and exc.code in VALUE_CODES:
                            assert trial == case, "a refused value changed the case"
                            continue
                        assert refusal == exc.code, (case.status, role, action, exc.code)
                        assert trial == case, "a refused action changed the case"
                        continue
                    assert refusal is None, (case.status, role, action, refusal)
                    assert events and all(type(e) in ev.EVENT_TYPES.values() for e in events)
                    targets = TRANSITIONS[action].targets | {case.status}
                    assert trial.status in targets, (action, case.status, trial.status)
                    accepted_by[action].add(role)
    # the loop above checked acceptance, not only refusals: every action succeeded somewhere,
    # and for exactly the roles the table gives it
    for action, roles in accepted_by.items():
        assert roles == TRANSITIONS[action].roles, (action, roles)


def test_a_seller_does_not_decide_what_waits_on_an_agent_unless_there_is_none() -> None:
    case = case_with(CaseStatus.AWAITING_AGENT, None, MoneyStatus.NONE, False, None, True)
    seller = ACTORS[Role.SELLER]
    assert Action.APPROVE not in case.available_actions(seller)
    assert Action.REJECT not in case.available_actions(seller)
    assert case.refusal(Action.APPROVE, seller) == "needs_an_agent"
    assert Action.APPROVE in case.available_actions(seller, agents_on_duty=False)
    assert Action.APPROVE in case.available_actions(ACTORS[Role.AGENT])


# ── events ─────────────────────────────────────────────────────────────────────────────────


def test_every_event_type_has_a_renderer_for_each_audience_that_hears_of_it() -> None:
    for kind, event_type in ev.EVENT_TYPES.items():
        assert event_type.kind == kind
        for audience in event_type.possible_audience():
            assert (kind, audience) in event_views.RENDERERS, (kind, audience)
    for kind, audience in event_views.RENDERERS:
        assert audience in ev.EVENT_TYPES[kind].possible_audience(), (
            f"a renderer of {kind} for {audience}, who never hears of it"
        )
    for kind in event_views.STAFF_HEADLINES:  # no headline waits for an event staff never hear
        assert ev.EVENT_TYPES[kind].possible_audience() - {ev.Audience.BUYER}, kind
    for kind in event_views.BUYER_RENDERERS:
        assert ev.Audience.BUYER in ev.EVENT_TYPES[kind].possible_audience(), kind


def _sample(event_type: type[ev.CaseEvent]) -> ev.CaseEvent:
    values = {
        "question": "Which colour?",
        "reason": "Used <b> & worn",
        "text": "Hola <3 & 💡",
        "resolution": "refund",
        "amount": {"amount": "39.90", "currency": "EUR"},
        "tracking": "LX1",
        "carrier": "DHL",
        "arrive_by": NOW.isoformat(),
        "due": NOW.isoformat(),
        "decided_by": "seller",
    }
    names = {f.name for f in dataclasses.fields(event_type)}
    return event_type(**{k: v for k, v in values.items() if k in names})


@pytest.mark.parametrize("language", ["en", "es", "ru", "zh", "ar"])
def test_every_event_renders_for_every_audience_in_every_language(language: str) -> None:
    tr = CATALOGS.get(language)
    case = case_with(
        CaseStatus.AWAITING_RETURN, Resolution.REFUND, MoneyStatus.PENDING, True, None, True
    )
    for kind, event_type in ev.EVENT_TYPES.items():
        event = _sample(event_type)
        payload = {"case": case.number, "order": case.order_number, **event.fields()}
        for audience in event_type.possible_audience():
            role = {ev.Audience.BUYER: "buyer", ev.Audience.SELLERS: "seller"}.get(
                audience, "agents"
            )
            rendered = event_views.render(tr, kind, role, payload, case, None)
            assert case.number in rendered.text, (kind, audience)
            assert "{" not in rendered.text, (kind, audience, rendered.text)


def test_the_buyer_hears_of_what_the_shop_does_and_never_of_their_own_action() -> None:
    assert ev.CaseOpened.possible_audience() == {ev.Audience.SELLERS, ev.Audience.AGENTS}
    assert ev.Audience.BUYER in ev.HandedBack.possible_audience()
    shipped = ev.ReturnShipped()
    assert ev.Audience.BUYER not in shipped.audience(escalated=False, actor=Role.BUYER)
    assert ev.Audience.BUYER in shipped.audience(escalated=False, actor=Role.SELLER)


# ── errors ─────────────────────────────────────────────────────────────────────────────────


def _core_codes_in_source() -> set[str]:
    found = set()
    for path in [*(ROOT / "core").rglob("*.py"), *(ROOT / "bot").rglob("*.py")]:
        text = path.read_text(encoding="utf-8")
        found |= set(re.findall(r'\bcode\s*=\s*"([a-z_]+)"', text))
    return found


def test_every_error_code_the_code_raises_is_listed() -> None:
    assert _core_codes_in_source() <= {code.value for code in ErrorCode}
    for cls in _subclasses(CoreError):
        assert cls.code in {code.value for code in ErrorCode}, cls
    with pytest.raises(ValueError):
        CoreError("no words for this", code="made_up_code")


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


@pytest.mark.parametrize("language", sorted({tr.language for tr in CATALOGS}))
def test_every_error_code_has_its_own_sentence_in_every_language(language: str) -> None:
    tr = CATALOGS.get(language)
    generic = texts.error(tr, CoreError("?"))
    params = {
        "limit": 64,
        "maximum": "10.00",
        "currency": "EUR",
        "case": "R-2611-0001",
        "decided_at": NOW.isoformat(),
        "order": "AUR-10021",
        "limit_mb": 50,
    }
    english = CATALOGS.get("en")
    for code in ErrorCode:
        assert code.value in texts.ERRORS, code
        exc = CoreError("x", code=code, **params)
        sentence = texts.error(tr, exc)
        assert sentence and "{" not in sentence, (code, sentence)
        if code is not ErrorCode.CORE_ERROR:
            assert sentence != generic, f"{code} falls back to the generic apology"
        if language != "en":
            assert sentence != texts.error(english, exc), f"{code} is not translated"
