"""What goes to the supplier: the claims without the buyer's personal data.

The pack holds, per claim, the defect as the buyer described it (with their name, e-mail,
phone, address and any Telegram handle taken out) and the photos re-encoded with Pillow, so
that no EXIF (camera owner, GPS position, comments), XMP or ICC comment leaves the shop; plus
the message to the supplier in Chinese and English (``message-zh.txt``, ``message-en.txt``),
the claims as a table (``claims.csv``) and ``manifest.json``. Videos and documents stay with
the shop: their metadata cannot be cleaned here. Nothing names the buyer or their Telegram
account: claims are known by the case number and the supplier's own order number.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from core.suppliers.lifecycle import SupplierClaim
from core.zip_pack import ZipPack

REMOVED = "[…]"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# seven digits or more, with the separators people type between them (+34 612 345 678)
PHONE = re.compile(r"\+?\d[\d\s().\-/]{5,}\d")
HANDLE = re.compile(r"(?:https?://)?(?:t\.me|telegram\.me)/\S+|@\w{4,}", re.IGNORECASE)
PACK_FORMAT = "returns-supplier-claims/1"
MAX_SIDE = 2560  # photos larger than this are scaled down: a claim needs no 50-megapixel file


def redact(text: str, personal: Iterable[str]) -> str:
    """``text`` without e-mail addresses, phone numbers, Telegram handles and any of the
    ``personal`` values (the buyer's name and each part of it, their address lines…)."""
    text = EMAIL.sub(REMOVED, text)
    text = HANDLE.sub(REMOVED, text)
    text = PHONE.sub(REMOVED, text)
    words = sorted({p.strip() for p in personal if p and len(p.strip()) >= 2}, key=len)
    for value in reversed(words):  # the longest first: "Lucía Fernández" before "Lucía"
        text = re.sub(re.escape(value), REMOVED, text, flags=re.IGNORECASE)
    return text


def personal_values(*values: str | None) -> list[str]:
    """Each value, and each word of it (a name's parts, a street's name)."""
    found: list[str] = []
    for value in values:
        if not value:
            continue
        found.append(value)
        found += [word.strip(",.;") for word in value.split() if len(word.strip(",.;")) >= 3]
    return found


def clean_photo(data: bytes) -> tuple[bytes, str] | None:
    """A photo re-encoded with no metadata at all, turned as its EXIF said; (bytes, extension),
    or None when it is not a picture Pillow can read."""
    from PIL import Image, ImageOps  # loaded on the first pack, not at every start

    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened) or opened
            image.thumbnail((MAX_SIDE, MAX_SIDE))
            alpha = image.mode in ("RGBA", "LA") or "transparency" in image.info
            image = image.convert("RGBA" if alpha else "RGB")
            image.info = {}  # no EXIF, XMP, ICC profile, comment or text chunk is carried
            out = io.BytesIO()
            if alpha:
                image.save(out, format="PNG", optimize=True)
                return out.getvalue(), ".png"
            image.save(out, format="JPEG", quality=90, optimize=True)
            return out.getvalue(), ".jpg"
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


@dataclass(frozen=True, slots=True)
class ClaimForSupplier:
    """One claim as the supplier sees it: the defect in words and the photos (store ids)."""

    claim: SupplierClaim
    description: str | None  # already redacted
    photos: tuple[str, ...] = ()  # sha256 of the stored photos
    left_out: int = 0  # videos and documents kept back


@dataclass(frozen=True, slots=True)
class ClaimBatch:
    """A supplier's claims, made into one message and one ZIP."""

    supplier: str
    supplier_name: str
    shop_names: tuple[str, ...]
    claims: tuple[ClaimForSupplier, ...]
    generated_at: datetime
    since: datetime | None = None  # the week it covers; None: the claims named
    photos_unreadable: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SupplierPack:
    filename: str
    data: bytes
    files: list[str]
    letters: dict[str, str]  # language → the message to the supplier
    batch: ClaimBatch


def build(
    batch: ClaimBatch,
    letters: dict[str, str],
    read: Callable[[str], bytes | None],
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
) -> SupplierPack:
    """The ZIP: the letters, the table, and per claim its description and clean photos."""
    from core.spreadsheet import csv_bytes

    with ZipPack(batch.generated_at, mode=0o644) as pack:
        for language, text in letters.items():
            pack.add(f"message-{language}.txt", text.encode("utf-8"))
        pack.add("claims.csv", csv_bytes(columns, rows))
        for item in batch.claims:
            folder = f"{item.claim.case_number}"
            if item.description:
                pack.add(f"{folder}/description.txt", item.description.encode("utf-8"))
            for n, sha256 in enumerate(item.photos, start=1):
                raw = read(sha256)
                cleaned = clean_photo(raw) if raw is not None else None
                if cleaned is None:
                    batch.photos_unreadable.append(f"{folder}/{n:02d}")
                    continue
                data, extension = cleaned
                pack.add(f"{folder}/photo-{n:02d}{extension}", data)
        manifest = {
            "format": PACK_FORMAT,
            "supplier": batch.supplier,
            "generated_at": batch.generated_at.isoformat(),
            "claims": [item.claim.case_number for item in batch.claims],
            "files": list(pack.manifest),
        }
        pack.add("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2).encode())
    day = batch.generated_at.strftime("%Y-%m-%d")
    return SupplierPack(
        filename=f"claims-{batch.supplier}-{day}.zip",
        data=pack.data,
        files=pack.names,
        letters=letters,
        batch=batch,
    )
