"""The platforms' dispute deadlines, computed from the rules in the configuration: hours,
calendar days and business days (weekends and public holidays skipped) in the platform's
time zone; which rules version a dispute is held to; when a reminder is due."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from core.disputes.rules import (
    Anchors,
    Disputes,
    Platform,
    RulesVersion,
    Unit,
    add_period,
    business_day_test,
    deadlines,
    reminder_due,
)
from core.policy.config import load_config

ROOT = Path(__file__).resolve().parents[2]

NY = ZoneInfo("America/New_York")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone).astimezone(UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("start", "amount", "unit", "country", "expected"),
    [
        # calendar days keep the wall time, weekends and holidays count
        (local(NY, 2026, 11, 25, 10), 5, Unit.CALENDAR_DAYS, "US", local(NY, 2026, 11, 30, 10)),
        # across the end of summer time (1 November 2026 in New York): 10:00 stays 10:00
        (local(NY, 2026, 10, 30, 10), 3, Unit.CALENDAR_DAYS, "US", local(NY, 2026, 11, 2, 10)),
        (local(NY, 2026, 11, 25, 10), 72, Unit.HOURS, "US", local(NY, 2026, 11, 28, 10)),
        # Wednesday + 3 business days: Thanksgiving (Thu 26) and the weekend are skipped
        (local(NY, 2026, 11, 25, 10), 3, Unit.BUSINESS_DAYS, "US", local(NY, 2026, 12, 1, 10)),
        # without a holiday calendar, only the weekend is skipped
        (local(NY, 2026, 11, 25, 10), 3, Unit.BUSINESS_DAYS, None, local(NY, 2026, 11, 30, 10)),
        # Wednesday before Christmas (Fri 25 December)
        (local(NY, 2026, 12, 23, 9), 3, Unit.BUSINESS_DAYS, "US", local(NY, 2026, 12, 29, 9)),
        # opened on a Saturday: counting starts Monday at midnight, ends Wednesday night
        (local(NY, 2026, 11, 28, 15), 3, Unit.BUSINESS_DAYS, "US", local(NY, 2026, 12, 3, 0)),
        # Friday + 1 business day: Monday
        (local(NY, 2026, 12, 4, 17), 1, Unit.BUSINESS_DAYS, "US", local(NY, 2026, 12, 7, 17)),
    ],
)
def test_a_period_counts_in_the_platforms_zone_and_calendar(
    start: datetime, amount: int, unit: Unit, country: str | None, expected: datetime
) -> None:
    assert add_period(start, amount, unit, NY, business_day_test(country)) == expected


def test_business_days_know_the_holidays_of_the_country() -> None:
    us, de = business_day_test("US"), business_day_test("DE")
    assert not us(date(2026, 11, 26))  # Thanksgiving
    assert de(date(2026, 11, 26))
    assert not de(date(2026, 12, 25)) and not us(date(2026, 12, 25))
    assert not us(date(2026, 11, 28))  # a Saturday


def aliexpress(unit: Unit = Unit.CALENDAR_DAYS) -> RulesVersion:
    return RulesVersion.model_validate(
        {
            "version": "test",
            "since": "2024-01-01",
            "source": "test",
            "timezone": "Asia/Shanghai",
            "stages": ["opened", "return_agreed"],
            "deadlines": [
                {"code": "open_from", "after": "shipped", "amount": 10, "seller_must_act": False},
                {"code": "seller_response", "amount": 5, "unit": unit.value},
                {"code": "platform_steps_in", "amount": 7},
                {
                    "code": "return_ship",
                    "after": "stage",
                    "amount": 10,
                    "stages": ["return_agreed"],
                    "seller_must_act": False,
                },
            ],
        }
    )


def test_deadlines_of_a_stage_from_their_anchors_nearest_first() -> None:
    opened = local(SHANGHAI, 2026, 11, 25, 0)
    anchors = Anchors(opened=opened, stage_entered=opened, shipped=local(SHANGHAI, 2026, 11, 1, 8))
    found = deadlines(aliexpress(), "opened", anchors, None)
    assert [(d.code, d.due_at) for d in found] == [
        ("open_from", local(SHANGHAI, 2026, 11, 11, 8)),
        ("seller_response", local(SHANGHAI, 2026, 11, 30, 0)),
        ("platform_steps_in", local(SHANGHAI, 2026, 12, 2, 0)),
    ]
    # in business days with the US holidays: Thanksgiving and a weekend in the way
    business = deadlines(aliexpress(Unit.BUSINESS_DAYS), "opened", anchors, "US")
    due = {d.code: d.due_at for d in business}
    assert due["seller_response"] == local(SHANGHAI, 2026, 12, 3, 0)  # Thu 26, Sat, Sun skipped
    assert due["platform_steps_in"] == local(SHANGHAI, 2026, 12, 2, 0)  # calendar days still
    # the agreed return's deadline counts from the day the stage began
    agreed = local(SHANGHAI, 2026, 11, 27, 14)
    later = deadlines(aliexpress(), "return_agreed", Anchors(opened, agreed), None)
    assert [(d.code, d.due_at, d.seller_must_act) for d in later] == [
        ("return_ship", local(SHANGHAI, 2026, 12, 7, 14), False)
    ]
    # an unknown anchor (no shipment) leaves its deadline out
    assert "open_from" not in {
        d.code for d in deadlines(aliexpress(), "opened", Anchors(opened, opened), None)
    }


def test_a_dispute_is_held_to_the_version_of_its_day() -> None:
    old = aliexpress().model_copy(update={"version": "2023", "since": date(2023, 1, 1)})
    new = aliexpress().model_copy(update={"version": "2026", "since": date(2026, 6, 1)})
    platform = Platform(name="AliExpress", versions=(new, old))
    assert platform.version_on(date(2026, 5, 31)).version == "2023"
    assert platform.version_on(date(2026, 6, 1)).version == "2026"
    assert platform.version_on(date(2020, 1, 1)).version == "2023"  # the oldest known


@pytest.mark.parametrize(
    ("hours_left", "sent", "expected"),
    [
        (49, [], None),
        (48, [], 48),
        (47, [48], None),
        (23, [48], 24),
        (23, [48, 24], None),
        (3, [], 4),  # a timer that ran late sends the most urgent one only
        (3, [48, 24, 4], None),
        (0, [], None),  # passed: the timer calls an agent instead
    ],
)
def test_one_reminder_per_lead_time(hours_left: int, sent: list[int], expected: int | None) -> None:
    due = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert reminder_due(due, due - timedelta(hours=hours_left), (48, 24, 4), sent) == expected


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"holidays_country": "XX"}, "no public holidays known"),
        (
            {"deadlines": [{"code": "x", "stages": ["nowhere"]}]},
            "unknown stage",
        ),
        ({"deadlines": [{"code": "x", "after": "due_given"}]}, "due_date_given"),
    ],
)
def test_a_wrong_rule_is_refused_with_its_reason(change: dict[str, object], message: str) -> None:
    raw = {"version": "v", "since": "2024-01-01", "source": "s", **change}
    with pytest.raises(ValidationError, match=message):
        RulesVersion.model_validate(raw)


def test_the_sample_configuration_ships_the_platforms_with_their_sources() -> None:
    found = load_config().disputes
    assert isinstance(found, Disputes)
    assert set(found.platforms) == {
        "aliexpress",
        "amazon",
        "ebay",
        "paypal",
        "shopify_payments",
        "stripe",
    }
    for platform in found.platforms.values():
        assert all(version.source for version in platform.versions)
    ebay = found.platforms["ebay"].versions[0]
    assert ebay.deadlines[0].unit is Unit.BUSINESS_DAYS and ebay.deadlines[0].amount == 3
    assert found.platforms["stripe"].versions[0].due_date_given


def test_the_countries_read_from_holidays_registry_are_the_package_s_own() -> None:
    from holidays.registry import EntityLoader

    from core.disputes.rules import _country_codes

    assert _country_codes() == frozenset(EntityLoader.get_country_codes())
    assert {"US", "CN", "DE", "GB", "UK", "USA"} <= _country_codes()  # aliases too


def test_a_configuration_naming_countries_loads_without_importing_holidays() -> None:
    """The package is about 9 MB resident: a process that reads the configuration (every
    command, the bot) loads it only when a dispute's deadline is counted."""
    code = (
        "import sys\n"
        "from core.policy.config import load_config\n"
        "config = load_config('core/sample/shops.toml')\n"
        "assert config.disputes.holidays_country, 'the sample names a country'\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'holidays'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
