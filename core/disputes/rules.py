"""The platforms' dispute rules, as configuration data, and their deadlines.

Each platform (``[disputes.platforms.<id>]``) has one or more rule versions, each with the
day it took effect (``since``) and where it comes from (``source``); a dispute is held to the
version in force on the day it opened, and keeps that version's code. A version lists its
stages (the first is the one a new dispute is in) and its deadlines: what each one counts
from (the opening, the entry into a stage, the shipping, the promised delivery, or the due
date the payment processor gave), how long (hours, calendar days or business days, in the
version's time zone, business days skipping weekends and the public holidays of a country
from the ``holidays`` package), whether the seller must act before it (reminders, and an
agent when it is missed) and what happens when it passes.

Everything here is pure: no database, no clock.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Unit(StrEnum):
    HOURS = "hours"
    CALENDAR_DAYS = "calendar_days"
    BUSINESS_DAYS = "business_days"


class Anchor(StrEnum):
    OPENED = "opened"  # the dispute was opened on the platform
    STAGE = "stage"  # the dispute entered the stage the deadline belongs to
    SHIPPED = "shipped"  # the order's (first) parcel left
    PROMISED_DELIVERY = "promised_delivery"  # shipping + the longest estimate
    DUE_GIVEN = "due_given"  # the evidence due date the payment processor gave


def _check_country(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.upper()
    if value not in _country_codes():
        raise ValueError(f"no public holidays known for the country {value!r}")
    return value


@cache
def _country_codes() -> frozenset[str]:
    """The country codes and aliases ``holidays`` knows (its ``EntityLoader.get_country_codes``),
    read from the package's registry file without importing the package: the import is
    about 9 MB resident and its public ``list_supported_countries`` 8 MB more, in every
    process whose configuration names a country, where the calendars themselves are needed
    only when a dispute's deadline is counted. A test checks the codes against the
    package's own; another layout of a later release falls back to importing it."""
    try:
        spec = importlib.util.find_spec("holidays")  # a top-level package: not imported
        folders = list(spec.submodule_search_locations or ()) if spec else []
        registry = ast.parse((Path(folders[0]) / "registry.py").read_text(encoding="utf-8"))
        for node in registry.body:
            if isinstance(node, ast.AnnAssign | ast.Assign):
                targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
                if any(getattr(t, "id", None) == "COUNTRIES" for t in targets) and node.value:
                    entities = ast.literal_eval(node.value)
                    return frozenset(
                        code
                        for entity in entities.values()
                        for code in entity[1:]
                        if 2 <= len(code) <= 3  # as EntityLoader: names of classes are longer
                    )
    except (OSError, IndexError, SyntaxError, ValueError, TypeError, AttributeError):
        pass
    from holidays.registry import EntityLoader  # pragma: no cover - another layout

    return frozenset(EntityLoader.get_country_codes())  # pragma: no cover


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


class DeadlineRule(_Strict):
    code: Code  # seller_response, platform_steps_in, return_ship, appeal, evidence_due …
    after: Anchor = Anchor.OPENED
    amount: Annotated[int, Field(ge=0, le=10000)] = 0
    unit: Unit = Unit.CALENDAR_DAYS
    stages: tuple[Code, ...] = ()  # while the dispute is in one of these (empty: the first)
    seller_must_act: bool = True  # reminders before it; an agent is called when it passes
    then: Code | None = None  # what happens when it passes: buyer_wins, platform_steps_in …


class RulesVersion(_Strict):
    version: Annotated[str, Field(min_length=1, max_length=32)]
    since: date
    source: Annotated[str, Field(min_length=1)]  # a URL or a document's name
    timezone: str = "UTC"
    holidays_country: str | None = None  # business days: this country's public holidays
    stages: tuple[Code, ...] = ("opened",)
    due_date_given: bool = False  # chargebacks: staff record the processor's due date
    deadlines: tuple[DeadlineRule, ...] = ()

    _zone = field_validator("timezone")(_check_zone)
    _country = field_validator("holidays_country")(_check_country)

    @model_validator(mode="after")
    def _consistent(self) -> RulesVersion:
        if not self.stages:
            raise ValueError("at least one stage is needed")
        codes = set()
        for rule in self.deadlines:
            for stage in rule.stages:
                if stage not in self.stages:
                    raise ValueError(f"deadline {rule.code}: unknown stage {stage!r}")
            if rule.after is Anchor.DUE_GIVEN and not self.due_date_given:
                raise ValueError(f"deadline {rule.code}: due_given needs due_date_given = true")
            key = (rule.code, rule.stages)
            if key in codes:
                raise ValueError(f"deadline {rule.code} is given twice")
            codes.add(key)
        return self

    def applies_in(self, rule: DeadlineRule, stage: str) -> bool:
        return stage in (rule.stages or self.stages[:1])


class Platform(_Strict):
    name: str
    versions: Annotated[tuple[RulesVersion, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _distinct(self) -> Platform:
        if len({v.version for v in self.versions}) != len(self.versions):
            raise ValueError("two versions have the same name")
        return self

    def version_on(self, day: date) -> RulesVersion:
        """The rules in force on ``day``: the latest that had started (the oldest if none)."""
        started = [v for v in self.versions if v.since <= day]
        if not started:
            return min(self.versions, key=lambda v: v.since)
        return max(started, key=lambda v: v.since)

    def version_named(self, name: str) -> RulesVersion | None:
        return next((v for v in self.versions if v.version == name), None)


class Disputes(_Strict):
    """``[disputes]``: the platforms and how business days are counted."""

    holidays_country: str | None = None  # when neither the shop nor the platform says
    shop_holidays: dict[str, str] = {}  # shop id → country (wins over the platform's)
    remind_hours: tuple[Annotated[int, Field(ge=1, le=24 * 30)], ...] = (48, 24, 4)
    platforms: dict[Code, Platform] = {}

    _country = field_validator("holidays_country")(_check_country)

    @field_validator("shop_holidays")
    @classmethod
    def _shop_countries(cls, value: dict[str, str]) -> dict[str, str]:
        return {shop: _check_country(country) or "" for shop, country in value.items()}

    def country_for(self, shop: str, version: RulesVersion) -> str | None:
        return self.shop_holidays.get(shop) or version.holidays_country or self.holidays_country


# ── the computation ──────────────────────────────────────────────────────────────────────


@cache
def _holidays(country: str) -> object:
    import holidays

    return holidays.country_holidays(country)


def business_day_test(country: str | None) -> Callable[[date], bool]:
    """Monday to Friday, not a public holiday of ``country`` (none known: weekends only)."""
    days = _holidays(country) if country else None

    def is_business(day: date) -> bool:
        return day.weekday() < 5 and (days is None or day not in days)  # type: ignore[operator]

    return is_business


def _localize(naive: datetime, zone: ZoneInfo) -> datetime:
    return naive.replace(tzinfo=zone).astimezone(UTC)


def add_period(
    start: datetime,
    amount: int,
    unit: Unit,
    zone: ZoneInfo,
    is_business: Callable[[date], bool],
) -> datetime:
    """``start`` plus ``amount`` hours, calendar days or business days, in ``zone``.

    Days keep the wall-clock time (a day across a change of summer time is 23 or 25 hours).
    Business days skip weekends and holidays; a period that starts on a day off starts at
    midnight of the next business day (3 business days from Saturday end on Wednesday night).
    """
    start = start.astimezone(UTC)
    if unit is Unit.HOURS:
        return start + timedelta(hours=amount)
    local = start.astimezone(zone).replace(tzinfo=None)
    if unit is Unit.CALENDAR_DAYS:
        return _localize(local + timedelta(days=amount), zone)
    if not is_business(local.date()):
        day = local.date() + timedelta(days=1)
        while not is_business(day):
            day += timedelta(days=1)
        local = datetime.combine(day, time())
    day, counted = local.date(), 0
    while counted < amount:
        day += timedelta(days=1)
        if is_business(day):
            counted += 1
    return _localize(datetime.combine(day, local.time()), zone)


def end_of_day(day: date, zone: ZoneInfo) -> datetime:
    """The last minute of ``day`` in ``zone``: a due date given as a day."""
    return _localize(datetime.combine(day, time(23, 59)), zone)


@dataclass(frozen=True, slots=True)
class Anchors:
    """The moments deadlines count from; None: unknown (the deadline is left out)."""

    opened: datetime
    stage_entered: datetime
    shipped: datetime | None = None
    promised_delivery: datetime | None = None
    due_given: datetime | None = None

    def of(self, anchor: Anchor) -> datetime | None:
        return {
            Anchor.OPENED: self.opened,
            Anchor.STAGE: self.stage_entered,
            Anchor.SHIPPED: self.shipped,
            Anchor.PROMISED_DELIVERY: self.promised_delivery,
            Anchor.DUE_GIVEN: self.due_given,
        }[anchor]


@dataclass(frozen=True, slots=True)
class Deadline:
    code: str
    due_at: datetime  # UTC
    seller_must_act: bool
    then: str | None
    stage: str


def deadlines(
    version: RulesVersion, stage: str, anchors: Anchors, country: str | None
) -> list[Deadline]:
    """The deadlines of a dispute in ``stage`` under ``version``, the nearest first."""
    zone = ZoneInfo(version.timezone)
    is_business = business_day_test(country)
    found = []
    for rule in version.deadlines:
        if not version.applies_in(rule, stage):
            continue
        start = anchors.of(rule.after)
        if start is None:
            continue
        due = add_period(start, rule.amount, rule.unit, zone, is_business)
        found.append(Deadline(rule.code, due, rule.seller_must_act, rule.then, stage))
    return sorted(found, key=lambda d: d.due_at)


def reminder_due(
    due_at: datetime, now: datetime, hours: Iterable[int], sent: Iterable[int]
) -> int | None:
    """The reminder to send now for a deadline, if any: the most urgent whose time has come
    and that was not sent (a timer that ran late sends one, not three); None once the
    deadline has passed."""
    if now >= due_at:
        return None
    came = [h for h in hours if now >= due_at - timedelta(hours=h)]
    if not came:
        return None
    urgent = min(came)
    return None if urgent in set(sent) else urgent


def remaining(due_at: datetime, now: datetime) -> tuple[int, int, int]:
    """Days, hours and minutes left (zeros once passed)."""
    seconds = max(int((due_at - now).total_seconds()), 0)
    return seconds // 86400, seconds % 86400 // 3600, seconds % 3600 // 60
