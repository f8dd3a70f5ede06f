"""What the board shows, as JSON for the page: every sentence from the catalogues, in the
staff member's language, as plain text (the page inserts it with ``textContent``, so nothing
a buyer typed can become markup).

The actions are those ``Case.available_actions`` returns, with the same labels, questions and
inputs as the buttons under an alert (bot.views.actions, bot.conversations.staff).
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.conversations.staff import _questions
from bot.views import texts
from bot.views.actions import PRIMARY, SECONDARY, STAFF_BUTTONS, _staff_label
from bot.views.i18n import RTL, Translator
from core.cases.lifecycle import Action, CaseStatus, Role
from core.cases.model import AuditEvent, Case
from core.cases.reasons import Reason, Resolution
from core.orders.model import Order

_TAGS = re.compile(r"<[^>]+>")

# The input each action's button asks for: an amount, a line of text (needed, or optional:
# empty for none), or nothing.
AMOUNT, TEXT, OPTIONAL = "amount", "text", "optional"
INPUTS: dict[str, str] = {
    "part": AMOUNT,
    "no": TEXT,
    "info": TEXT,
    "paid": TEXT,
    "label": TEXT,
    "cancel": TEXT,
    "fail": OPTIONAL,
    "ship": OPTIONAL,
    "sent": OPTIONAL,
    "lost": OPTIONAL,
}
BULK = ("recv",)  # what several cases may get at once (and the export of their packs)


def plain(text: str) -> str:
    """A sentence rendered for Telegram's HTML, as plain text."""
    return html.unescape(_TAGS.sub("", text))


def ui_texts(tr: Translator) -> dict[str, str]:
    """The page's own words."""
    words: dict[str, Callable[[], str]] = {
        "title": lambda: tr("Cases board"),
        "mine": lambda: tr("Waiting on me"),
        "all": lambda: tr("All"),
        "status": lambda: tr("Status"),
        "reason": lambda: tr("Reason"),
        "shop": lambda: tr("Shop"),
        "supplier": lambda: tr("Supplier"),
        "search": lambda: tr("Case, order, buyer or tracking number"),
        "empty": lambda: tr("No open cases. 🎉"),
        "back": lambda: tr("Back"),
        "send": lambda: tr("Send"),
        "cancel": lambda: tr("Cancel"),
        "changed": lambda: tr("This case changed meanwhile: here it is as it stands now."),
        "timeline": lambda: tr("History:"),
        "words": lambda: tr("The buyer's words"),
        "evidence": lambda: tr("Photos and videos"),
        "decision": lambda: tr("What the return policy says"),
        "supplier_gaps": lambda: tr("What the supplier will not cover"),
        "not_stored": lambda: tr("Not downloaded yet: only on Telegram"),
        "actions": lambda: tr("What you can do"),
        "no_actions": lambda: tr("Nothing to do on this case now."),
        "select": lambda: tr("Select"),
        "bulk_received": lambda: tr("Mark the selected as received"),
        "bulk_export": lambda: tr("Evidence packs of the selected"),
        "loading": lambda: tr("Loading…"),
        "session": lambda: tr(
            "Your session has ended: open the board again from the bot (/board)."
        ),
        "offline": lambda: tr("The board cannot reach the server; it tries again by itself."),
        "due": lambda: tr("Due"),
        "done": lambda: tr("Done"),
        "optional": lambda: tr("(or - if there is none)"),
        "translation": lambda: tr("Translation"),
        "claims": lambda: tr("Supplier claims"),
    }
    return {key: plain(make()) for key, make in words.items()}


def auth_error(tr: Translator, code: str) -> str:
    """Why the board does not let somebody in, and what to do."""
    match code:
        case "not_staff":
            return plain(texts.error(tr, _error("not_staff")))
        case "login_link_invalid":
            return plain(texts.error(tr, _error("login_link_invalid")))
        case "session_expired":
            return tr("Your session has ended: open the board again from the bot (/board).")
    return tr("The board could not check who you are: open it again from the bot (/board).")


def _error(code: str) -> Any:
    from core.errors import CoreError

    return CoreError(code, code=code)


def page_info(tr: Translator, language: str, name: str | None, role: Role) -> dict[str, Any]:
    return {
        "language": language,
        "dir": "rtl" if language in RTL else "ltr",
        "name": name,
        "role": plain(texts.staff_role(tr, role.value)),
        "texts": ui_texts(tr),
        "statuses": [
            {"code": s.value, "label": plain(texts.status_for(tr, s, staff=True))}
            for s in CaseStatus
            if s.is_open
        ],
        "reasons": [{"code": r.value, "label": plain(texts.reason(tr, r))} for r in Reason],
    }


def _date(tr: Translator, value: datetime | None) -> str | None:
    return tr.date(value) if value is not None else None


def case_row(
    tr: Translator, case: Case, order: Order | None, mine: bool, allowed: list[Action]
) -> dict[str, Any]:
    return {
        "number": case.number,
        "version": case.version,
        "shop": case.shop,
        "status": case.status.value,
        "status_label": plain(texts.status_for(tr, case.status, staff=True)),
        "reason_label": plain(texts.reason(tr, case.reason)),
        "order": case.order_number,
        "buyer": order.buyer.name if order is not None else None,
        "due": _date(tr, case.deadline_at),
        "mine": mine,
        "bulk": [code for code in BULK if STAFF_BUTTONS[code] in allowed],
    }


def _action(tr: Translator, code: str, questions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    kind = INPUTS.get(code)
    label = tr("Partial refund…") if code == "part" else _staff_label(tr, code)
    entry: dict[str, Any] = {"code": code, "label": plain(label), **extra}
    if kind is not None:
        entry["input"] = kind
        entry["question"] = plain(questions[code][1])
    return entry


def actions(tr: Translator, case: Case, allowed: list[Action]) -> list[dict[str, Any]]:
    """The buttons under an alert, as the board offers them: one per outcome the policy
    offers (the buyer's choice first), then what moves the case on, then the rest."""
    questions = _questions(tr)
    found: list[dict[str, Any]] = []
    if Action.APPROVE in allowed:
        for resolution in case.allowed_resolutions():
            asked = resolution is case.preferred_resolution
            if resolution is Resolution.PARTIAL_REFUND:
                entry = _action(tr, "part", questions, asked=asked)
                entry["maximum"] = case.refundable().as_decimal_string()
                entry["currency"] = case.currency
                found.append(entry)
                continue
            label = tr("Approve: {resolution}", resolution=texts.resolution(tr, resolution))
            if asked:
                label = tr("{action} (asked for)", action=label)
            found.append(
                {
                    "code": "ok",
                    "resolution": resolution.value,
                    "label": plain(label),
                    "asked": asked,
                }
            )
    for code in (*PRIMARY, "no", "info", *SECONDARY):
        if STAFF_BUTTONS[code] in allowed:
            found.append(_action(tr, code, questions))
    return found


def _timeline(tr: Translator, events: list[AuditEvent]) -> list[dict[str, Any]]:
    shown = []
    for event in events:
        note = (
            event.note if event.action != "message" or event.actor_role is not Role.BUYER else None
        )
        shown.append(
            {
                "at": tr.datetime(event.at),
                "label": plain(texts.timeline_label(tr, event.action, staff=True)),
                "who": plain(texts.staff_role(tr, event.actor_role.value)),
                "note": note,
            }
        )
    return shown


def buyer_words(case: Case, events: list[AuditEvent]) -> list[dict[str, Any]]:
    """What the buyer wrote: the claim's description, then their messages, as typed."""
    words: list[dict[str, Any]] = []
    if case.description:
        words.append({"at": None, "text": case.description})
    for event in events:
        if event.action == "message" and event.actor_role is Role.BUYER and event.note:
            words.append({"at": event.at.isoformat(), "text": event.note})
    return words


def decision(tr: Translator, case: Case) -> dict[str, Any]:
    record = case.decision
    lines = [plain(line) for line in texts.decision_lines(tr, record.model_dump(mode="json"))]
    gaps = [
        plain(
            tr(
                "Not recoverable from supplier {supplier}: {amount}",
                supplier=gap.supplier or "?",
                amount=tr.money(gap.unrecoverable.model_dump()) if gap.unrecoverable else "?",
            )
        )
        for gap in record.supplier_gaps
    ]
    return {"lines": lines, "supplier_gaps": gaps}


def case_page(
    tr: Translator,
    case: Case,
    order: Order,
    timeline: list[AuditEvent],
    allowed: list[Action],
    evidence: list[dict[str, Any]],
    *,
    mine: bool,
) -> dict[str, Any]:
    # the buyer's words have a section of their own
    card = texts.case_card(tr, dataclasses.replace(case, description=None), order, staff=True)
    return {
        **case_row(tr, case, order, mine, allowed),
        "summary": [plain(line).removeprefix("• ") for line in card.split("\n") if line.strip()],
        "buyer_line": plain(texts.buyer_line(tr, order)),
        "words": buyer_words(case, timeline),
        "evidence": evidence,
        **decision(tr, case),
        "timeline": _timeline(tr, timeline),
        "actions": actions(tr, case, allowed),
        "currency": case.currency,
    }


__all__ = ["case_page", "case_row", "page_info", "plain", "ui_texts"]
