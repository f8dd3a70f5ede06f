"""Signs of abuse a person should look at: pure functions from facts the shop already holds to
explainable signals, each a code with its numbers. Never a refusal (GDPR Art. 22): a signal
only keeps a case from automatic approval (``review``), asks for a video first (``video``) or
is shown to staff (``show``), as the ``[signals]`` section says.

The facts are gathered from storage by ``core.services.signals``; the bot renders each signal
as a sentence for staff only (bot/views/texts.py ``signal_lines``). The buyer never reads them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from core.cases.reasons import Reason
from core.money import Money
from core.policy.config import Config, Signals
from core.policy.decision import Decision, Explanation, Missing, Review


@dataclass(frozen=True, slots=True)
class Signal:
    code: str  # many_cases | claim_share | not_received_delivered | same_photo | …
    params: dict[str, Any] = field(default_factory=dict)  # JSON primitives only

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "params": dict(self.params)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Signal:
        return cls(str(data.get("code", "")), dict(data.get("params") or {}))


@dataclass(frozen=True, slots=True)
class PhotoMatch:
    """A photo of this case that looks like one stored with another case."""

    case_number: str  # the earlier case
    distance: int  # Hamming distance of the two pHashes
    other_buyer: bool  # sent by somebody else (or a case whose buyer was erased)


@dataclass(frozen=True, slots=True)
class Facts:
    """What storage says about a claim and the person behind it."""

    reason: Reason
    now: datetime
    cases_in_period: int = 1  # by the same person (accounts, e-mails, phones), this one included
    accounts: int = 1  # Telegram accounts those cases came from
    claimed: Money | None = None  # claimed in the period, this claim included
    bought: Money | None = None  # their orders' value in the period, same currency
    delivered_at: datetime | None = None  # the delivery scan of the claimed items
    photo_matches: tuple[PhotoMatch, ...] = ()
    photos_taken: tuple[datetime, ...] = ()  # EXIF dates of pictures sent as files
    categories: tuple[str, ...] = ()  # of the claimed lines
    window_ends: datetime | None = None  # of the change-of-mind window


def compute(settings: Signals, facts: Facts) -> list[Signal]:
    """Every signal these facts raise, with the numbers that raised it."""
    if not settings.enabled:
        return []
    found: list[Signal] = []
    days = settings.period_days
    if facts.cases_in_period >= settings.many_cases:
        found.append(
            Signal(
                "many_cases",
                {"count": facts.cases_in_period, "days": days, "accounts": facts.accounts},
            )
        )
    share = _share(facts.claimed, facts.bought)
    if (
        share is not None
        and facts.cases_in_period >= settings.claim_share_min_cases
        and share >= settings.claim_share_percent
    ):
        assert facts.claimed is not None and facts.bought is not None
        found.append(
            Signal(
                "claim_share",
                {
                    "percent": int(share),
                    "claimed": facts.claimed.as_dict(),
                    "bought": facts.bought.as_dict(),
                    "days": days,
                },
            )
        )
    if facts.reason is Reason.NOT_RECEIVED and facts.delivered_at is not None:
        minutes = int((facts.now - facts.delivered_at).total_seconds() // 60)
        params: dict[str, Any] = {"delivered_at": facts.delivered_at.isoformat()}
        if 0 <= minutes <= settings.delivered_minutes:
            params["minutes"] = max(minutes, 0)
        found.append(Signal("not_received_delivered", params))
    close = [m for m in facts.photo_matches if m.distance <= settings.photo_distance]
    if close:
        first = min(close, key=lambda m: (m.distance, m.case_number))
        found.append(
            Signal(
                "same_photo",
                {
                    "case": first.case_number,
                    "distance": first.distance,
                    "other_buyer": first.other_buyer,
                    "cases": sorted({m.case_number for m in close}),
                },
            )
        )
    if facts.delivered_at is not None:
        before = [t for t in facts.photos_taken if t < facts.delivered_at]
        if before:
            found.append(
                Signal(
                    "photo_before_delivery",
                    {
                        "taken_at": min(before).isoformat(),
                        "delivered_at": facts.delivered_at.isoformat(),
                    },
                )
            )
    occasion = sorted(set(facts.categories) & set(settings.occasion_categories))
    if facts.reason is Reason.CHANGED_MIND and occasion and facts.window_ends is not None:
        left = facts.window_ends - facts.now
        if timedelta(0) <= left < timedelta(days=settings.occasion_last_days + 1):
            found.append(
                Signal(
                    "occasion_return",
                    {"categories": occasion, "days_left": left.days},
                )
            )
    return found


def _share(claimed: Money | None, bought: Money | None) -> Decimal | None:
    if claimed is None or bought is None or bought.minor <= 0:
        return None
    if claimed.currency != bought.currency:
        return None
    return Decimal(claimed.minor * 100) / Decimal(bought.minor)


def apply(
    config: Config,
    decision: Decision,
    signals: Sequence[Signal],
    *,
    agents: bool,
    videos: int,
    now: datetime,
) -> Decision:
    """What the signals change in a decision, as ``[signals] actions`` says: a case that would
    have been approved at once goes to an agent (the seller when the shop has no agents), and
    a ``video`` signal asks for a video first. The buyer reads the same words as anyone whose
    case a person reviews or who is asked for a video: signals are named for staff only."""
    if not decision.eligible or not signals:
        return decision
    settings = config.signals
    review = [s.code for s in signals if settings.action(s.code) == "review"]
    video = [s.code for s in signals if settings.action(s.code) == "video"]
    changes: dict[str, Any] = {}
    explanations = list(decision.explanations)
    if review and decision.review is Review.AUTOMATIC:
        explanations = [e for e in explanations if e.code != "approved_automatically"]
        deadlines = dict(decision.deadlines)
        if agents:
            explanations.append(Explanation("review_by_agent_signals", {"signals": review}))
            hours = config.lifecycle.agent_first_response_hours
            changes["review"] = Review.AGENT
        else:
            explanations.append(Explanation("review_by_seller"))
            hours = config.lifecycle.seller_decision_hours
            changes["review"] = Review.SELLER
        deadlines["decision_by"] = now + timedelta(hours=hours)
        changes["deadlines"] = deadlines
    if video and videos == 0 and not any(m.what == "videos" for m in decision.missing):
        changes["missing"] = (*decision.missing, Missing("videos", 1))
    if not changes:
        return decision
    return dataclasses.replace(decision, explanations=tuple(explanations), **changes)
