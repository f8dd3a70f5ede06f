"""The satisfaction survey's words and buttons (core/services/csat.py decides)."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.conversations.callbacks import SurveyCb
from bot.views.i18n import Translator
from core.services.csat import CsatFigures

SKIP = 0  # the score of the "Skip" button under the comment question


def question(tr: Translator, number: str) -> str:
    return tr(
        "How did we do with case {number}? Rate it from 1 (poor) to 5 (excellent).",
        number=number,
    )


def score_buttons(survey_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=f"{score}⭐", callback_data=SurveyCb(survey=survey_id, score=score).pack()
                )
                for score in range(1, 6)
            ]
        ]
    )


def skip_button(tr: Translator, survey_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text="⏭ " + tr("Skip"),
                    callback_data=SurveyCb(survey=survey_id, score=SKIP).pack(),
                )
            ]
        ]
    )


def rated(tr: Translator, number: str, score: int) -> str:
    """The question, once answered: what the buyer chose (its buttons are gone)."""
    return tr("Case {number}: you rated it {score} out of 5.", number=number, score=score)


def ask_comment(tr: Translator) -> str:
    return tr("Thank you! Anything you would like to tell us? Write it here, or press Skip.")


def thanks(tr: Translator) -> str:
    return tr("Thank you for your answer.")


def thanks_low(tr: Translator) -> str:
    return tr("Thank you for telling us. The shop has been told and will look into it.")


def text_only(tr: Translator) -> str:
    return tr("Please write your comment as text, or press Skip.")


def stats_line(tr: Translator, f: CsatFigures) -> str | None:
    """Under /stats: the satisfaction of the period, when any survey was asked."""
    total = f.total
    if not total.asked:
        return None
    share = total.satisfied_share
    return tr.plural(
        "Satisfaction after the case: {share} rated 4 or 5 ({answered} of one survey answered)",
        "Satisfaction after the case: {share} rated 4 or 5 ({answered} of {n} surveys answered)",
        total.asked,
        share=tr.percent(share * 100) if share is not None else "–",
        answered=total.answered,
    )
