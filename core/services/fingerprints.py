"""What a stored picture looks like, for the abuse signals: its perceptual hash (pHash: the
same photo re-encoded, resized or recompressed keeps nearly the same hash) and, for a picture
sent as a file, the date its camera wrote (EXIF DateTimeOriginal; Telegram strips EXIF from
pictures sent as photos, so only files carry one).

Computed once, when the file is stored (bot/conversations/evidence.py ``store_evidence``), and
kept in ``evidence_fingerprints``; erased with the buyer.
"""

from __future__ import annotations

import functools
import io
import logging
import math
import operator
import statistics
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from PIL import Image

log = logging.getLogger(__name__)

EXIF_IFD = 0x8769
DATETIME_ORIGINAL = 36867
OFFSET_TIME_ORIGINAL = 36881
MAX_PIXELS = 60_000_000  # a bigger "photo" is not hashed (decompression bombs)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    phash: str | None  # 16 hex digits
    taken_at: datetime | None  # UTC; only for files


def fingerprint(data: bytes, *, document: bool) -> Fingerprint | None:
    """The fingerprint of a picture's bytes, or None when they are no picture Pillow reads."""
    if not _jpeg_header_sound(data):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's decompression-bomb warning: size checked
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > MAX_PIXELS:
                    return None
                taken = taken_at(image) if document else None
                image.draft("L", (256, 256))  # JPEG: decode at a small size, enough for a pHash
                return Fingerprint(phash(image), taken)
    except Exception:
        log.debug("no fingerprint for a stored file", exc_info=True)
        return None


def phash(image: Image.Image) -> str:
    """imagehash's ``phash``: the same 16 hex digits, without NumPy and SciPy.

    The picture shrunk to 32×32 grey levels, its DCT-II (``scipy.fftpack.dct`` on both axes,
    unnormalised), the 8×8 lowest frequencies, one bit each: above their median or not.
    The hash reads only those 64 values, so the transform is two small products with the
    first 8 rows of the DCT matrix: about 10,000 multiplications, under a millisecond. Doing
    it here spares the running bot the imports of NumPy and SciPy, about 40 MB resident,
    for one small transform per picture (benchmarks/README.md, sixth round); a test checks
    the digits against imagehash's own. Values are rounded at 1e-8, below any real
    difference: for a one-colour picture SciPy gives exact zeros where a product gives
    rounding noise, which would otherwise decide the bits."""
    small = image.convert("L").resize((SAMPLE, SAMPLE), Image.Resampling.LANCZOS)
    pixels = list(small.tobytes())  # one byte per grey level
    rows = [pixels[i * SAMPLE : (i + 1) * SAMPLE] for i in range(SAMPLE)]
    columns = list(zip(*rows, strict=True))
    dct = _dct_rows()
    # the first 8 rows of dct @ pixels, then each of them times the first 8 rows of dct
    half = [[sum(map(operator.mul, k, column)) for column in columns] for k in dct]
    low = [round(sum(map(operator.mul, row, k)), 8) for row in half for k in dct]
    median = statistics.median(low)
    bits = "".join("1" if value > median else "0" for value in low)
    return f"{int(bits, 2):0{HASH_SIDE * HASH_SIDE // 4}x}"


HASH_SIDE = 8  # bits per side of the hash
SAMPLE = HASH_SIDE * 4  # the picture is shrunk to 32×32 first (imagehash's highfreq_factor)


@functools.cache
def _dct_rows() -> list[list[float]]:
    """The first HASH_SIDE rows of the SAMPLE-point DCT-II matrix, as scipy.fftpack.dct
    computes it (no normalisation): 2·cos(π·k·(2n+1) / 2N)."""
    return [
        [2 * math.cos(math.pi * k * (2 * n + 1) / (2 * SAMPLE)) for n in range(SAMPLE)]
        for k in range(HASH_SIDE)
    ]


def _jpeg_header_sound(data: bytes) -> bool:
    """Whether a JPEG's markers lead to its first scan (walked in a few steps). Pillow skips
    anything between markers one byte at a time, in Python, holding the GIL: a few megabytes
    that only start like a JPEG cost it seconds of CPU, so such a file gets no fingerprint.
    Other formats pass (their readers do not crawl)."""
    if not data.startswith(b"\xff\xd8"):
        return True
    position, size = 2, len(data)
    while position + 4 <= size:
        if data[position] != 0xFF:
            return False
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
        elif marker == 0xDA:  # start of scan: the header is sound
            return True
        elif marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            position += 2
        else:
            length = int.from_bytes(data[position + 2 : position + 4], "big")
            if length < 2:
                return False
            position += 2 + length
    return False


def taken_at(image: Image.Image) -> datetime | None:
    """EXIF DateTimeOriginal (with its offset when the camera wrote one; else read as UTC)."""
    try:
        exif = image.getexif().get_ifd(EXIF_IFD)
    except Exception:
        return None
    raw = exif.get(DATETIME_ORIGINAL)
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.strptime(raw.strip("\x00 ").strip(), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    zone = _offset(exif.get(OFFSET_TIME_ORIGINAL))
    return moment.replace(tzinfo=zone).astimezone(UTC)


def _offset(raw: object) -> timezone:
    if isinstance(raw, str) and len(raw) >= 6 and raw[0] in "+-":
        try:
            hours, minutes = int(raw[1:3]), int(raw[4:6])
        except ValueError:
            return UTC
        delta = timedelta(hours=hours, minutes=minutes)
        return timezone(-delta if raw[0] == "-" else delta)
    return UTC


def distance(first: str, second: str) -> int:
    """Hamming distance of two hex pHashes (how many of their bits differ)."""
    return (int(first, 16) ^ int(second, 16)).bit_count()
