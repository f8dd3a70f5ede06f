"""The abuse signals as pure functions: each signal's threshold, and what a signal changes in a
decision (never a refusal)."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from core.cases.reasons import Reason
from core.money import Money
from core.orders.formats.detect import iter_orders
from core.policy.config import Config, Signals, load_config
from core.policy.decision import Claim, Decision, EvidenceCount, Review, decide
from core.policy.signals import Facts, PhotoMatch, Signal, apply, compute
from core.services.fingerprints import distance, fingerprint, phash
from tests.core.factories import NOW, SAMPLE_JSON

SETTINGS = Signals()  # many_cases 3, claim share 50 % over 2 cases, 60 minutes, distance 6


def codes(facts: Facts, settings: Signals = SETTINGS) -> list[str]:
    return [signal.code for signal in compute(settings, facts)]


@pytest.mark.parametrize(
    ("cases", "accounts", "flagged"),
    [(1, 1, False), (2, 2, False), (3, 1, True), (3, 2, True), (7, 3, True)],
)
def test_many_cases_is_raised_from_the_configured_count(
    cases: int, accounts: int, flagged: bool
) -> None:
    found = compute(
        SETTINGS,
        Facts(Reason.DAMAGED, NOW, cases_in_period=cases, accounts=accounts),
    )
    many = [s for s in found if s.code == "many_cases"]
    assert bool(many) is flagged
    if flagged:
        assert many[0].params == {"count": cases, "days": 90, "accounts": accounts}


@pytest.mark.parametrize(
    ("claimed", "bought", "cases", "percent"),
    [
        ("49.99", "100.00", 2, None),  # under half
        ("50.00", "100.00", 2, 50),  # exactly half
        ("90.00", "100.00", 1, None),  # a single claim is no pattern
        ("150.00", "100.00", 3, 150),  # more than bought (claims on older orders)
        ("10.00", "0.00", 3, None),  # nothing bought in the period: no share
    ],
)
def test_claim_share_is_claimed_over_bought_in_the_period(
    claimed: str, bought: str, cases: int, percent: int | None
) -> None:
    facts = Facts(
        Reason.DAMAGED,
        NOW,
        cases_in_period=cases,
        claimed=Money.parse(claimed, "EUR"),
        bought=Money.parse(bought, "EUR"),
    )
    share = [s for s in compute(SETTINGS.model_copy(update={"many_cases": 99}), facts)]
    if percent is None:
        assert share == []
    else:
        assert share == [
            Signal(
                "claim_share",
                {
                    "percent": percent,
                    "claimed": {"amount": claimed, "currency": "EUR"},
                    "bought": {"amount": bought, "currency": "EUR"},
                    "days": 90,
                },
            )
        ]


@pytest.mark.parametrize(
    ("reason", "delivered_ago", "params"),
    [
        (Reason.NOT_RECEIVED, None, None),  # no delivery scan
        (Reason.NOT_RECEIVED, timedelta(minutes=12), {"minutes": 12}),
        (Reason.NOT_RECEIVED, timedelta(minutes=60), {"minutes": 60}),
        (Reason.NOT_RECEIVED, timedelta(minutes=61), {}),  # delivered, not "minutes after"
        (Reason.DAMAGED, timedelta(minutes=5), None),  # not a "not received" claim
    ],
)
def test_not_received_on_a_delivery_scan(
    reason: Reason, delivered_ago: timedelta | None, params: dict[str, int] | None
) -> None:
    delivered = NOW - delivered_ago if delivered_ago is not None else None
    found = [s for s in compute(SETTINGS, Facts(reason, NOW, delivered_at=delivered))]
    if params is None:
        assert found == []
    else:
        assert delivered is not None
        assert found == [
            Signal("not_received_delivered", {"delivered_at": delivered.isoformat(), **params})
        ]


@pytest.mark.parametrize(
    ("distances", "expected"),
    [
        ((), None),
        ((7,), None),  # over the default distance of 6
        ((6,), ("R-2611-0001", 6)),
        ((9, 2, 4), ("R-2611-0002", 2)),  # the nearest names the case
    ],
)
def test_same_photo_within_the_hamming_distance(
    distances: tuple[int, ...], expected: tuple[str, int] | None
) -> None:
    matches = tuple(
        PhotoMatch(f"R-2611-{n:04d}", d, other_buyer=True) for n, d in enumerate(distances, 1)
    )
    found = compute(SETTINGS, Facts(Reason.DAMAGED, NOW, photo_matches=matches))
    if expected is None:
        assert found == []
    else:
        [signal] = found
        assert (signal.code, signal.params["case"], signal.params["distance"]) == (
            "same_photo",
            *expected,
        )
        assert signal.params["other_buyer"] is True


@pytest.mark.parametrize(
    ("taken_before", "flagged"),
    [(timedelta(days=3), True), (timedelta(seconds=1), True), (timedelta(days=-1), False)],
)
def test_a_file_taken_before_the_delivery(taken_before: timedelta, flagged: bool) -> None:
    delivered = NOW - timedelta(days=5)
    facts = Facts(
        Reason.DAMAGED, NOW, delivered_at=delivered, photos_taken=(delivered - taken_before,)
    )
    assert codes(facts) == (["photo_before_delivery"] if flagged else [])


@pytest.mark.parametrize(
    ("reason", "categories", "days_left", "flagged"),
    [
        (Reason.CHANGED_MIND, ("costume",), 2, True),
        (Reason.CHANGED_MIND, ("costume",), 3, True),
        (Reason.CHANGED_MIND, ("costume",), 4, False),  # not the end of the window yet
        (Reason.CHANGED_MIND, ("lighting",), 1, False),  # not an occasion category
        (Reason.DAMAGED, ("party",), 1, False),  # a defect is no change of mind
    ],
)
def test_change_of_mind_at_the_end_of_the_window_for_an_occasion(
    reason: Reason, categories: tuple[str, ...], days_left: int, flagged: bool
) -> None:
    settings = SETTINGS.model_copy(update={"occasion_categories": ("costume", "party")})
    facts = Facts(
        reason,
        NOW,
        categories=categories,
        window_ends=NOW + timedelta(days=days_left, hours=5),
    )
    assert codes(facts, settings) == (["occasion_return"] if flagged else [])


def test_signals_can_be_switched_off() -> None:
    off = SETTINGS.model_copy(update={"enabled": False})
    assert codes(Facts(Reason.DAMAGED, NOW, cases_in_period=50), off) == []


# ── what a signal changes in a decision ──────────────────────────────────────────────────


def _lamp_decision() -> tuple[Config, Decision]:
    """AUR-10021's damaged lamp with its three photos: approved at once by the policy."""
    config = load_config()
    order = next(o for o in iter_orders(SAMPLE_JSON) if o.number == "AUR-10021")
    decision = decide(
        config=config,
        order=order,
        claims=[Claim(1, 1)],
        reason=Reason.DAMAGED,
        evidence=EvidenceCount(photos=3),
        now=NOW,
    )
    assert decision.review is Review.AUTOMATIC
    return config, decision


@pytest.mark.parametrize(
    ("action", "agents", "review", "code", "videos_missing"),
    [
        ("review", True, Review.AGENT, "review_by_agent_signals", False),
        ("review", False, Review.SELLER, "review_by_seller", False),
        ("video", True, Review.AUTOMATIC, "approved_automatically", True),
        ("show", True, Review.AUTOMATIC, "approved_automatically", False),
    ],
)
def test_what_each_action_does_to_an_automatic_approval(
    action: str, agents: bool, review: Review, code: str, videos_missing: bool
) -> None:
    config, decision = _lamp_decision()
    config = config.model_copy(
        update={"signals": config.signals.model_copy(update={"actions": {"same_photo": action}})}
    )
    flagged = apply(
        config, decision, [Signal("same_photo", {"case": "R-1"})], agents=agents, videos=0, now=NOW
    )
    assert flagged.eligible  # never a refusal
    assert flagged.review is review
    assert code in flagged.codes() and (code == "approved_automatically") == (
        "approved_automatically" in flagged.codes()
    )
    assert any(m.what == "videos" for m in flagged.missing) is videos_missing
    if review is not Review.AUTOMATIC:
        assert flagged.deadlines["decision_by"] > NOW


# ── fingerprints ──────────────────────────────────────────────────────────────────────────


def picture(seed: int, *, size: tuple[int, int] = (640, 480), quality: int = 90) -> bytes:
    """A photo-like picture: coarse random blocks, smoothed, saved as JPEG."""
    rng = random.Random(seed)
    small = Image.new("RGB", (16, 12))
    small.putdata(
        [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(192)]
    )
    out = io.BytesIO()
    small.resize(size, Image.Resampling.BICUBIC).save(out, "JPEG", quality=quality)
    return out.getvalue()


def test_the_same_picture_re_encoded_or_resized_keeps_nearly_the_same_phash() -> None:
    original = fingerprint(picture(1), document=False)
    again = fingerprint(picture(1, size=(1024, 768), quality=55), document=False)
    other = fingerprint(picture(2), document=False)
    assert original and again and other
    assert original.phash and again.phash and other.phash
    assert picture(1) != picture(1, size=(1024, 768), quality=55)
    assert distance(original.phash, again.phash) <= 6
    assert distance(original.phash, other.phash) > 12


def test_the_phash_is_imagehash_s_to_the_bit_so_stored_hashes_still_match() -> None:
    """Hashes stored before (imagehash with SciPy's DCT) meet hashes computed now: the same
    picture must give the same 16 digits, one-colour pictures and odd sizes included."""
    import imagehash  # its phash imports SciPy: here, not in the bot

    pictures = [Image.open(io.BytesIO(picture(seed, size=(640 + seed, 480)))) for seed in range(12)]
    pictures += [
        Image.new("RGB", size, colour)
        for size, colour in (
            ((1, 1), "red"),
            ((300, 20), (12, 200, 90)),
            ((64, 64), "white"),
            ((640, 480), "black"),
        )
    ]
    pictures += [Image.open(io.BytesIO(picture(99, size=(7, 900)))).convert("L")]
    ours = [phash(image) for image in pictures]
    assert ours == [str(imagehash.phash(image)) for image in pictures]
    assert len(set(ours)) > 12


def test_exif_date_is_read_from_files_only() -> None:
    image = Image.open(io.BytesIO(picture(3)))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = "2026:11:01 08:30:00"
    exif.get_ifd(0x8769)[36881] = "+02:00"
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    as_file = fingerprint(out.getvalue(), document=True)
    as_photo = fingerprint(out.getvalue(), document=False)
    assert as_file is not None and as_photo is not None
    assert as_file.taken_at == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    assert as_photo.taken_at is None  # Telegram strips it from photos: never trusted there


def test_bytes_that_are_no_picture_have_no_fingerprint() -> None:
    assert fingerprint(b"\xff\xd8\xff\xe0" + bytes(100), document=True) is None


def test_megabytes_that_only_start_like_a_jpeg_never_reach_pillow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Pillow crawls such junk byte by byte holding the GIL (seconds for a few MB): refused first
    import core.services.fingerprints as fingerprints

    real_open = fingerprints.Image.open
    opened: list[int] = []

    def watched_open(fp, *args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(1)
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(fingerprints.Image, "open", watched_open)
    junk = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(5_000_000) + b"\xff\xd9"
    assert fingerprint(junk, document=True) is None
    assert opened == []
    assert fingerprint(picture(4), document=False) is not None  # a real JPEG still goes through
    png = io.BytesIO()
    real_open(io.BytesIO(picture(4))).save(png, "PNG")
    assert fingerprint(png.getvalue(), document=False) is not None  # and other formats
    assert len(opened) == 2
