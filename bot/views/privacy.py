"""Words about personal data: the README of /mydata's ZIP, the /forgetme answers."""

from __future__ import annotations

from collections.abc import Callable

from bot.views import texts
from bot.views.i18n import Translator
from core.services.privacy import Erasure, PersonalData

README_FILES: tuple[tuple[str, Callable[[Translator], str]], ...] = (
    ("profile.json", lambda tr: tr("What Telegram told us about you, and your language setting.")),
    (
        "orders.json",
        lambda tr: tr("The orders you are linked to, and how you proved each one is yours."),
    ),
    (
        "cases/",
        lambda tr: tr("Each case you opened: its items, your words, its history and your photos."),
    ),
    (
        "order_checks.json",
        lambda tr: tr("When you checked an order number, and whether the check passed."),
    ),
    ("manifest.json", lambda tr: tr("Every file with its SHA-256 fingerprint.")),
)


def readme(tr: Translator, data: PersonalData) -> str:
    """README.txt: plain text (not HTML), in the person's language."""
    keep = data.retention
    lines = [
        tr("Your data at Returns Desk"),
        tr(
            "Made on {date} for Telegram account {id}.",
            date=tr.date(data.generated_at),
            id=str(data.telegram_id),
        ),
        "",
        tr("What is in this file:"),
    ]
    lines += [f"- {name}: {words(tr)}" for name, words in README_FILES]
    lines += [
        "",
        tr(
            "Orders: {orders}. Cases: {cases}. Order checks: {checks}.",
            orders=len(data.orders),
            cases=len(data.cases),
            checks=len(data.order_checks),
        ),
    ]
    for item in data.cases:
        case = item.case
        lines.append(
            f"- {case.number}: {texts.reason(tr, case.reason)}, {texts.status(tr, case.status)}"
            f" ({tr.date(case.opened_at)})"
        )
    lines += [
        "",
        tr("How long we keep it:"),
        tr.plural(
            "- A case and its photos: while it is open, and one day after it closes.",
            "- A case and its photos: while it is open, and {n} days after it closes.",
            max(keep.get("closed_case_days", 0), keep.get("dispute_window_days", 0)),
        ),
        tr.plural(
            "- Order checks: one day.",
            "- Order checks: {n} days.",
            keep.get("link_attempts_days", 0),
        )
        + " "
        + tr.plural(
            "Messages we sent you: one day.",
            "Messages we sent you: {n} days.",
            keep.get("sent_outbox_days", 0),
        ),
        "",
        tr("To have all of it erased, send /forgetme to the bot."),
    ]
    # the README is plain text: the translator escapes values for HTML, undo that here
    return _plain("\n".join(lines) + "\n")


def _plain(text: str) -> str:
    import html

    return html.unescape(text)


def mydata_caption(tr: Translator) -> str:
    return tr("Everything we hold about you, in one ZIP file. README.txt explains what is in it.")


def confirm_forget(tr: Translator) -> str:
    return tr(
        "Erase your data? Your cases, your words and photos, your order links and your "
        "settings will be erased for good. The shop keeps only what it needs for its "
        "accounts (the items, the reason and the amounts, without your name)."
    )


def erasure_answer(tr: Translator, erasure: Erasure) -> str:
    hold = erasure.hold
    if erasure.done:
        return tr("Done: your data is erased. If you write to the bot again, we start afresh.")
    if hold is None:
        return tr("Your data will be erased on {date}.", date=tr.date(erasure.due_at))
    if hold.kind == "open_case":
        return tr.plural(
            "Your case {case} is still open, so we keep its data while it runs. Your data "
            "will be erased one day after the case closes (the time a payment dispute "
            "can still be raised); the earliest date is {date}.",
            "Your case {case} is still open, so we keep its data while it runs. Your data "
            "will be erased {n} days after the case closes (the time a payment dispute "
            "can still be raised); the earliest date is {date}.",
            hold.window_days,
            case=hold.case,
            date=tr.date(erasure.due_at),
        )
    return tr.plural(
        "Your case {case} closed less than a day ago: the shop must keep its data "
        "for a possible payment dispute until {date}. Your data will be erased then.",
        "Your case {case} closed less than {n} days ago: the shop must keep its data "
        "for a possible payment dispute until {date}. Your data will be erased then.",
        hold.window_days,
        case=hold.case,
        date=tr.date(erasure.due_at),
    )


def pending_notice(tr: Translator, erasure: Erasure) -> str:
    return (
        tr("You asked us to erase your data; it is pending.")
        + " "
        + erasure_answer(tr, erasure)
        + "\n"
        + tr("Anything new you send now is erased with it. You can cancel the request.")
    )


def cancelled(tr: Translator, done: bool) -> str:
    if done:
        return tr("Your erasure request is cancelled: we keep your data as before.")
    return tr("There was no erasure request waiting.")


def kept(tr: Translator) -> str:
    return tr("Nothing was erased.")
