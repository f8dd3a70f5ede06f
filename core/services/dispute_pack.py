"""The evidence pack fitted to one platform's upload form: ``/export R-… --for shopify``.

The full pack (core/services/export.py) keeps every original; a platform takes only some
formats and sizes (core/disputes/packs.py). This one holds what the seller uploads:

- ``summary.pdf``: one page, in English: the order, its tracking with the delivery scan, the
  buyer's words (with their English machine translation when one was made), the decision and
  its reasons, and the disputes recorded on the case;
- ``evidence/NN-photo.jpg`` …: the photos, as they are when they fit, else re-encoded and
  downscaled (Pillow) until they do, each within the platform's size for one file and all of
  them, the PDF included, within its total;
- ``form-text.txt``: the English text to paste in the platform's response form;
- ``README.txt``: the platform's limits and where they come from, and what was left out and
  why (a video the form does not take, a photo that cannot be made small enough, a file only
  Telegram has).

PDF: fpdf2 (pure Python, maintained, embeds TrueType fonts as subsets); the font is DejaVu
Sans from matplotlib's bundled fonts (Latin, Cyrillic, Greek, Arabic letters …). A character
the font lacks (Chinese) is shown as "?" in the PDF, and the README says so: the words are
complete in form-text.txt and in the full pack.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from core.cases.lifecycle import Role
from core.cases.model import Actor, AuditEvent, Case, Evidence
from core.disputes.packs import MB, PROFILES, PackProfile
from core.errors import Forbidden, ValidationFailed
from core.orders.model import Order, Shipment
from core.persistence.repositories.disputes import Dispute
from core.persistence.repositories.translations import TranslationRepository, text_hash
from core.persistence.sqlite_driver import long_statements
from core.services.cases import get_case
from core.services.context import CoreContext
from core.zip_pack import ZipPack

# the image formats Pillow names, as the profiles name them
PIL_FORMATS = {"JPEG": "jpeg", "PNG": "png", "GIF": "gif"}
EXTENSIONS = {"jpeg": ".jpg", "png": ".png", "gif": ".gif", "pdf": ".pdf"}
MAX_SIDE, MIN_SIDE = 2560, 480  # the longest side of a photo made smaller
QUALITIES = (85, 70, 55)
MAX_WORDS = 900  # characters of the buyer's words in the one-page summary, at first


@dataclass(frozen=True, slots=True)
class PlatformPack:
    filename: str  # R-2611-0001-shopify.zip
    data: bytes
    profile: PackProfile
    uploads: list[tuple[str, int]]  # (name in the ZIP, size): what goes in the form
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (what, why code)
    reencoded: list[str] = field(default_factory=list)

    @property
    def upload_bytes(self) -> int:
        return sum(size for _, size in self.uploads)


def profile_of(key: str) -> PackProfile:
    found = PROFILES.get(key.strip().lower())
    if found is None:
        raise ValidationFailed(
            f"no evidence profile {key!r}",
            code="unknown_platform",
            platform=key,
            known=", ".join(sorted(PROFILES)),
        )
    return found


@long_statements
async def platform_pack(ctx: CoreContext, actor: Actor, number: str, key: str) -> PlatformPack:
    """The pack for one platform's form, for the case's shop's sellers and for agents."""
    profile = profile_of(key)
    if actor.role not in (Role.SELLER, Role.AGENT, Role.SYSTEM):  # the system: the CLI
        raise Forbidden("only sellers and agents export a case", code="not_staff")
    view = await get_case(ctx, actor, number)  # checks that this person may see this case
    case, order = view.case, view.order
    assert case.id is not None
    async with ctx.unit_of_work() as uow:
        disputes = (await uow.disputes.for_cases([case.id]))[case.id]
        words = _buyer_words(case, view.timeline)
        english: dict[str, str] = {}
        stored = await TranslationRepository(uow.session).of_hashes(
            text_hash(text) for _, text in words
        )
        for row in stored:
            if row.target_language.lower().startswith("en"):
                english[row.source_hash] = row.text
    shop = ctx.config.shops.get(case.shop)
    shop_name = shop.name if shop is not None else case.shop

    def read_and_build() -> PlatformPack:  # file and CPU work: off the event loop
        files = [
            (
                piece,
                ctx.evidence.read(piece.sha256) if piece.sha256 and _stored(ctx, piece) else None,
            )
            for piece in case.evidence
        ]
        return _build(
            profile,
            case,
            order,
            shop_name,
            words,
            english,
            disputes,
            files,
            now,
        )

    now = ctx.now()
    return await asyncio.to_thread(read_and_build)


def _stored(ctx: CoreContext, piece: Evidence) -> bool:
    if not piece.sha256:
        return False
    try:
        return ctx.evidence.exists(piece.sha256)
    except ValueError:
        return False


def _buyer_words(case: Case, timeline: Sequence[AuditEvent]) -> list[tuple[datetime, str]]:
    words = []
    if case.description:
        words.append((case.opened_at, case.description))
    for event in timeline:
        if event.action == "message" and event.actor_role is Role.BUYER and event.note:
            words.append((event.at, event.note))
    return words


# ── fitting the files ──────────────────────────────────────────────────────────────────────


def _image_format(data: bytes) -> str | None:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            return PIL_FORMATS.get(image.format or "", (image.format or "").lower() or None)
    except Exception:  # not an image Pillow reads
        return None


def _shrink(data: bytes, budget: int) -> bytes | None:
    """The photo as a JPEG of at most ``budget`` bytes (smaller, lower quality as needed),
    without its metadata (a buyer's photo may carry where it was taken); None if impossible.
    The first size tried is guessed from the bytes per pixel, so a large photo takes a few
    encodings, not dozens."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as original:
        image = ImageOps.exif_transpose(original).convert("RGB")
    longest = max(image.size)
    side = min(longest, MAX_SIDE, int(longest * (budget / max(len(data), 1)) ** 0.5 * 1.2))
    side = max(side, MIN_SIDE)
    while True:
        scaled = image
        if longest > side:
            scaled = image.copy()
            scaled.thumbnail((side, side), Image.Resampling.LANCZOS)
        for quality in QUALITIES:
            out = io.BytesIO()
            scaled.save(out, "JPEG", quality=quality)
            if out.tell() <= budget:
                return out.getvalue()
        if side <= MIN_SIDE:
            return None
        side = max(int(side * 0.75), MIN_SIDE)


def _kind(piece: Evidence, fmt: str | None) -> str:
    if piece.is_video:
        return "video"
    if fmt in ("jpeg", "png", "gif") or piece.kind.value == "photo":
        return "photo"
    return "document"


def _build(
    profile: PackProfile,
    case: Case,
    order: Order,
    shop_name: str,
    words: list[tuple[datetime, str]],
    english: dict[str, str],
    disputes: list[Dispute],
    files: list[tuple[Evidence, bytes | None]],
    now: datetime,
) -> PlatformPack:
    dropped: list[tuple[str, str]] = []
    reencoded: list[str] = []
    candidates: list[tuple[str, bytes, str | None]] = []  # (label, content, format)
    for number, (piece, content) in enumerate(files, start=1):
        label = f"{number:02d}"
        if content is None:
            dropped.append((f"{label} {_kind(piece, None)}", "only_on_telegram"))
            continue
        fmt = "pdf" if content.startswith(b"%PDF-") else _image_format(content)
        kind = _kind(piece, fmt)
        if kind == "video":
            dropped.append((f"{label} video", "format_not_accepted"))
            continue
        if fmt is None or (fmt == "pdf" and "pdf" not in profile.formats):
            dropped.append((f"{label} {kind}", "format_not_accepted"))
            continue
        candidates.append((f"{label}-{kind}", content, fmt))
    summary, shown_all = _summary_pdf(profile, case, order, shop_name, words, english, disputes)
    if len(summary) > min(profile.per_file, profile.total):
        raise ValidationFailed(
            "the summary does not fit",
            code="pack_too_large",
            limit=profile.total,
            limit_mb=profile.total // MB,
        )
    # a platform that takes no PDF (AliExpress: photos) gets the summary for the records only
    takes_pdf = "pdf" in profile.formats
    uploads: list[tuple[str, bytes]] = [("summary.pdf", summary)] if takes_pdf else []
    left = profile.total - (len(summary) if takes_pdf else 0)
    for index, (label, content, fmt) in enumerate(candidates):
        share = min(profile.per_file, left // (len(candidates) - index))
        if fmt in profile.formats and len(content) <= share:
            uploads.append((f"evidence/{label}{EXTENSIONS[fmt]}", content))
        elif fmt == "pdf":
            dropped.append((label, "too_large"))
            continue
        else:
            smaller = _shrink(content, share) if "jpeg" in profile.formats else None
            if smaller is None:
                dropped.append((label, "too_large"))
                continue
            uploads.append((f"evidence/{label}.jpg", smaller))
            reencoded.append(f"evidence/{label}.jpg")
        left -= len(uploads[-1][1])
    readme = _readme(profile, case, uploads, dropped, reencoded, shown_all, now)
    with ZipPack(now, mode=0o644) as pack:
        if not takes_pdf:
            pack.add("summary.pdf", summary)
        for name, data in uploads:
            pack.add(name, data)
        pack.add("form-text.txt", _form_text(profile, case, order, words, english, disputes))
        pack.add("README.txt", readme)
    return PlatformPack(
        filename=f"{case.number}-{profile.key}.zip",
        data=pack.data,
        profile=profile,
        uploads=[(name, len(data)) for name, data in uploads],
        dropped=dropped,
        reencoded=reencoded,
    )


DROP_WHY = {
    "only_on_telegram": "never downloaded from Telegram (the full pack lists its file id)",
    "format_not_accepted": "the platform does not take this format (the full pack has it)",
    "too_large": "cannot be made small enough for the platform's limits",
}


def _readme(
    profile: PackProfile,
    case: Case,
    uploads: list[tuple[str, bytes]],
    dropped: list[tuple[str, str]],
    reencoded: list[str],
    shown_all: bool,
    now: datetime,
) -> bytes:
    lines = [
        f"Evidence for {profile.name}, case {case.number} (made {_iso(now)})",
        "",
        f"{profile.name} takes: {', '.join(sorted(f.upper() for f in profile.formats))}; "
        f"at most {_size(profile.per_file)} a file and {_size(profile.total)} in all.",
        f"Source: {profile.source}",
    ]
    if profile.conservative:
        lines.append(f"Set lower to be safe: {profile.conservative}")
    if "pdf" not in profile.formats:
        lines.append(
            f"{profile.name} takes no PDF: summary.pdf is for your records; paste "
            "form-text.txt and upload the photos."
        )
    lines += ["", "Upload these files:"]
    lines += [f"- {name} ({_size(len(data))})" for name, data in uploads]
    lines.append(f"Together: {_size(sum(len(d) for _, d in uploads))}")
    if reencoded:
        lines += ["", "Made smaller to fit (re-encoded as JPEG, without metadata):"]
        lines += [f"- {name}" for name in reencoded]
    if dropped:
        lines += ["", "Left out:"]
        lines += [f"- {what}: {DROP_WHY[why]}" for what, why in dropped]
    if not shown_all:
        lines += [
            "",
            "The summary shortens the buyer's words or shows characters its font lacks as ?;"
            " form-text.txt and the full pack (/export without --for) have them complete.",
        ]
    lines += ["", "Paste form-text.txt into the platform's response form."]
    return ("\n".join(lines) + "\n").encode("utf-8")


# ── the words ──────────────────────────────────────────────────────────────────────────────


def _iso(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def _size(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= 100_000 else f"{n / 1024:.0f} KB"


def _delivery_scan(shipment: Shipment) -> str | None:
    scans = [e for e in shipment.events if "deliver" in e.status.lower()]
    if not scans:
        return None
    scan = max(scans, key=lambda e: e.at)
    where = f", {scan.location}" if scan.location else ""
    what = f": {scan.description}" if scan.description else ""
    return f"{_iso(scan.at)}{where}{what}"


def _facts(
    case: Case, order: Order, shop_name: str, disputes: list[Dispute]
) -> list[tuple[str, str]]:
    facts = [
        ("Case", f"{case.number} ({shop_name}), opened {_iso(case.opened_at)}"),
        ("Order", f"{order.number}, placed {_iso(order.placed_at)}, total {order.grand_total}"),
    ]
    for claimed in case.lines:
        line = order.line(claimed.line_no)
        if line is not None:
            facts.append(("Item", f"{claimed.quantity} x {line.title} (SKU {line.sku})"))
    for shipment in order.shipments:
        scan = _delivery_scan(shipment)
        facts.append(
            (
                "Tracking",
                f"{shipment.carrier or '-'} {shipment.tracking_number or '(untracked)'}, "
                f"shipped {_iso(shipment.shipped_at)}, delivered {_iso(shipment.delivered_at)}"
                + (f"; delivery scan {scan}" if scan else ""),
            )
        )
    if not order.shipments:
        facts.append(("Tracking", "no shipment recorded"))
    for dispute in disputes:
        facts.append(
            (
                "Dispute",
                f"{dispute.platform} {dispute.external_id}, opened {_iso(dispute.opened_at)}, "
                f"stage {dispute.stage}",
            )
        )
    return facts


def _decision(case: Case) -> list[tuple[str, str]]:
    decision = case.decision
    lines = [
        ("Reason given", case.reason.value.replace("_", " ")),
        ("Status", case.status.value.replace("_", " ")),
        ("Outcome", (case.resolution.value.replace("_", " ") if case.resolution else "pending")),
    ]
    if case.refund_amount is not None:
        lines.append(("Refund granted", str(case.refund_amount)))
    if case.refunded_amount is not None:
        lines.append(("Refunded", f"{case.refunded_amount} (ref. {case.refund_reference or '-'})"))
    if case.decision_note:
        lines.append(("Decision note", case.decision_note))
    reasons = [e.code.replace("_", " ") for e in decision.explanations]
    if reasons:
        lines.append(("Policy reasons", "; ".join(reasons)))
    return lines


def _form_text(
    profile: PackProfile,
    case: Case,
    order: Order,
    words: list[tuple[datetime, str]],
    english: dict[str, str],
    disputes: list[Dispute],
) -> bytes:
    """What the seller pastes into the platform's response form, in English."""
    shipment = order.shipments[0] if order.shipments else None
    parts = [
        f"Order {order.number} was placed on {_iso(order.placed_at)[:10]} for {order.grand_total}.",
    ]
    if shipment is not None:
        parts.append(
            f"It was shipped on {_iso(shipment.shipped_at)[:10]} with "
            f"{shipment.carrier or 'the carrier'}, tracking number "
            f"{shipment.tracking_number or '(none)'}"
            + (
                f", and delivered on {_iso(shipment.delivered_at)[:10]}."
                if shipment.delivered_at
                else "."
            )
        )
    parts.append(
        f"On {_iso(case.opened_at)[:10]} the buyer contacted us about it "
        f"({case.reason.value.replace('_', ' ')}); our case is {case.number}."
    )
    if case.resolution is not None:
        outcome = case.resolution.value.replace("_", " ")
        parts.append(f"We offered and approved: {outcome}.")
    if case.refunded_amount is not None:
        parts.append(
            f"We refunded {case.refunded_amount}"
            + (f" (reference {case.refund_reference})." if case.refund_reference else ".")
        )
    if case.decision_note:
        parts.append(f"Our note: {case.decision_note}")
    parts.append(
        "The attached summary shows the order, the tracking with its delivery scan, the "
        "buyer's own words and our decision; the photos are attached as received."
    )
    text = " ".join(parts)
    if words:
        quoted = []
        for _, said in words[:3]:
            translated = english.get(text_hash(said))
            quoted.append(f'"{said}"' + (f' (English: "{translated}")' if translated else ""))
        text += "\n\nThe buyer wrote: " + " / ".join(quoted)
    for dispute in disputes:
        text += f"\n\nPlatform reference: {dispute.platform} {dispute.external_id}."
    return (text + "\n").encode("utf-8")


# ── the one-page PDF ───────────────────────────────────────────────────────────────────────


def _font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def _summary_pdf(
    profile: PackProfile,
    case: Case,
    order: Order,
    shop_name: str,
    words: list[tuple[datetime, str]],
    english: dict[str, str],
    disputes: list[Dispute],
) -> tuple[bytes, bool]:
    """One A4 page; the buyer's words are shortened until it fits. Also says whether
    everything was shown as written."""
    limit = MAX_WORDS
    while True:
        data, pages, complete = _render(
            profile, case, order, shop_name, words, english, disputes, limit
        )
        if pages == 1 or limit < 60:
            return data, complete
        limit //= 2


def _render(
    profile: PackProfile,
    case: Case,
    order: Order,
    shop_name: str,
    words: list[tuple[datetime, str]],
    english: dict[str, str],
    disputes: list[Dispute],
    limit: int,
) -> tuple[bytes, int, bool]:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_margins(14, 12, 14)
    pdf.set_auto_page_break(True, margin=12)
    pdf.set_creator("Returns Desk")
    pdf.set_title(f"Case {case.number}: dispute evidence summary")
    fonts = _font_dir()
    pdf.add_font("dejavu", "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font("dejavu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    glyphs = set(getattr(pdf.fonts["dejavu"], "cmap", {}))
    complete = True

    def clean(text: str) -> str:
        nonlocal complete
        out = "".join(c if ord(c) in glyphs or c in "\n\t" else "?" for c in text)
        complete = complete and out == text
        return out

    pdf.add_page()
    pdf.set_font("dejavu", "B", 13)
    pdf.cell(
        0, 7, clean(f"Dispute evidence summary: case {case.number}"), new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font("dejavu", "", 8)
    pdf.cell(0, 5, clean(f"For {profile.name}. All times UTC."), new_x="LMARGIN", new_y="NEXT")

    def heading(text: str) -> None:
        pdf.ln(1.5)
        pdf.set_font("dejavu", "B", 10)
        pdf.cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")

    def rows(items: list[tuple[str, str]]) -> None:
        for key, value in items:
            pdf.set_font("dejavu", "B", 8.5)
            pdf.cell(30, 4.6, clean(key))
            pdf.set_font("dejavu", "", 8.5)
            pdf.multi_cell(0, 4.6, clean(value), new_x="LMARGIN", new_y="NEXT")

    heading("Order and delivery")
    rows(_facts(case, order, shop_name, disputes))
    heading("The buyer's words")
    budget = limit
    if not words:
        rows([("-", "no words on the case")])
    for at, said in words:
        if budget <= 0:
            complete = False
            break
        shown = said if len(said) <= budget else said[: budget - 1] + "…"
        complete = complete and shown == said
        budget -= len(shown)
        rows([(_iso(at)[:16], shown)])
        translated = english.get(text_hash(said))
        if translated:
            short = translated if len(translated) <= limit else translated[: limit - 1] + "…"
            rows([("English (machine)", short)])
    heading("Decision and reasons")
    rows(_decision(case))
    out = pdf.output()
    return bytes(out), pdf.pages_count, complete
