"""Platform disputes in words: a deadline's name, the countdown to it, a case's disputes on
its card, the short countdown in /cases and in the agents' topic name (core/services/
disputes.py decides; the platforms' names come from the configuration, as written there)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.views.i18n import Translator
from core.disputes.rules import remaining
from core.persistence.repositories.disputes import Dispute, DisputeDeadline
from core.policy.config import Config
from core.services.dispute_pack import PlatformPack

ICON = "⚖️"


def platform_name(config: Config, key: str) -> str:
    platform = config.disputes.platforms.get(key)
    return platform.name if platform is not None else key


def deadline_name(tr: Translator, code: str) -> str:
    words = {
        "seller_response": tr("the seller's answer"),
        "platform_steps_in": tr("the platform steps in"),
        "return_ship": tr("the agreed return ships"),
        "open_from": tr("the buyer may open a dispute"),
        "open_until": tr("the buyer's last day to open a dispute"),
        "appeal": tr("the last day to appeal"),
        "escalation_window": tr("the dispute may become a claim"),
        "claim_response": tr("the answer to the claim"),
        "evidence_due": tr("the evidence is due"),
    }
    return words.get(code, code.replace("_", " "))


def consequence(tr: Translator, code: str | None) -> str | None:
    words = {
        "buyer_proposal_executed": tr("the buyer's proposal is carried out"),
        "platform_steps_in": tr("the platform decides"),
        "amazon_decides": tr("Amazon decides"),
        "decision_final": tr("the decision is final"),
        "dispute_closes": tr("the dispute closes"),
        "buyer_wins": tr("the buyer wins"),
    }
    return words.get(code, code.replace("_", " ")) if code else None


def countdown(tr: Translator, due: datetime, now: datetime) -> str:
    """2 d 4 h, 3 h 20 min, 12 min; "overdue" once passed."""
    if due <= now:
        return tr("overdue")
    days, hours, minutes = remaining(due, now)
    if days:
        return tr("{days} d {hours} h", days=days, hours=hours)
    if hours:
        return tr("{hours} h {minutes} min", hours=hours, minutes=minutes)
    return tr("{minutes} min", minutes=max(minutes, 1))


def _deadline_line(tr: Translator, d: DisputeDeadline, now: datetime) -> str:
    line = tr(
        "{what}: in {left} ({when})",
        what=deadline_name(tr, d.code),
        left=countdown(tr, d.due_at, now),
        when=tr.datetime(d.due_at),
    )
    then = consequence(tr, d.then)
    if then:
        line += tr(", then {what}", what=then)
    return line


def card_lines(
    tr: Translator, config: Config, disputes: Sequence[Dispute], now: datetime
) -> list[str]:
    """A case's disputes on its card: platform, id, stage, and each coming deadline."""
    lines = []
    for dispute in disputes:
        lines.append(
            f"{ICON} "
            + tr(
                "Dispute: {platform} {id}, {stage}, opened {when}",
                platform=platform_name(config, dispute.platform),
                id=dispute.external_id,
                stage=dispute.stage.replace("_", " "),
                when=tr.datetime(dispute.opened_at),
            )
        )
        for deadline in dispute.coming(now):
            lines.append("   • " + _deadline_line(tr, deadline, now))
        missed = [d for d in dispute.deadlines if d.active and d.missed_at is not None]
        for deadline in missed:
            lines.append(
                "   • "
                + tr(
                    "{what}: missed on {when}",
                    what=deadline_name(tr, deadline.code),
                    when=tr.datetime(deadline.due_at),
                )
            )
    return lines


def nearest(disputes: Sequence[Dispute], now: datetime) -> DisputeDeadline | None:
    """The nearest coming deadline the seller must meet, of all the case's disputes."""
    coming = [d for dispute in disputes for d in dispute.coming(now) if d.seller_must_act]
    return min(coming, key=lambda d: d.due_at) if coming else None


def short(tr: Translator, disputes: Sequence[Dispute], now: datetime) -> str:
    """`` · ⚖️ 2 d 4 h`` for a list line or a topic name; empty without a coming deadline."""
    found = nearest(disputes, now)
    return f" · {ICON} {countdown(tr, found.due_at, now)}" if found else ""


def recorded(
    tr: Translator, config: Config, number: str, dispute: Dispute, *, created: bool, now: datetime
) -> str:
    head = (
        tr("Dispute recorded on case {number}.", number=number)
        if created
        else tr("This dispute is already on case {number}.", number=number)
    )
    lines = [f"<b>{head}</b>"]
    lines += card_lines(tr, config, [dispute], now)
    if not dispute.coming(now):
        lines.append(tr("No deadline ahead."))
    return "\n".join(lines)


def event_lines(tr: Translator, event: object) -> list[str]:
    """What a dispute's alert adds to the case card: the platform, its id, the deadline."""
    from core.cases import events as ev

    match event:
        case ev.DisputeRecorded(
            platform=p, external_id=i, stage=stage, next_deadline=code, next_due=due
        ):
            lines = [
                tr(
                    "Dispute: {platform} {id}, {stage}",
                    platform=p,
                    id=i,
                    stage=stage.replace("_", " "),
                )
            ]
            if code and due:
                lines.append(
                    tr(
                        "Next deadline: {what}, {when}",
                        what=deadline_name(tr, code),
                        when=tr.datetime(datetime.fromisoformat(due)),
                    )
                )
            return lines
        case ev.DisputeReminder(platform_name=p, external_id=i, deadline=code, due=due):
            return [
                tr("Dispute: {platform} {id}", platform=p, id=i),
                tr(
                    "Deadline: {what}, {when}",
                    what=deadline_name(tr, code),
                    when=tr.datetime(datetime.fromisoformat(due)),
                ),
            ]
        case ev.DisputeDeadlineMissed(
            platform_name=p, external_id=i, deadline=code, due=due, then=t
        ):
            lines = [
                tr("Dispute: {platform} {id}", platform=p, id=i),
                tr(
                    "Missed: {what}, {when}",
                    what=deadline_name(tr, code),
                    when=tr.datetime(datetime.fromisoformat(due)),
                ),
            ]
            then = consequence(tr, t)
            if then:
                lines.append(tr("On the platform, now: {what}", what=then))
            return lines
    return []


def pack_caption(tr: Translator, number: str, pack: PlatformPack) -> str:
    """What the platform pack holds, in a document's caption (1024 characters at most)."""
    lines = [
        tr(
            "Evidence for {platform}, case {number}: {files} to upload ({size} of {limit}), "
            "a one-page summary, and the text to paste in the form (form-text.txt).",
            platform=pack.profile.name,
            number=number,
            files=tr.plural("{n} file", "{n} files", len(pack.uploads)),
            size=_mb(pack.upload_bytes),
            limit=_mb(pack.profile.total),
        )
    ]
    if pack.reencoded:
        lines.append(
            tr.plural(
                "One photo was made smaller to fit.",
                "{n} photos were made smaller to fit.",
                len(pack.reencoded),
            )
        )
    if pack.dropped:
        lines.append(
            tr.plural(
                "One file was left out: README.txt says why.",
                "{n} files were left out: README.txt says why.",
                len(pack.dropped),
            )
        )
    return "\n".join(lines)


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


class RecordDisputeCb(CallbackData, prefix="dr"):
    """The card's "record a platform dispute": first without a platform (choose one), then
    with it (type its id and date)."""

    number: str
    platform: str = ""


def card_button(tr: Translator, number: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=f"{ICON} " + tr("Record a platform dispute"),
        callback_data=RecordDisputeCb(number=number).pack(),
    )


def platform_buttons(config: Config, number: str) -> InlineKeyboardMarkup:
    rows = [
        [
            InlineKeyboardButton(
                text=platform.name,
                callback_data=RecordDisputeCb(number=number, platform=key).pack(),
            )
        ]
        for key, platform in config.disputes.platforms.items()
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)
