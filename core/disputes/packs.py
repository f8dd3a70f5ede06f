"""What each platform accepts as dispute evidence files: formats, the size of one file and of
all of them, where that comes from. When a source was unclear the limit is set lower than
what it said (``conservative``): a pack that is a little smaller than allowed is uploaded,
one that is a little larger is refused by the form."""

from __future__ import annotations

from dataclasses import dataclass

MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class PackProfile:
    key: str  # what /export … --for takes
    name: str
    formats: frozenset[str]  # "pdf", "jpeg", "png", "gif"
    per_file: int  # bytes
    total: int  # bytes, every uploaded file together (the summary PDF included)
    source: str
    conservative: str | None = None  # what was lowered, and why


PROFILES: dict[str, PackProfile] = {
    profile.key: profile
    for profile in (
        PackProfile(
            key="shopify",
            name="Shopify Payments",
            formats=frozenset({"pdf", "jpeg", "png"}),
            per_file=2 * MB,
            total=4 * MB,
            source="Shopify Help Center, Chargebacks: evidence files are PDF, JPEG or PNG, "
            "2 MB each at most and 4 MB in all (https://help.shopify.com/en/manual/payments/"
            "chargebacks); the Admin API refuses more with FILES_SIZE_EXCEEDED_LIMIT",
        ),
        PackProfile(
            key="stripe",
            name="Stripe",
            formats=frozenset({"pdf", "jpeg", "png"}),
            per_file=4 * MB,
            total=4_500_000,
            source="Stripe Docs, Responding to disputes: PDF, JPEG or PNG, the combined size "
            "of the evidence files at most 4.5 MB (https://docs.stripe.com/disputes/responding)",
            conservative="4.5 MB read as 4,500,000 bytes; one file kept under 4 MB",
        ),
        PackProfile(
            key="paypal",
            name="PayPal",
            formats=frozenset({"pdf", "jpeg", "png", "gif"}),
            per_file=10_000_000 - 1,
            total=45 * MB,
            source="PayPal Developer, Disputes: supported file types and sizes: .jpg, .jpeg, "
            ".gif, .png, .pdf, less than 10 MB a file, up to 50 MB per call "
            "(https://developer.paypal.com/platforms/disputes/reference/"
            "supported-file-types-sizes)",
            conservative="45 MB in all, under the 50 MB a Telegram bot may send as one file",
        ),
        PackProfile(
            key="aliexpress",
            name="AliExpress",
            formats=frozenset({"jpeg", "png"}),
            per_file=2 * MB,
            total=10 * MB,
            source="AliExpress Help Center, disputes: 'The size of the evidence should be "
            "limited to 2MB' (help.aliexpress.com, Disputes & Refunds)",
            conservative="photos only (JPEG, PNG): whether a PDF is taken is not said; no total "
            "is published, 10 MB assumed",
        ),
    )
}
