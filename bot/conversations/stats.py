"""Staff's figures in Telegram: ``/stats [7d|30d|90d] [sku|supplier|reason]`` answers with three
charts as one album (return rates, claims per 100 orders, times) and the figures as a CSV;
``/cost R-… KIND AMOUNT [CURRENCY] [note]`` records what a case cost or brought back.

Sellers see the shops they sell for, agents the shops they serve (the core checks). Charts
are drawn off the event loop. A button for costs on the case card is not there yet: the
command is the way in.
"""

from __future__ import annotations

import asyncio

from aiogram import Bot, F
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, InputMediaPhoto, Message

from bot.conversations.staff import IsStaff
from bot.receiving.routing import Router
from bot.views import survey as survey_views
from bot.views import texts
from bot.views.digest import closing_soon
from bot.views.i18n import Catalogs, Translator
from core.analytics.costs import CostKind, parse_cost_kind
from core.analytics.figures import COLUMNS, DIMENSIONS, PERIODS, Figures, parse_period, tidy_rows
from core.cases.numbers import find_case_numbers
from core.errors import CoreError
from core.money import Money
from core.services import csat
from core.services import stats as stats_service
from core.services.context import CoreContext
from core.services.staff import StaffIdentity
from core.spreadsheet import csv_bytes


def cost_kind_name(tr: Translator, kind: CostKind | str) -> str:
    words = {
        CostKind.REFUND: tr("refund outside the case"),
        CostKind.RESHIP_GOODS: tr("goods reshipped"),
        CostKind.RESHIP_POSTAGE: tr("reship postage"),
        CostKind.RETURN_LABEL: tr("return label"),
        CostKind.CHARGEBACK_FEE: tr("chargeback fee"),
        CostKind.RESTOCKING_FEE: tr("restocking fee received"),
        CostKind.SUPPLIER_CREDIT: tr("supplier credit received"),
    }
    return words[CostKind(kind)]


def _usage(tr: Translator) -> str:
    return tr(
        "Send /stats followed by a period and a grouping, for example /stats 30d supplier. "
        "Periods: {periods}. Groupings: sku, supplier, reason.",
        periods=", ".join(f"{days}d" for days in PERIODS),
    )


def summary(tr: Translator, f: Figures, names: list[str], fallback: bool) -> str:
    """The album's caption: what the charts cover and the money, per currency."""
    lines = [
        texts.bold(
            tr.plural("Figures of the last day", "Figures of the last {n} days", f.period.days)
        ),
        tr("Shops: {shops}", shops=tr.join(names)),
        tr(
            "Orders placed: {orders} · claims on them: {claims}",
            orders=f.orders,
            claims=f.claims,
        ),
    ]
    if f.money:
        lines.append(
            tr(
                "Net loss on returns: {amounts}",
                amounts=" · ".join(tr.money(m.net_loss) for m in f.money),
            )
        )
    credited = [
        Money(m.by_kind[CostKind.SUPPLIER_CREDIT.value], m.currency)
        for m in f.money
        if m.by_kind.get(CostKind.SUPPLIER_CREDIT.value)
    ]
    if credited:  # what supplier claims brought back (README, "Supplier claims")
        lines.append(
            tr(
                "Recovered from suppliers: {amounts}",
                amounts=" · ".join(tr.money(m) for m in credited),
            )
        )
    gaps = [g for g in f.gaps if g.gap.minor > 0]
    if gaps:
        lines.append(
            tr(
                "Suppliers still owe: {amounts}",
                amounts=" · ".join(f"{g.supplier} {tr.money(g.gap)}" for g in gaps),
            )
        )
    soon = sorted(n for g in f.gaps for n in g.closing_soon)
    if soon:
        lines.append(closing_soon(tr, soon))
    if f.automation.share is not None:
        lines.append(
            tr("Decided automatically: {share}", share=tr.percent(f.automation.share * 100))
        )
    if fallback:
        lines.append(
            tr(
                "The charts are labelled in English: this server has no font for your "
                "language's script."
            )
        )
    return "\n".join(lines)


async def show_stats(
    message: Message,
    command: CommandObject,
    staff: StaffIdentity,
    tr: Translator,
    core: CoreContext,
    bot: Bot,
    catalogs: Catalogs,
) -> None:
    days, dimension = 30, "sku"
    for word in (command.args or "").lower().split():
        if word in DIMENSIONS:
            dimension = word
        elif (parsed := parse_period(word)) is not None:
            days = parsed
        else:
            await message.answer(_usage(tr))
            return
    await bot.send_chat_action(message.chat.id, "upload_photo")
    try:
        figures = await stats_service.figures(core, staff.actor, days=days)
    except CoreError as exc:
        await message.answer(texts.error(tr, exc))
        return
    from bot.views import charts  # matplotlib: loaded by the first /stats, not at every start

    album = await asyncio.to_thread(
        charts.album, tr, figures, dimension, lambda: catalogs.get("en")
    )
    names = [core.config.shop(shop).name for shop in figures.shops]
    caption = summary(tr, figures, names, album.fallback)
    satisfaction = survey_views.stats_line(tr, await csat.figures(core, staff.actor, days=days))
    if satisfaction:  # README, "After the case"
        caption += "\n" + satisfaction
    media = [
        InputMediaPhoto(
            media=BufferedInputFile(photo, f"figures-{n + 1}.png"),
            caption=caption if n == 0 else None,
        )
        for n, photo in enumerate(album.photos)
    ]
    await bot.send_media_group(message.chat.id, media)
    rows = tidy_rows(figures)
    data = csv_bytes(COLUMNS, ([row[c] for c in COLUMNS] for row in rows))
    name = f"returns-figures-{'-'.join(figures.shops)}-{days}d.csv"
    await bot.send_document(
        message.chat.id,
        BufferedInputFile(data, name),
        caption=tr("The figures as a table (CSV): one measure per row, ready to pivot."),
    )


async def record_cost(
    message: Message,
    command: CommandObject,
    staff: StaffIdentity,
    tr: Translator,
    core: CoreContext,
) -> None:
    words = (command.args or "").split()
    numbers = find_case_numbers(words[0]) if words else []
    kind = parse_cost_kind(words[1]) if len(words) > 1 else None
    if not numbers or kind is None or len(words) < 3:
        await message.answer(
            tr(
                "Send /cost, the case number, what it was and the amount, for example "
                "/cost R-2611-0042 reship_postage 12.50 (a currency code after the amount "
                "when it is not the case's). What it can be: {kinds}.",
                kinds=", ".join(k.value for k in CostKind),
            )
        )
        return
    amount, rest = words[2], words[3:]
    if rest and len(rest[0]) == 3 and rest[0].isalpha() and rest[0].isupper():
        amount, rest = f"{amount} {rest[0]}", rest[1:]
    try:
        case, money = await stats_service.record_cost(
            core, staff.actor, numbers[0], kind, amount, " ".join(rest) or None
        )
    except CoreError as exc:
        await message.answer(texts.error(tr, exc))
        return
    await message.answer(
        tr(
            "Recorded on case {number}: {kind}, {amount}.",
            number=texts.bold(case.number),
            kind=cost_kind_name(tr, kind),
            amount=money,
        )
    )


def make_router() -> Router:
    router = Router(name="stats")
    private = F.chat.type == "private"
    router.message.register(show_stats, private, Command("stats"), IsStaff())
    router.message.register(record_cost, private, Command("cost"), IsStaff())
    return router


__all__ = ["cost_kind_name", "make_router", "summary"]
