"""Each event type rendered for each kind of recipient: the buyer, the shop's sellers (in
private chat and in the shop's staff group) and the agents.

``RENDERERS`` holds one renderer per event type and audience that hears of it (the event type
says which, in ``core.cases.events``). A test checks that every pair has one and that no
renderer waits for an event its audience never hears of.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiogram.types import InlineKeyboardMarkup

from bot.views import actions as action_views
from bot.views import digest, keyboards, texts
from bot.views import disputes as dispute_views
from bot.views import replies as reply_views
from bot.views import supplier_claims as supplier_claim_views
from bot.views import survey as survey_views
from bot.views.i18n import Html, Translator, escape
from core.cases import events as ev
from core.cases.events import Audience
from core.cases.lifecycle import CaseStatus, Role
from core.cases.model import Actor, Case, Evidence
from core.orders.model import Order
from core.services.people import ChatUser


@dataclass(frozen=True)
class Rendered:
    text: str
    markup: InlineKeyboardMarkup | None = None
    album: tuple[Evidence, ...] = ()  # sent first, as one album


@dataclass(frozen=True)
class Subject:
    """What a renderer knows: the event, the case as it stands now, its order, the recipient."""

    event: ev.CaseEvent
    payload: dict[str, Any]  # the case as it was when the event happened
    case: Case | None
    order: Order | None
    audience: Audience
    agents_on_duty: bool = True
    chat_user: ChatUser | None = None  # who opened the case, as staff see them

    @property
    def number(self) -> str:
        return str(self.payload.get("case", ""))


Renderer = Callable[[Translator, Subject], Rendered]


def evidence_album(case: Case) -> tuple[Evidence, ...]:
    """The buyer's photos and videos, at most ten (one Telegram album)."""
    return tuple(e for e in case.evidence if e.file_id)[:10]


def _money(tr: Translator, value: dict[str, str] | None) -> str:
    return tr.money(value) if value else ""


def _date(tr: Translator, iso: str | None) -> str:
    return tr.date(datetime.fromisoformat(iso)) if iso else ""


# ── the buyer ──────────────────────────────────────────────────────────────────────────────


def _buyer_keys(s: Subject, tr: Translator) -> InlineKeyboardMarkup:
    if s.case is None:
        return keyboards.home(tr)
    return action_views.buyer_actions(tr, s.case)


def buyer(render: Callable[[Translator, Subject], str]) -> Renderer:
    """A buyer's renderer: the text, with the buttons for the case as it stands now."""

    def rendered(tr: Translator, s: Subject) -> Rendered:
        return Rendered(render(tr, s), _buyer_keys(s, tr))

    return rendered


@buyer
def _buyer_info_requested(tr: Translator, s: Subject) -> str:
    e = s.event
    assert isinstance(e, ev.InfoRequested)
    return tr(
        "The shop needs more from you for case {number}: {note}", number=s.number, note=e.question
    )


@buyer
def _buyer_info_not_received(tr: Translator, s: Subject) -> str:
    return tr(
        "No answer arrived for case {number}, so the shop goes on with what it has.",
        number=s.number,
    )


def _buyer_approved(tr: Translator, s: Subject) -> Rendered:
    e = s.event
    assert isinstance(e, ev.Approved)
    lines = [
        tr(
            "Good news: case {number} is approved ({resolution}).",
            number=s.number,
            resolution=texts.resolution(tr, e.resolution or "refund"),
        )
    ]
    if e.amount:
        lines.append(tr("Refund: {amount}.", amount=_money(tr, e.amount)))
    if s.case is not None and s.case.status is CaseStatus.AWAITING_RETURN:
        lines.append(texts.return_instructions(tr, s.case))
        lines.append(tr("Once you have posted it, press “I've sent it” below."))
    return Rendered("\n".join(lines), _buyer_keys(s, tr))


@buyer
def _buyer_rejected(tr: Translator, s: Subject) -> str:
    e = s.event
    assert isinstance(e, ev.Rejected)
    return "\n".join(
        [
            tr("Case {number} was not approved.", number=s.number),
            tr("Reason given: {note}", note=e.reason),
            tr("If you disagree, open the case and ask a person to review it."),
        ]
    )


@buyer
def _buyer_label_issued(tr: Translator, s: Subject) -> str:
    e = s.event
    assert isinstance(e, ev.LabelIssued)
    text = tr("Return instructions for case {number} are ready.", number=s.number)
    if e.instructions:
        text += "\n" + escape(e.instructions)
    return text


@buyer
def _buyer_return_shipped(tr: Translator, s: Subject) -> str:
    e = s.event
    assert isinstance(e, ev.ReturnShipped)
    text = tr(
        "The shop has noted that your return for case {number} is on its way.", number=s.number
    )
    if e.arrive_by:
        text += "\n" + tr("It is expected by {date}.", date=_date(tr, e.arrive_by))
    return text


@buyer
def _buyer_goods_received(tr: Translator, s: Subject) -> str:
    return tr("The shop has received your return for case {number}.", number=s.number)


@buyer
def _buyer_goods_lost(tr: Translator, s: Subject) -> str:
    return tr(
        "Your return parcel for case {number} seems to be lost. You sent it, so your claim "
        "stands: the shop will settle it with you and take it up with the carrier.",
        number=s.number,
    )


@buyer
def _buyer_refunded(tr: Translator, s: Subject) -> str:
    e = s.event
    assert isinstance(e, ev.RefundRecorded)
    return tr(
        "Case {number}: {amount} has been refunded.",
        number=s.number,
        amount=_money(tr, e.amount or s.payload.get("refund")),
    )


@buyer
def _buyer_refund_failed(tr: Translator, s: Subject) -> str:
    return tr(
        "The refund for case {number} could not be paid out. The shop is sending it again; "
        "you do not need to do anything.",
        number=s.number,
    )


@buyer
def _buyer_replacement_shipped(tr: Translator, s: Subject) -> str:
    e = s.event
    assert isinstance(e, ev.ReplacementShipped)
    text = tr("Case {number}: your replacement is on its way.", number=s.number)
    if e.tracking:
        text += "\n" + tr(
            "Tracking number {number}", number=Html(f"<code>{escape(e.tracking)}</code>")
        )
    return text


@buyer
def _buyer_closed(tr: Translator, s: Subject) -> str:
    return tr("Case {number} is resolved.", number=s.number)


@buyer
def _buyer_escalated(tr: Translator, s: Subject) -> str:
    return tr("Case {number} is now with a support agent, who will reply here.", number=s.number)


def _buyer_agent_joined(tr: Translator, s: Subject) -> Rendered:
    return Rendered(
        tr("A support agent has joined case {number} and will write to you here.", number=s.number)
        + "\n"
        + tr(  # the same sentence as /menu shows while the conversation is open (agents.py)
            "You are talking with our support team about case {number}: what you write here "
            "goes to them. To do something else, send /menu.",
            number=s.number,
        )
    )


@buyer
def _buyer_bot_back(tr: Translator, s: Subject) -> str:
    return tr("The assistant is back for case {number}.", number=s.number)


@buyer
def _buyer_cancelled(tr: Translator, s: Subject) -> str:
    e = s.event
    assert isinstance(e, ev.Cancelled)
    return tr("Case {number} was closed by the shop: {note}", number=s.number, note=e.reason)


def _buyer_expired(tr: Translator, s: Subject) -> Rendered:
    return Rendered(
        tr(
            "Case {number} was closed because we did not hear back in time. "
            "You can open a new one from the menu.",
            number=s.number,
        ),
        keyboards.main_menu(tr),
    )


@buyer
def _buyer_reopened(tr: Translator, s: Subject) -> str:
    return tr("Case {number} is open again.", number=s.number)


@buyer
def _buyer_message(tr: Translator, s: Subject) -> str:
    e = s.event
    assert isinstance(e, ev.MessagePosted)
    return tr("Message from the shop about case {number}: {text}", number=s.number, text=e.text)


def _buyer_ready_reply(tr: Translator, s: Subject) -> Rendered:
    """A ready reply staff sent: the catalogue's sentence in the buyer's language, as a
    person's message (no buttons)."""
    e = s.event
    assert isinstance(e, ev.ReadyReplySent)
    try:
        return Rendered(reply_views.sentence(tr, e.reply, {"case": s.number, **e.values}))
    except (ValueError, KeyError):  # a reply this version no longer words: as it was recorded
        return Rendered(
            tr("Message from the shop about case {number}: {text}", number=s.number, text=e.text)
        )


@buyer
def _buyer_reminder(tr: Translator, s: Subject) -> str:
    e = s.event
    assert isinstance(e, ev.BuyerReminded)
    if s.case is not None and s.case.status is CaseStatus.AWAITING_RETURN:
        return tr(
            "Case {number}: please send the item back by {date}, or the case will be closed. "
            "Already posted it? Press “I've sent it”.",
            number=s.number,
            date=_date(tr, e.due),
        )
    return tr(
        "Case {number} is waiting for you. Please answer by {date}, or it will be closed.",
        number=s.number,
        date=_date(tr, e.due),
    )


def _buyer_survey(tr: Translator, s: Subject) -> Rendered:
    """How did we do? Five buttons carrying the survey's id (checked again by the core)."""
    e = s.event
    assert isinstance(e, ev.SurveyAsked)
    return Rendered(survey_views.question(tr, s.number), survey_views.score_buttons(e.survey))


# ── the shop's sellers and the agents ──────────────────────────────────────────────────────


Headline = Callable[[Translator, Subject], str]


def _who_decided(tr: Translator, e: ev.Approved | ev.Rejected) -> str:
    if e.decided_by == Role.SYSTEM.value:
        return tr("automatically, by the return policy")
    name = e.decider_name or texts.staff_role(tr, e.decided_by)
    return tr("by {name}", name=name)


STAFF_HEADLINES: dict[str, Headline] = {
    ev.CaseOpened.kind: lambda tr, s: tr("New case {number}", number=s.number),
    ev.InfoProvided.kind: lambda tr, s: tr(
        "Case {number}: the buyer sent what was asked", number=s.number
    ),
    ev.InfoNotReceived.kind: lambda tr, s: tr(
        "Case {number}: the buyer did not answer in time; go on with what you have",
        number=s.number,
    ),
    ev.Approved.kind: lambda tr, s: tr(
        "Case {number} was approved {who}",
        number=s.number,
        who=_who_decided(tr, s.event),  # type: ignore[arg-type]
    ),
    ev.Rejected.kind: lambda tr, s: tr(
        "Case {number} was rejected {who}",
        number=s.number,
        who=_who_decided(tr, s.event),  # type: ignore[arg-type]
    ),
    ev.ReturnShipped.kind: lambda tr, s: tr(
        "Case {number}: the return is on its way", number=s.number
    ),
    ev.GoodsReceived.kind: lambda tr, s: tr(
        "Case {number}: the return was received", number=s.number
    ),
    ev.GoodsLost.kind: lambda tr, s: tr(
        "Case {number}: the return parcel is lost; settle it with the buyer", number=s.number
    ),
    ev.RefundRecorded.kind: lambda tr, s: tr(
        "Case {number}: the refund was recorded", number=s.number
    ),
    ev.RefundFailed.kind: lambda tr, s: tr(
        "Case {number}: the refund failed; pay it again and record it", number=s.number
    ),
    ev.ReplacementShipped.kind: lambda tr, s: tr(
        "Case {number}: the replacement was sent", number=s.number
    ),
    ev.Closed.kind: lambda tr, s: tr("Case {number} is resolved", number=s.number),
    ev.Escalated.kind: lambda tr, s: tr("Case {number} needs a support agent", number=s.number),
    ev.Withdrawn.kind: lambda tr, s: tr(
        "Case {number} was withdrawn by the buyer", number=s.number
    ),
    ev.Cancelled.kind: lambda tr, s: tr("Case {number} was cancelled", number=s.number),
    ev.Expired.kind: lambda tr, s: tr(
        "Case {number} was closed: the buyer did not answer in time", number=s.number
    ),
    ev.Reopened.kind: lambda tr, s: tr("Case {number} was reopened", number=s.number),
    ev.MessagePosted.kind: lambda tr, s: tr(
        "Case {number}: a message from the buyer", number=s.number
    ),
    ev.SellerReminded.kind: lambda tr, s: tr(
        "Case {number} needs you within a day", number=s.number
    ),
    ev.ReturnOverdue.kind: lambda tr, s: tr(
        "Case {number}: the return should have arrived by now. Check its tracking, then mark "
        "it received or lost",
        number=s.number,
    ),
    ev.AgentNudged.kind: lambda tr, s: tr(
        "Case {number} has waited past its first-response time", number=s.number
    ),
    ev.BuyerUnreachable.kind: lambda tr, s: tr(
        "Case {number}: the buyer blocked the bot and cannot be reached here", number=s.number
    ),
    ev.LowScore.kind: lambda tr, s: tr(
        "Case {number}: the buyer rated it {score} out of 5. Look into it; you may reopen the case",
        number=s.number,
        score=s.event.score,  # type: ignore[attr-defined]
    ),
    ev.DisputeRecorded.kind: lambda tr, s: tr(
        "Case {number}: a platform dispute was recorded", number=s.number
    ),
    ev.DisputeReminder.kind: lambda tr, s: tr.plural(
        "Case {number}: a dispute deadline comes in {n} hour",
        "Case {number}: a dispute deadline comes in {n} hours",
        s.event.hours,  # type: ignore[attr-defined]
        number=s.number,
    ),
    ev.DisputeDeadlineMissed.kind: lambda tr, s: tr(
        "Case {number}: a dispute deadline was missed. A person must act now", number=s.number
    ),
}

ALBUM_KINDS = frozenset({ev.CaseOpened.kind, ev.Escalated.kind})


def _details(tr: Translator, s: Subject) -> list[str]:
    """What the event adds to the card: the buyer's words, the reason given, a tracking."""
    e = s.event
    match e:
        case ev.MessagePosted(text=text):
            count = int(s.payload.get("count") or 1)
            if count > 1:  # coalesced follow-ups: how many came, and the latest
                return [
                    tr.plural(
                        "{n} message from the buyer since the last alert; the latest:",
                        "{n} messages from the buyer since the last alert; the latest:",
                        count,
                    ),
                    tr("Message: {text}", text=text),
                ]
            return [tr("Message: {text}", text=text)]
        case ev.Rejected(reason=note) | ev.Cancelled(reason=note):
            return [tr("Note: {text}", text=note)]
        case ev.Escalated(why=note) | ev.Reopened(why=note) if note and " " in note:
            return [tr("Note: {text}", text=note)]
        case ev.GoodsLost(detail=note) | ev.RefundFailed(detail=note) if note:
            return [tr("Note: {text}", text=note)]
        case ev.DisputeRecorded() | ev.DisputeReminder() | ev.DisputeDeadlineMissed():
            return dispute_views.event_lines(tr, e)
        case ev.LowScore(comment=comment):
            if comment:
                return [tr("The buyer's comment: {text}", text=comment)]
            return [tr("The buyer left no comment.")]
        case ev.ReturnShipped(carrier=carrier, tracking=tracking) if carrier or tracking:
            return [
                tr(
                    "Tracking: {tracking}",
                    tracking=" ".join(p for p in (carrier, tracking) if p),
                )
            ]
    return []


def staff(tr: Translator, s: Subject) -> Rendered:
    """The alert a seller, the shop's staff group or the agents get: a headline, the case
    card with its order and evidence, and the buttons for what they may do now."""
    lines = [f"<b>{escape(STAFF_HEADLINES[s.event.kind](tr, s))}</b>"]
    case, order = s.case, s.order
    if case is not None:
        lines.append(texts.case_card(tr, case, order, staff=True))
        if order is not None:
            lines.append(texts.buyer_line(tr, order, s.chat_user))
        lines += texts.account_lines(tr, case, s.chat_user)
        if case.evidence:
            lines.append(
                tr.plural(
                    "One photo or video attached.",
                    "{n} photos or videos attached.",
                    len(case.evidence),
                )
            )
        for gap in case.decision.supplier_gaps:
            lines.append(
                tr(
                    "Not recoverable from supplier {supplier}: {amount}",
                    supplier=gap.supplier or "?",
                    amount=_money(tr, gap.unrecoverable.as_dict() if gap.unrecoverable else None),
                )
            )
    lines += _details(tr, s)
    if case is None:
        return Rendered("\n".join(lines))
    role = Role.AGENT if s.audience is Audience.AGENTS else Role.SELLER
    markup = action_views.staff_actions(
        tr, case, case.available_actions(Actor(role, None), agents_on_duty=s.agents_on_duty)
    )
    album = evidence_album(case) if s.event.kind in ALBUM_KINDS else ()
    return Rendered("\n".join(lines), markup, album)


BUYER_RENDERERS: dict[str, Renderer] = {
    ev.InfoRequested.kind: _buyer_info_requested,
    ev.InfoNotReceived.kind: _buyer_info_not_received,
    ev.Approved.kind: _buyer_approved,
    ev.Rejected.kind: _buyer_rejected,
    ev.LabelIssued.kind: _buyer_label_issued,
    ev.ReturnShipped.kind: _buyer_return_shipped,
    ev.GoodsReceived.kind: _buyer_goods_received,
    ev.GoodsLost.kind: _buyer_goods_lost,
    ev.RefundRecorded.kind: _buyer_refunded,
    ev.RefundFailed.kind: _buyer_refund_failed,
    ev.ReplacementShipped.kind: _buyer_replacement_shipped,
    ev.Closed.kind: _buyer_closed,
    ev.Escalated.kind: _buyer_escalated,
    ev.AgentJoined.kind: _buyer_agent_joined,
    ev.HandedBack.kind: _buyer_bot_back,
    ev.Cancelled.kind: _buyer_cancelled,
    ev.Expired.kind: _buyer_expired,
    ev.Reopened.kind: _buyer_reopened,
    ev.MessagePosted.kind: _buyer_message,
    ev.ReadyReplySent.kind: _buyer_ready_reply,
    ev.BuyerReminded.kind: _buyer_reminder,
    ev.SurveyAsked.kind: _buyer_survey,
}

# (event kind, audience) → renderer: every pair an event type's audience names.
RENDERERS: dict[tuple[str, Audience], Renderer] = {
    **{(kind, Audience.BUYER): render for kind, render in BUYER_RENDERERS.items()},
    **{
        (kind, audience): staff
        for kind in STAFF_HEADLINES
        for audience in (Audience.SELLERS, Audience.AGENTS)
        if audience in ev.EVENT_TYPES[kind].possible_audience()
    },
}

RECIPIENT_AUDIENCE = {
    "buyer": Audience.BUYER,
    "seller": Audience.SELLERS,
    "staff_chat": Audience.SELLERS,
    "agents": Audience.AGENTS,
}


def render(
    tr: Translator,
    kind: str,
    recipient_role: str,
    payload: dict[str, Any],
    case: Case | None,
    order: Order | None,
    *,
    agents_on_duty: bool = True,
    chat_user: ChatUser | None = None,
) -> Rendered:
    """An outbox row for one recipient. An event its audience does not hear of was never
    queued for it; finding one here is a bug, and it raises. ``chat_user``: the Telegram user
    who opened the case, for staff (who is writing, in which language)."""
    audience = RECIPIENT_AUDIENCE[recipient_role]
    event = ev.EVENT_TYPES[kind].from_payload(payload)
    subject = Subject(event, payload, case, order, audience, agents_on_duty, chat_user)
    return RENDERERS[(kind, audience)](tr, subject)


def parcel_reminder(tr: Translator, payload: dict[str, Any]) -> Rendered:
    """Not about a case: the day a "not received" claim becomes possible has come."""
    return Rendered(
        tr(
            "Your order {order} is still not here? You can now report it as not received.",
            order=payload.get("order", ""),
        ),
        keyboards.tracking(tr, int(payload.get("order_id") or 0), overdue=True),
    )


def order_colinked(tr: Translator, payload: dict[str, Any]) -> Rendered:
    """Not about a case: another Telegram account just linked an order this one holds."""
    return Rendered(
        tr(
            "Another Telegram account just linked your order {order} to its chat, with "
            "{proof}. It can open its own requests on the order but cannot see yours. If this "
            "was not you, tell the shop.",
            order=payload.get("order", ""),
            proof=texts.proof_name(tr, payload.get("proof")),
        ),
        keyboards.home(tr),
    )


def staff_removed(tr: Translator, payload: dict[str, Any]) -> Rendered:
    """Not about a case: a seller or agent was taken off a shop's staff."""
    names = payload.get("shop_names") or payload.get("shops") or []
    return Rendered(
        tr(
            "You are no longer {role} for {shops}. Buttons and commands for their cases no "
            "longer work for you; the cases you were handling went back to the team.",
            role=texts.staff_role(tr, str(payload.get("role", ""))),
            shops=tr.join(str(name) for name in names),
        )
    )


def attachments_not_shown(tr: Translator, n: int) -> str:
    """Under an alert whose evidence Telegram refused in part: the case still has it all."""
    return tr.plural(
        "One attachment could not be shown here; it is kept with the case.",
        "{n} attachments could not be shown here; they are kept with the case.",
        n,
    )


def alert_undelivered(tr: Translator, payload: dict[str, Any]) -> Rendered:
    """To another of the shop's staff: an alert about a case could not be delivered."""
    recipient = str(payload.get("recipient", ""))
    if recipient == "staff_chat":
        who = tr("the shop's staff group")
    elif recipient == "agents":
        who = tr("the support agents")
    else:
        who = tr("the seller {id}", id=str(payload.get("chat") or "?"))
    return Rendered(
        tr(
            "An alert about case {number} could not be delivered to {who} ({error}). Check "
            'that the bot can still write there, then run "returns-desk outbox retry {id}".',
            number=str(payload.get("case", "")),
            who=who,
            error=str(payload.get("error", "")),
            id=str(payload.get("outbox_id", "")),
        )
    )


# Notifications that are not about a case, by outbox kind.
NOTICES: dict[str, Callable[[Translator, dict[str, Any]], Rendered]] = {
    "parcel_reminder": parcel_reminder,
    "order_colinked": order_colinked,
    "staff_removed": staff_removed,
    "alert_undelivered": alert_undelivered,
    "weekly_digest": digest.weekly_digest,
    "supplier_claim_opened": supplier_claim_views.opened_notice,
}
