"""The return policy in the buyer's language, written from the configuration itself."""

from __future__ import annotations

from aiogram import Bot, F
from aiogram.types import CallbackQuery

from bot.conversations.callbacks import MenuCb, ShopCb
from bot.conversations.common import buyer, send
from bot.conversations.filters import PrivateChat
from bot.receiving.routing import Router
from bot.views import keyboards, texts
from bot.views.i18n import Html, Translator, escape
from core.cases.reasons import Party, Reason
from core.money import Money
from core.policy.config import Config, Shop, WindowFrom
from core.policy.defaults import effective_rule
from core.services import linking
from core.services.context import CoreContext


def _change_of_mind_window(tr: Translator, days: int, start: WindowFrom) -> str:
    match start:
        case WindowFrom.SHIPPING:
            return tr.plural(
                "• Changed your mind? Return it within a day of shipping.",
                "• Changed your mind? Return it within {n} days of shipping.",
                days,
            )
        case WindowFrom.ORDER:
            return tr.plural(
                "• Changed your mind? Return it within a day of your order.",
                "• Changed your mind? Return it within {n} days of your order.",
                days,
            )
        case _:
            return tr.plural(
                "• Changed your mind? Return it within a day of delivery.",
                "• Changed your mind? Return it within {n} days of delivery.",
                days,
            )


def _defect_window(tr: Translator, days: int, start: WindowFrom) -> str:
    match start:
        case WindowFrom.SHIPPING:
            return tr.plural(
                "• Damaged, wrong, faulty or not as described? Tell us within a day "
                "of shipping; the shop pays any return postage.",
                "• Damaged, wrong, faulty or not as described? Tell us within {n} days "
                "of shipping; the shop pays any return postage.",
                days,
            )
        case WindowFrom.ORDER:
            return tr.plural(
                "• Damaged, wrong, faulty or not as described? Tell us within a day "
                "of your order; the shop pays any return postage.",
                "• Damaged, wrong, faulty or not as described? Tell us within {n} days "
                "of your order; the shop pays any return postage.",
                days,
            )
        case _:
            return tr.plural(
                "• Damaged, wrong, faulty or not as described? Tell us within a day "
                "of delivery; the shop pays any return postage.",
                "• Damaged, wrong, faulty or not as described? Tell us within {n} days "
                "of delivery; the shop pays any return postage.",
                days,
            )


def policy_text(tr: Translator, config: Config, shop: Shop) -> str:
    policy = shop.policy
    lines = [tr("Return policy of {shop}", shop=shop.name), ""]
    if policy.change_of_mind:
        lines.append(_change_of_mind_window(tr, policy.change_of_mind_days, policy.window_from))
        if policy.restocking_fee_percent > 0:
            lines.append(
                tr(
                    "  A restocking fee of {percent} applies to change-of-mind returns.",
                    percent=Html(escape(tr.percent(policy.restocking_fee_percent))),
                )
            )
        rule = effective_rule(Reason.CHANGED_MIND, policy.reasons.get(Reason.CHANGED_MIND))
        if rule.return_shipping is Party.SELLER:
            lines.append(tr("  The shop pays the return postage, even for a change of mind."))
        else:
            lines.append(tr("  You pay the return postage for a change of mind."))
    else:
        lines.append(tr("• Returns for a change of mind are not accepted."))
    if policy.non_returnable_categories:
        lines.append(
            tr(
                "• Not returnable for a change of mind: {categories}.",
                categories=tr.join(
                    texts.category(tr, code) for code in policy.non_returnable_categories
                ),
            )
        )
    lines.append(_defect_window(tr, policy.defect_days, policy.window_from))
    lines.append(tr("• Please keep photos of the parcel and the item: they speed things up."))
    if policy.refund_without_return_below > 0:
        threshold = Money.parse(policy.refund_without_return_below, shop.currency)
        lines.append(
            tr("• Items worth less than {amount} do not need to be sent back.", amount=threshold)
        )
    grace = policy.not_received.grace_days
    lines.append(
        tr.plural(
            "• Parcel not arrived? You can claim a day after the latest delivery estimate.",
            "• Parcel not arrived? You can claim {n} days after the latest delivery estimate.",
            grace,
        )
        + " "
        + tr.plural(
            "You can also claim when its tracking has not moved for a day.",
            "You can also claim when its tracking has not moved for {n} days.",
            policy.not_received.stale_tracking_days,
        )
    )
    lines.append(
        tr.plural(
            "• Refunds go back to the original payment method within a day of "
            "approval or of the return arriving.",
            "• Refunds go back to the original payment method within {n} days of "
            "approval or of the return arriving.",
            config.lifecycle.resolution_days,
        )
    )
    for name, rights in config.minimum_rights.items():
        if not rights.change_of_mind_days:
            continue
        if name.lower() == "eu":
            lines.append(
                tr.plural(
                    "• Buyers in the EU and EEA may always withdraw within a day "
                    "of delivery, whatever the shop's own window.",
                    "• Buyers in the EU and EEA may always withdraw within {n} days "
                    "of delivery, whatever the shop's own window.",
                    rights.change_of_mind_days,
                )
            )
        else:  # the countries by their codes, as the configuration lists them
            lines.append(
                tr.plural(
                    "• Buyers in {countries} may always withdraw within a day "
                    "of delivery, whatever the shop's own window.",
                    "• Buyers in {countries} may always withdraw within {n} days "
                    "of delivery, whatever the shop's own window.",
                    rights.change_of_mind_days,
                    countries=tr.join(rights.countries),
                )
            )
    return "\n".join(lines)


async def show(
    bot: Bot, chat_id: int, tr: Translator, core: CoreContext, shop_ids: list[str]
) -> None:
    text = "\n\n".join(policy_text(tr, core.config, core.config.shop(s)) for s in shop_ids)
    await send(bot, chat_id, text, keyboards.home(tr))


async def policy(query: CallbackQuery, bot: Bot, tr: Translator, core: CoreContext) -> None:
    await query.answer()
    orders = await linking.buyer_orders(core, buyer(query.from_user))
    shops = sorted({order.shop for order in orders})
    if not shops and len(core.config.shops) == 1:
        shops = list(core.config.shops)
    if shops:
        await show(bot, query.from_user.id, tr, core, shops)
        return
    choices = [(shop_id, shop.name) for shop_id, shop in core.config.shops.items()]
    await bot.send_message(
        query.from_user.id,
        tr("Which shop did you buy from?"),
        reply_markup=keyboards.shops(choices),
    )


async def policy_of(
    query: CallbackQuery, callback_data: ShopCb, bot: Bot, tr: Translator, core: CoreContext
) -> None:
    await query.answer()
    if callback_data.shop in core.config.shops:
        await show(bot, query.from_user.id, tr, core, [callback_data.shop])


def make_router() -> Router:
    router = Router(name="policy")
    router.message.filter(PrivateChat())
    router.callback_query.filter(PrivateChat())
    router.callback_query.register(policy, MenuCb.filter(F.action == "policy"))
    router.callback_query.register(policy_of, ShopCb.filter())
    return router
