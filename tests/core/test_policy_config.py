"""The configuration file: the bundled sample loads, and every mistake names file, key, problem."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from core.cases.reasons import Party, Reason, Resolution
from core.policy.config import (
    SAMPLE_CONFIG,
    Config,
    ConfigError,
    SupplierAccepts,
    SupplierSettlement,
    load_config,
)

MINIMAL = """\
[shops.aurora]
name = "Aurora"
link_secret = "0123456789abcdef0123"
return_address = "Aurora Returns, Industriestrasse 21, 41460 Neuss, Germany"
"""


def write(tmp_path: Path, text: str, name: str = "shops.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ── the sample ─────────────────────────────────────────────────────────────────────────────


def test_sample_config_is_the_default_and_loads_three_shops() -> None:
    config = load_config()

    assert config == load_config(SAMPLE_CONFIG)
    assert {shop_id: shop.name for shop_id, shop in config.shops.items()} == {
        "aurora": "Aurora Home & Living",
        "nova": "Nova Gadgets",
        "lumen": "Lumen Beauty",
    }
    assert config.shop("aurora").currency == "EUR"
    assert config.shop("nova").currency == "USD"
    assert config.deployment.case_prefix == "R"
    assert config.lifecycle.seller_decision_hours == 48
    assert config.lifecycle.agent_first_response_hours == 24


def test_sample_config_carries_the_shops_policies() -> None:
    aurora = load_config().shop("aurora").policy
    nova = load_config().shop("nova").policy

    assert (aurora.change_of_mind_days, aurora.defect_days) == (30, 30)
    assert aurora.non_returnable_categories == ("swimwear", "underwear")
    assert aurora.refund_without_return_below == Decimal("10.00")
    assert aurora.auto_approve_below == Decimal("50.00")
    assert aurora.agent_review_above == Decimal("150.00")
    assert aurora.reasons[Reason.CHANGED_MIND].return_shipping is Party.BUYER
    assert (nova.change_of_mind_days, nova.defect_days) == (15, 90)
    assert nova.restocking_fee_percent == Decimal(10)
    assert nova.resolution_preference[0] is Resolution.REPLACEMENT
    assert nova.not_received.grace_days == 10


def test_sample_config_describes_the_suppliers_terms() -> None:
    suppliers = load_config().suppliers

    assert set(suppliers) == {
        "sz-bright",
        "yw-textile",
        "gz-kitchen",
        "sz-volt",
        "dg-case",
        "lumen-labs",
        "yiwu-silk-co",
    }
    assert suppliers["sz-bright"].accepts is SupplierAccepts.DEFECTS
    assert suppliers["sz-bright"].window_days == 15
    assert suppliers["yw-textile"].accepts is SupplierAccepts.ANY
    assert suppliers["yw-textile"].restocking_fee_percent == Decimal(15)
    assert suppliers["gz-kitchen"].settlement is SupplierSettlement.CREDIT
    assert suppliers["gz-kitchen"].credit_needs_photos
    assert suppliers["gz-kitchen"].return_address is None
    assert suppliers["sz-volt"].video_required_for == (Reason.DOES_NOT_WORK,)
    assert suppliers["sz-volt"].holds_brand_authorisation


def test_sample_config_gives_eu_buyers_their_minimum_rights() -> None:
    config = load_config()

    (eu,) = config.minimum_rights_for("de")
    assert eu is config.minimum_rights["eu"]
    assert (eu.change_of_mind_days, eu.defect_days) == (14, 730)
    assert "swimwear" in eu.exempt_categories
    assert eu.refund_original_shipping
    assert {"FR", "ES", "IT", "PT", "BE", "NO"} <= set(eu.countries)
    assert config.minimum_rights_for("US") == []
    assert config.minimum_rights_for("GB") == []
    assert config.minimum_rights_for(None) == []


def test_a_minimal_config_takes_the_documented_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))

    shop = config.shop("aurora")
    assert shop.currency == "USD"
    assert shop.language == "en"
    assert shop.policy.change_of_mind_days == 30
    assert shop.policy.agent_review_reasons == (Reason.COUNTERFEIT,)
    assert config.suppliers == {}
    assert config.minimum_rights == {}


def test_the_configuration_is_frozen() -> None:
    config = load_config()
    with pytest.raises(ValueError, match="frozen"):
        config.shop("aurora").name = "Other"  # type: ignore[misc]


def test_config_models_can_be_built_from_a_dict_without_a_file() -> None:
    raw = load_config().model_dump(mode="json")
    raw["shops"]["aurora"]["policy"]["change_of_mind_days"] = 7

    config = Config.model_validate(raw)

    assert config.shop("aurora").policy.change_of_mind_days == 7
    assert config.shop("nova") == load_config().shop("nova")


# ── mistakes ───────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        pytest.param(
            MINIMAL + "[shops.aurora.policy]\nwindw_days = 30\n",
            "shops.aurora.policy.windw_days",
            "unknown key (check the spelling against the sample configuration)",
            id="unknown-key",
        ),
        pytest.param(
            MINIMAL + "[deploymnt]\nbot_username = 'x'\n",
            "deploymnt",
            "unknown key (check the spelling against the sample configuration)",
            id="unknown-top-level-table",
        ),
        pytest.param(
            MINIMAL + '[shops.aurora.policy]\nchange_of_mind_days = "thirty"\n',
            "shops.aurora.policy.change_of_mind_days",
            "Input should be a valid integer, unable to parse string as an integer",
            id="wrong-type",
        ),
        pytest.param(
            MINIMAL.replace('link_secret = "0123456789abcdef0123"\n', ""),
            "shops.aurora.link_secret",
            "required but missing",
            id="missing-link-secret",
        ),
        pytest.param(
            MINIMAL.replace("0123456789abcdef0123", "short"),
            "shops.aurora.link_secret",
            "String should have at least 16 characters",
            id="link-secret-too-short",
        ),
        pytest.param(
            MINIMAL + 'currency = "EURO"\n',
            "shops.aurora.currency",
            "must be an ISO 4217 code such as EUR",
            id="bad-currency",
        ),
        pytest.param(
            MINIMAL + '[suppliers.acme]\nname = "Acme"\naccepts = "any"\n',
            "suppliers.acme",
            "return_address is required when the supplier takes goods back",
            id="goods-back-supplier-without-return-address",
        ),
        pytest.param(
            MINIMAL + "[shops.aurora.policy]\nrestocking_fee_percent = 120\n",
            "shops.aurora.policy.restocking_fee_percent",
            "Input should be less than or equal to 100",
            id="percent-over-100",
        ),
        pytest.param(
            MINIMAL + "[shops.aurora.policy]\nauto_approve_below = -1\n",
            "shops.aurora.policy.auto_approve_below",
            "Input should be greater than or equal to 0",
            id="negative-amount",
        ),
        pytest.param(
            MINIMAL + '[suppliers.acme]\nname = "Acme"\naccepts = "some"\n',
            "suppliers.acme.accepts",
            "Input should be 'any', 'defects' or 'none'",
            id="unknown-enum-value",
        ),
        pytest.param(
            '[deployment]\nbot_username = "ReturnsDeskBot"\n',
            "shops",
            "required but missing",
            id="no-shops-table",
        ),
        pytest.param(
            "[shops]\n",
            "(top level)",
            "at least one shop is needed",
            id="empty-shops-table",
        ),
    ],
)
def test_a_config_mistake_names_the_file_the_key_and_the_problem(
    text: str, key: str, problem: str, tmp_path: Path
) -> None:
    path = write(tmp_path, text)

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    error = caught.value
    assert (error.file, error.key, error.problem) == (str(path), key, problem)
    assert str(error) == f"{path}: {key}: {problem}"


def test_an_unknown_reason_in_the_policy_names_the_reason_key(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "[shops.aurora.policy.reasons.damagd]\nallowed = false\n")

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert caught.value.key.startswith("shops.aurora.policy.reasons.damagd")
    assert "'damaged'" in caught.value.problem


def test_an_unknown_resolution_names_its_position_in_the_list(tmp_path: Path) -> None:
    text = MINIMAL + '[shops.aurora.policy]\nresolution_preference = ["refund", "refnd"]\n'
    path = write(tmp_path, text)

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert caught.value.key == "shops.aurora.policy.resolution_preference.1"
    assert "'refund'" in caught.value.problem


def test_invalid_toml_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "[shops.aurora.policy\n")

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    error = caught.value
    assert error.file == str(path)
    assert error.key == ""
    assert error.problem.startswith("not valid TOML: ")
    assert "line 5" in error.problem
    assert str(error) == f"{path}: {error.problem}"


def test_a_config_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(MINIMAL.replace("Aurora", "Aurôra").encode("latin-1"))

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert str(caught.value) == f"{path}: not UTF-8 text"


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "shops.toml"

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert (caught.value.file, caught.value.key) == (str(path), "")
    assert str(caught.value) == f"{path}: file not found"


def test_a_config_path_may_be_given_as_a_string(tmp_path: Path) -> None:
    config = load_config(str(write(tmp_path, MINIMAL)))
    assert list(config.shops) == ["aurora"]
