"""The deployment's configuration file (TOML): shops, suppliers, staff, return policy, timers.

Validated with pydantic at the boundary (unknown keys are errors); a mistake names the file, the
key and what is wrong, and the program refuses to start. See ``core/sample/shops.toml``.
"""

from __future__ import annotations

import tomllib
from datetime import date
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from core.cases.reasons import Party, Reason, Resolution
from core.disputes.rules import Disputes
from core.translation.config import TranslationSettings


class ConfigError(ValueError):
    """A configuration mistake: file, key and what is wrong."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file, self.key, self.problem = file, key, problem
        super().__init__(f"{file}: {key}: {problem}" if key else f"{file}: {problem}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowFrom(StrEnum):
    DELIVERY = "delivery"  # delivery; shipping + the longest estimate when delivery is unknown
    SHIPPING = "shipping"
    ORDER = "order"


class SupplierAccepts(StrEnum):
    ANY = "any"  # defects and change of mind
    DEFECTS = "defects"
    NONE = "none"


class SupplierSettlement(StrEnum):
    GOODS_BACK = "goods_back"  # takes the goods back and refunds the store
    CREDIT = "credit"  # credits the store, the goods stay with the buyer


Days = Annotated[int, Field(ge=0, le=3650)]
Percent = Annotated[Decimal, Field(ge=0, le=100)]
Amount = Annotated[Decimal, Field(ge=0)]


class Supplier(_Strict):
    name: str
    accepts: SupplierAccepts = SupplierAccepts.DEFECTS
    window_days: Days = 0
    window_from: WindowFrom = WindowFrom.DELIVERY
    restocking_fee_percent: Percent = Decimal(0)
    settlement: SupplierSettlement = SupplierSettlement.GOODS_BACK
    return_address: str | None = None
    credit_needs_photos: bool = False
    video_required_for: tuple[Reason, ...] = ()
    holds_brand_authorisation: bool = False

    @model_validator(mode="after")
    def _goods_need_an_address(self) -> Supplier:
        if (
            self.accepts is not SupplierAccepts.NONE
            and self.settlement is SupplierSettlement.GOODS_BACK
            and not self.return_address
        ):
            raise ValueError("return_address is required when the supplier takes goods back")
        return self


class EvidenceRule(_Strict):
    photos: Annotated[int, Field(ge=0, le=20)] = 0
    videos: Annotated[int, Field(ge=0, le=5)] = 0
    media: Annotated[int, Field(ge=0, le=20)] = 0  # photos and videos together
    description: bool = False
    guide: tuple[
        str, ...
    ] = ()  # shot codes the bot asks for in order: parcel, label, item, closeup


class ReasonRule(_Strict):
    """How one reason is handled; any field left out comes from the reason's defaults."""

    allowed: bool = True
    evidence: EvidenceRule | None = None
    return_shipping: Party | None = None
    item_must_return: bool | None = None
    resolutions: tuple[Resolution, ...] | None = None
    window_days: Days | None = None
    review: Literal["auto", "seller", "agent"] | None = None


class CategoryRule(_Strict):
    returnable: bool | None = None  # False: no change-of-mind returns for this category
    change_of_mind_days: Days | None = None
    defect_days: Days | None = None
    restocking_fee_percent: Percent | None = None
    refund_without_return_below: Amount | None = None


class NotReceivedRule(_Strict):
    grace_days: Days = 7  # after the longest delivery estimate
    stale_tracking_days: Days = 20  # or when tracking has not moved for this long
    unestimated_days: Days = 60  # when the carrier gave no estimate at all


class Policy(_Strict):
    """A shop's return policy; every amount is in the shop's currency (``Shop.currency``)."""

    window_from: WindowFrom = WindowFrom.DELIVERY
    change_of_mind: bool = True
    change_of_mind_days: Days = 30
    defect_days: Days = 30
    non_returnable_categories: tuple[str, ...] = ()
    restocking_fee_percent: Percent = Decimal(0)  # on change of mind only
    refund_without_return_below: Amount = Decimal(0)  # claimed value under this: keep the item
    auto_approve_below: Amount = Decimal(0)  # claimed value under this: approved at once
    agent_review_above: Amount | None = None  # over this: a person (agent) must look
    agent_review_reasons: tuple[Reason, ...] = (Reason.COUNTERFEIT,)
    reship_allowed_below: Amount | None = None  # shipped orders: reship to a new address
    refund_original_shipping: bool = True  # when the whole order comes back through no buyer fault
    resolution_preference: tuple[Resolution, ...] = (
        Resolution.REFUND,
        Resolution.REPLACEMENT,
        Resolution.EXCHANGE,
        Resolution.PARTIAL_REFUND,
        Resolution.RESHIP,
        Resolution.STORE_CREDIT,
    )
    not_received: NotReceivedRule = NotReceivedRule()
    reasons: dict[Reason, ReasonRule] = {}
    categories: dict[str, CategoryRule] = {}


class Shop(_Strict):
    name: str
    language: str = "en"
    currency: str = "USD"
    sellers: tuple[int, ...] = ()  # Telegram user ids
    agents: tuple[int, ...] = ()  # Telegram ids of this shop's support agents
    staff_chat_id: int | None = None
    link_secret: Annotated[str, Field(min_length=16)]
    link_checks: tuple[Literal["email", "phone_last4", "postal_code"], ...] = (
        "email",
        "phone_last4",
        "postal_code",
    )
    return_address: str
    policy: Policy = Policy()
    # Exports without categories (Shopify's has none): the category of a SKU by its prefix.
    categories_by_sku_prefix: dict[str, str] = {}

    def category_for_sku(self, sku: str) -> str | None:
        """The category of the longest matching SKU prefix, if any."""
        matches = [p for p in self.categories_by_sku_prefix if sku.upper().startswith(p.upper())]
        return self.categories_by_sku_prefix[max(matches, key=len)] if matches else None

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if len(value) != 3 or not value.isalpha():
            raise ValueError("must be an ISO 4217 code such as EUR")
        return value.upper()  # the currency of every limit in this shop's policy


class MinimumRights(_Strict):
    """Consumer law that no shop policy can undercut for buyers in these countries."""

    countries: tuple[str, ...]
    change_of_mind_days: Days = 0
    window_from: WindowFrom = WindowFrom.DELIVERY
    defect_days: Days = 0
    exempt_categories: tuple[str, ...] = ()  # e.g. unsealed hygiene goods
    refund_original_shipping: bool = False


class Lifecycle(_Strict):
    """How long each waiting state may last before a reminder or the next step."""

    buyer_info_days: Days = 7
    return_ship_days: Days = 14
    return_transit_days: Days = 45
    seller_decision_hours: Annotated[int, Field(ge=1, le=24 * 60)] = 48
    agent_first_response_hours: Annotated[int, Field(ge=1, le=24 * 60)] = 24
    resolution_days: Days = 5
    link_attempts_per_hour: Annotated[int, Field(ge=1, le=100)] = 5
    # a conversation left half-way is forgotten after this long (its case, if any, stays)
    conversation_idle_days: Annotated[int, Field(ge=1, le=3650)] = 30
    # staff get at most one alert per case this often about the buyer's follow-up messages
    followup_alert_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 3
    # a buyer writing more than this many messages a minute is asked to slow down (all kept)
    buyer_messages_per_minute: Annotated[int, Field(ge=1, le=1000)] = 20
    # the buyer is asked to rate a resolved or rejected case this long after; 0: never asked
    survey_delay_hours: Annotated[int, Field(ge=0, le=24 * 60)] = 24


def _currency_code(value: str) -> str:
    if len(value) != 3 or not value.isalpha():
        raise ValueError(f"{value!r} is not an ISO 4217 code such as EUR")
    return value.upper()


class ExchangeRates(_Strict):
    """Rates for comparing an order's amount with limits written in the shop's currency.

    ``rates`` says what one unit of ``base`` is worth in each currency ("1 EUR = 7.8 CNY" is
    ``base = "EUR"``, ``CNY = 7.8``); any two listed currencies convert through the base.
    ``set_on`` is the day they were set, kept with every decision that used them.
    """

    base: str
    set_on: date
    rates: dict[str, Annotated[Decimal, Field(gt=0)]]

    @field_validator("base")
    @classmethod
    def _base(cls, value: str) -> str:
        return _currency_code(value)

    @field_validator("rates")
    @classmethod
    def _codes(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        return {_currency_code(code): rate for code, rate in value.items()}

    def per_base(self, currency: str) -> Decimal | None:
        """Units of ``currency`` one unit of the base buys; None when it is not listed."""
        currency = currency.upper()
        if currency == self.base:
            return Decimal(1)
        return self.rates.get(currency)

    def rate(self, source: str, target: str) -> Decimal | None:
        """Units of ``target`` one unit of ``source`` is worth; None when either is unknown."""
        return self.convert(Decimal(1), source, target)

    def convert(self, amount: Decimal, source: str, target: str) -> Decimal | None:
        """``amount`` of ``source`` in ``target``, unrounded; None when no rate is known."""
        if source.upper() == target.upper():
            return amount
        from_base, to_base = self.per_base(source), self.per_base(target)
        if from_base is None or to_base is None:
            return None
        return amount * to_base / from_base


class Retention(_Strict):
    """How long each kind of data is kept (days), and the holds that keep a case's data
    longer. A case's data (its order's buyer details, the buyer's words, evidence, audit
    trail) is never purged while the case is open, nor for ``dispute_window_days`` after it
    closes; an erasure request waits for the same holds. See README, "Personal data"."""

    # a case's personal data, counted from its closing (at least the dispute window)
    closed_case_days: Days = 180
    # chargebacks and marketplace disputes can come this long after a case closed
    dispute_window_days: Days = 180
    # an order's buyer details when no case was ever opened on it, counted from the order
    orders_without_cases_days: Days = 365
    # failed and successful order checks (rate limiting and abuse review only)
    link_attempts_days: Days = 30
    # notifications sent (their texts), and processed or parked incoming updates
    sent_outbox_days: Days = 7
    done_updates_days: Days = 2
    parked_updates_days: Days = 14
    # (a conversation left half-way: [lifecycle] conversation_idle_days)


class Digest(_Strict):
    """The weekly figures each shop's sellers get (README, "Figures"): day and hour in UTC."""

    enabled: bool = True
    weekday: Annotated[int, Field(ge=1, le=7)] = 1  # 1 = Monday … 7 = Sunday
    hour: Annotated[int, Field(ge=0, le=23)] = 8
    period_days: Annotated[int, Field(ge=1, le=366)] = 30


class Deployment(_Strict):
    bot_username: str = "ReturnsDeskBot"
    case_prefix: Annotated[str, Field(pattern=r"^[A-Z]{1,3}$")] = "R"
    # Telegram ids of agents of EVERY shop, written explicitly; [shops.<id>] agents: one shop
    agents_all_shops: tuple[int, ...] = ()
    evidence_max_bytes: Annotated[int, Field(ge=1024)] = 20 * 1024 * 1024
    evidence_max_files: Annotated[int, Field(ge=1, le=100)] = 20  # per case, intake and later

    @model_validator(mode="before")
    @classmethod
    def _agents_renamed(cls, data: Any) -> Any:
        """The old ``agents`` key meant "every shop": an upgrade must say so, not keep it."""
        if isinstance(data, dict) and "agents" in data:
            raise ValueError(
                "`agents` is no longer read (it made agents of every shop): write "
                "`agents = [...]` under each [shops.<id>] for that shop's agents, or "
                "`agents_all_shops = [...]` under [deployment] for agents of every shop"
            )
        return data


SignalCode = Literal[
    "many_cases",
    "claim_share",
    "not_received_delivered",
    "same_photo",
    "photo_before_delivery",
    "occasion_return",
]


class Signals(_Strict):
    """Signs of abuse a person should look at (README, "After the case"): never a refusal.
    ``actions`` says what each signal does: ``review`` (no automatic approval: an agent, or
    the seller when the shop has no agents, looks), ``video`` (a video is needed before the
    case can be approved) or ``show`` (only shown to staff)."""

    enabled: bool = True
    period_days: Annotated[int, Field(ge=1, le=3650)] = 90
    many_cases: Annotated[int, Field(ge=2, le=1000)] = 3  # cases by one person in the period
    # an e-mail or phone on more orders than this (a forwarder's, a relay, a placeholder) does
    # not make their buyers one person
    shared_contact_orders: Annotated[int, Field(ge=1, le=100_000)] = 20
    claim_share_percent: Percent = Decimal(50)  # claimed ÷ bought in the period, at least
    claim_share_min_cases: Annotated[int, Field(ge=1, le=1000)] = 2  # a single claim: no
    delivered_minutes: Annotated[int, Field(ge=0, le=7 * 24 * 60)] = 60  # "minutes after it"
    photo_distance: Annotated[int, Field(ge=0, le=32)] = 6  # pHash Hamming distance, at most
    occasion_categories: tuple[str, ...] = ()
    occasion_last_days: Annotated[int, Field(ge=0, le=365)] = 3  # of the change-of-mind window
    actions: dict[SignalCode, Literal["review", "video", "show"]] = {
        "many_cases": "review",
        "claim_share": "review",
        "not_received_delivered": "review",
        "same_photo": "review",
        "photo_before_delivery": "review",
        "occasion_return": "review",
    }

    def action(self, code: str) -> str:
        return self.actions.get(code, "show")  # type: ignore[call-overload]


class Config(_Strict):
    deployment: Deployment = Deployment()
    lifecycle: Lifecycle = Lifecycle()
    retention: Retention = Retention()
    digest: Digest = Digest()
    signals: Signals = Signals()
    translation: TranslationSettings = TranslationSettings()
    suppliers: dict[str, Supplier] = {}
    shops: dict[str, Shop]
    minimum_rights: dict[str, MinimumRights] = {}
    # Shops write their limits in their own currency; orders in another one are converted.
    exchange_rates: ExchangeRates | None = None
    # Platform disputes: each platform's rules and deadlines (core/disputes/rules.py).
    disputes: Disputes = Disputes()

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        if not self.shops:
            raise ValueError("at least one shop is needed")
        return self

    def shop(self, shop_id: str) -> Shop:
        return self.shops[shop_id]

    def minimum_rights_for(self, country: str | None) -> list[MinimumRights]:
        if not country:
            return []
        country = country.upper()
        return [rights for rights in self.minimum_rights.values() if country in rights.countries]


SAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "sample" / "shops.toml"


def load_config(path: Path | str | None = None) -> Config:
    """Read and validate the TOML configuration; errors name the file, key and problem."""
    file = Path(path) if path else SAMPLE_CONFIG
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(str(file), "", "file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(file), "", f"not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(str(file), "", "not UTF-8 text") from exc
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"] if part != "[key]")
        raise ConfigError(str(file), key or "(top level)", _describe(error)) from exc


def _describe(error: ErrorDetails) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key (check the spelling against the sample configuration)"
    if error["type"] == "missing":
        return "required but missing"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")
