"""Which reasons a buyer may pick for some items of an order, before they pick one.

The facts come first: where the items are (not shipped, on the way, delivered), whether a
parcel is overdue, whether the shop handles a reason at all. A reason those facts rule out is
not offered, and the choice says why, so that the buyer reads what they can do instead of
picking "Arrived damaged" for a parcel that has not arrived and being refused after the photos.

Only facts decide here; the rest of the policy (return windows, non-returnable categories,
evidence, amounts) is weighed by ``decide`` once a reason is chosen, and its refusals explain
themselves (the buyer learns the window's end date, which a hidden button would not tell).
``decide`` runs the same checks (``check_facts``), so a reason that is not offered is also
refused by the decision, however the request arrives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.cases.reasons import BUYER_REASONS, Reason
from core.money import Money
from core.orders.model import Order, OrderLine
from core.policy.config import Config
from core.policy.decision import (
    Arrival,
    Claim,
    Explanation,
    ShopValue,
    _Draft,
    arrival,
    check_facts,
)

# Every reason a buyer can start from, in menu order: the problems, then the order changes.
MENU: tuple[Reason, ...] = (*BUYER_REASONS, Reason.CANCEL_ORDER, Reason.CHANGE_ADDRESS)


@dataclass(frozen=True, slots=True)
class ReasonChoice:
    reason: Reason
    allowed: bool
    why: Explanation | None = None  # for a reason not allowed: the refusal and its values


@dataclass(frozen=True, slots=True)
class ReasonChoices:
    """The reasons for these items, each allowed or not and why, and what it rests on."""

    arrival: Arrival
    choices: tuple[ReasonChoice, ...]
    deadlines: dict[str, datetime] = field(default_factory=dict)  # e.g. claim_possible_from

    @property
    def allowed(self) -> tuple[Reason, ...]:
        return tuple(choice.reason for choice in self.choices if choice.allowed)

    def allows(self, reason: Reason) -> bool:
        return reason in self.allowed

    def why_not(self, reason: Reason) -> Explanation | None:
        for choice in self.choices:
            if choice.reason is reason:
                return choice.why
        return None

    def reasons_not_offered(self) -> list[Explanation]:
        """Why the reasons left out are left out, each refusal once (in menu order)."""
        seen: dict[str, Explanation] = {}
        for choice in self.choices:
            if not choice.allowed and choice.why is not None:
                seen.setdefault(choice.why.code, choice.why)
        return list(seen.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "arrival": self.arrival.value,
            "allowed": [reason.value for reason in self.allowed],
            "not_offered": {
                choice.reason.value: {"code": choice.why.code, "params": choice.why.params}
                for choice in self.choices
                if not choice.allowed and choice.why is not None
            },
            "deadlines": {key: value.isoformat() for key, value in self.deadlines.items()},
        }


def reasons_for(
    *,
    config: Config,
    order: Order,
    claims: list[Claim] | tuple[Claim, ...],
    now: datetime,
    menu: tuple[Reason, ...] = MENU,
) -> ReasonChoices:
    """The reasons of ``menu`` the facts allow for the claimed lines (all lines when none).

    Pure: the same order, claims and moment give the same answer.
    """
    lines: list[tuple[OrderLine, int]] = []
    for claim in claims:
        line = order.line(claim.line_no)
        if line is not None:
            lines.append((line, max(claim.quantity, 1)))
    if not lines:
        lines = [(line, line.quantity) for line in order.lines]
    shop = config.shop(order.shop)
    value = sum(
        (line.unit_price * quantity for line, quantity in lines), Money.zero(order.currency)
    )
    choices: list[ReasonChoice] = []
    deadlines: dict[str, datetime] = {}
    for reason in menu:
        draft = _Draft()
        check_facts(config, order, lines, reason, now, draft, ShopValue(config, shop, value, draft))
        deadlines.update(draft.deadlines)
        if draft.refusal is None:
            choices.append(ReasonChoice(reason, True))
            continue
        why = next(e for e in draft.explanations if e.code == draft.refusal)
        choices.append(ReasonChoice(reason, False, why))
    return ReasonChoices(
        arrival=arrival(order, [line for line, _ in lines], now),
        choices=tuple(choices),
        deadlines=deadlines,
    )
