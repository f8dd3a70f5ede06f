"""Limits in the shop's currency: an order in another currency is converted before it is
compared with automatic approval, agent review, keep-the-item and reship limits.

Aurora's limits are in euros (approve below 50.00, an agent above 150.00, keep below 10.00);
the sample rates say 1 EUR = 162 JPY = 0.33 KWD = 1.05 USD, set on 2026-11-01. With no rate
for a currency nothing is approved on a guess: a person reviews it and the decision says why.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from core.cases.reasons import Reason
from core.money import Money
from core.orders.formats.detect import iter_orders
from core.orders.model import Order
from core.policy.config import Config, ConfigError, ExchangeRates, load_config
from core.policy.decision import Claim, Decision, EvidenceCount, Review, decide

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SAMPLE_ORDERS = Path(__file__).resolve().parents[2] / "core" / "sample" / "orders.sample.json"
PHOTOS = EvidenceCount(photos=3, has_description=True)


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config()


@pytest.fixture(scope="module")
def orders() -> dict[str, Order]:
    return {order.number: order for order in iter_orders(SAMPLE_ORDERS)}


def priced(order: Order, price: str, currency: str, shipping: str = "0") -> Order:
    """The order (its first line) paid in another currency."""
    line = dataclasses.replace(order.lines[0], unit_price=Money.parse(price, currency))
    return dataclasses.replace(
        order,
        currency=currency,
        lines=(line,),
        shipping_cost=Money.parse(shipping, currency),
        refunded_amount=None,
    )


def run(config: Config, order: Order, reason: Reason, evidence=PHOTOS) -> Decision:
    return decide(
        config=config,
        order=order,
        claims=[Claim(1, 1)],
        reason=reason,
        evidence=evidence,
        now=NOW,
    )


def params(decision: Decision, code: str) -> dict[str, Any]:
    found = [e.params for e in decision.explanations if e.code == code]
    assert len(found) == 1, decision.codes()
    return found[0]


def money(amount: str, currency: str) -> dict[str, str]:
    return {"amount": amount, "currency": currency}


# ── the two orders ─────────────────────────────────────────────────────────────────


def test_a_5960_yen_lamp_is_36_79_euros_and_approved_at_once_not_sent_to_an_agent(
    config: Config, orders: dict[str, Order]
) -> None:
    order = priced(orders["AUR-10021"], "5960", "JPY")  # yen have no minor unit

    decision = run(config, order, Reason.DAMAGED)

    assert decision.review is Review.AUTOMATIC
    assert params(decision, "currency_converted") == {
        "amount": money("5960", "JPY"),
        "converted": money("36.79", "EUR"),
        "base": "EUR",
        "rates": {"JPY": "162", "EUR": "1"},
        "set_on": "2026-11-01",
    }
    assert params(decision, "approved_automatically") == {"limit": money("50.00", "EUR")}
    assert decision.refund_total == Money.parse("5960", "JPY")  # money stays in yen


def test_a_27_250_dinar_lamp_is_82_58_euros_and_goes_to_the_seller_not_approved_at_once(
    config: Config, orders: dict[str, Order]
) -> None:
    order = priced(orders["AUR-10026"], "27.250", "KWD")  # dinars have three decimals

    decision = run(config, order, Reason.NOT_AS_DESCRIBED)

    assert decision.review is Review.SELLER
    assert params(decision, "currency_converted")["converted"] == money("82.58", "EUR")
    assert "approved_automatically" not in decision.codes()
    assert decision.deadlines["decision_by"] == NOW + timedelta(hours=48)
    assert decision.refund_total == Money.parse("27.250", "KWD")


def test_a_dinar_order_over_the_agent_limit_goes_to_an_agent(
    config: Config, orders: dict[str, Order]
) -> None:
    order = priced(orders["AUR-10026"], "49.500", "KWD")  # exactly 150.00 EUR at 0.33

    at_limit = run(config, order, Reason.NOT_AS_DESCRIBED)
    over = run(config, priced(order, "49.501", "KWD"), Reason.NOT_AS_DESCRIBED)

    assert params(at_limit, "currency_converted")["converted"] == money("150.00", "EUR")
    assert at_limit.review is Review.SELLER  # "above" 150.00: 150.00 itself is not above
    assert over.review is Review.AGENT
    assert params(over, "review_by_agent_value") == {"limit": money("150.00", "EUR")}


# ── no rate: a person decides ──────────────────────────────────────────────────────────────


def without_rates(config: Config) -> Config:
    return config.model_copy(update={"exchange_rates": None})


@pytest.mark.parametrize(
    ("make_config", "currency"),
    [
        pytest.param(lambda c: c, "BRL", id="currency-not-in-the-rates"),
        pytest.param(without_rates, "USD", id="no-rates-configured"),
    ],
)
def test_with_no_rate_a_cheap_order_is_never_approved_automatically_and_says_why(
    make_config: Any, currency: str, config: Config, orders: dict[str, Order]
) -> None:
    order = priced(orders["AUR-10021"], "1.00", currency)

    decision = run(make_config(config), order, Reason.DAMAGED)

    assert decision.eligible
    assert decision.review is Review.SELLER
    assert "approved_automatically" not in decision.codes()
    assert params(decision, "exchange_rate_unknown") == {
        "currency": currency,
        "shop_currency": "EUR",
    }
    assert decision.deadlines["decision_by"] == NOW + timedelta(hours=48)


def test_with_no_rate_the_item_comes_back_rather_than_being_kept_on_a_guess(
    config: Config, orders: dict[str, Order]
) -> None:
    # a wrong item normally comes back; aurora lets items under 10.00 EUR be kept
    order = priced(orders["AUR-10029"], "1.00", "BRL")

    decision = run(config, order, Reason.WRONG_ITEM, EvidenceCount(photos=1))

    assert decision.return_required
    assert "keep_item_low_value" not in decision.codes()
    assert decision.codes().count("exchange_rate_unknown") == 1  # said once


def test_an_order_in_the_shops_currency_is_not_converted(
    config: Config, orders: dict[str, Order]
) -> None:
    decision = run(config, orders["AUR-10021"], Reason.DAMAGED)

    assert decision.review is Review.AUTOMATIC
    assert not {"currency_converted", "exchange_rate_unknown"} & set(decision.codes())


# ── the other limits ───────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("yen", "kept"),
    [
        pytest.param("1600", True, id="1600-JPY-is-9.88-EUR-kept"),
        pytest.param("1700", False, id="1700-JPY-is-10.49-EUR-sent-back"),
    ],
)
def test_the_keep_the_item_limit_is_compared_in_euros(
    yen: str, kept: bool, config: Config, orders: dict[str, Order]
) -> None:
    order = priced(orders["AUR-10029"], yen, "JPY")

    decision = run(config, order, Reason.WRONG_ITEM, EvidenceCount(photos=1))

    assert decision.return_required is not kept
    if kept:
        assert params(decision, "keep_item_low_value") == {"threshold": money("10.00", "EUR")}
    else:
        assert "keep_item_low_value" not in decision.codes()


@pytest.mark.parametrize(
    ("price", "reship"),
    [
        pytest.param("28.00", True, id="28.00-EUR-is-29.40-USD-under-30"),
        pytest.param("29.00", False, id="29.00-EUR-is-30.45-USD-over-30"),
    ],
)
def test_the_reship_limit_for_a_new_address_is_compared_in_dollars(
    price: str, reship: bool, config: Config, orders: dict[str, Order]
) -> None:
    order = priced(orders["NV-5504"], price, "EUR")  # nova writes its limits in USD

    decision = run(config, order, Reason.CHANGE_ADDRESS)

    assert decision.refusal == "already_shipped"
    assert ("reship_possible" in params(decision, "already_shipped")["options"]) is reship


# ── the configuration ──────────────────────────────────────────────────────────────────────


def test_the_sample_rates_convert_through_the_base_currency(config: Config) -> None:
    rates = config.exchange_rates
    assert rates is not None
    assert (rates.base, rates.set_on.isoformat()) == ("EUR", "2026-11-01")
    assert rates.rate("EUR", "CNY") == Decimal("7.8")
    assert rates.rate("USD", "USD") == Decimal(1)
    assert rates.convert(Decimal("129.00"), "GBP", "USD") == Decimal("129.00") * Decimal(
        "1.05"
    ) / Decimal("0.85")
    assert rates.rate("EUR", "BRL") is None
    assert rates.convert(Decimal(1), "BRL", "EUR") is None


def test_rates_are_written_as_one_unit_of_the_base() -> None:
    rates = ExchangeRates.model_validate(
        {"base": "eur", "set_on": "2026-11-01", "rates": {"cny": "7.8"}}
    )
    assert rates.base == "EUR" and rates.rates == {"CNY": Decimal("7.8")}


@pytest.mark.parametrize(
    ("table", "key", "problem"),
    [
        pytest.param(
            'base = "EUR"\nset_on = 2026-11-01\nrates = { USD = 0 }',
            "exchange_rates.rates.USD",
            "greater than 0",
            id="zero-rate",
        ),
        pytest.param(
            'base = "EUR"\nset_on = 2026-11-01\nrates = { DOLLAR = 1.05 }',
            "exchange_rates.rates",
            "ISO 4217",
            id="not-a-currency-code",
        ),
        pytest.param(
            'base = "EUR"\nrates = { USD = 1.05 }',
            "exchange_rates.set_on",
            "required",
            id="no-date",
        ),
        pytest.param(
            'base = "EUR"\nset_on = 2026-11-01\nrates = { USD = 1.05 }\nusd = 1.05',
            "exchange_rates.usd",
            "unknown key",
            id="unknown-key",
        ),
    ],
)
def test_a_mistake_in_the_rates_names_the_key(
    table: str, key: str, problem: str, tmp_path: Path
) -> None:
    text = (
        '[shops.aurora]\nname = "Aurora"\nlink_secret = "0123456789abcdef0123"\n'
        'return_address = "Aurora Returns, Neuss"\ncurrency = "EUR"\n\n'
        f"[exchange_rates]\n{table}\n"
    )
    path = tmp_path / "shops.toml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert caught.value.key == key
    assert problem in caught.value.problem
