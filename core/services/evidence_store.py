"""Evidence files kept on our side, so that they outlive Telegram and can go into a dispute pack.

Content-addressed: a file is stored once under its SHA-256, in a two-level directory tree, and
written through a temporary file so that a crash never leaves half a file under a real name.
Directories are created 0700 and files 0600 whatever the umask: evidence is personal data.

What a file really is comes from its first bytes (``sniff``), never from the name or the MIME
type the sender's app claimed: a PNG sent "as a photo" is a PNG, and a file that is none of the
known photo, video or PDF formats (an SVG, HTML: formats that can carry scripts) is kept as
plain bytes, never to be shown as a picture.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass
from pathlib import Path

from core.errors import ValidationFailed


class EvidenceTooLarge(ValidationFailed):
    code = "evidence_too_large"


@dataclass(frozen=True, slots=True)
class FileType:
    mime: str
    extension: str  # with its dot: ".png"

    @property
    def is_image(self) -> bool:
        return self.mime.startswith("image/")

    @property
    def is_video(self) -> bool:
        return self.mime.startswith("video/")


SNIFF_BYTES = 64  # enough for every signature below
OCTET_STREAM = "application/octet-stream"
_HEIF_BRANDS = {
    b"heic": FileType("image/heic", ".heic"),
    b"heix": FileType("image/heic", ".heic"),
    b"hevc": FileType("image/heic", ".heic"),
    b"hevx": FileType("image/heic", ".heic"),
    b"heim": FileType("image/heic", ".heic"),
    b"heis": FileType("image/heic", ".heic"),
    b"mif1": FileType("image/heif", ".heif"),
    b"msf1": FileType("image/heif", ".heif"),
    b"avif": FileType("image/avif", ".avif"),
    b"avis": FileType("image/avif", ".avif"),
}


def sniff(head: bytes) -> FileType | None:
    """The photo, video or PDF format these first bytes begin, or None for anything else."""
    if head.startswith(b"\xff\xd8\xff"):
        return FileType("image/jpeg", ".jpg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return FileType("image/png", ".png")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return FileType("image/gif", ".gif")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return FileType("image/webp", ".webp")
    if head.startswith(b"%PDF-"):
        return FileType("application/pdf", ".pdf")
    if head[4:8] == b"ftyp":  # ISO base media: HEIC/AVIF pictures, MP4/MOV/3GP videos
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return _HEIF_BRANDS[brand]
        if brand == b"qt  ":
            return FileType("video/quicktime", ".mov")
        if brand.startswith(b"3g"):
            return FileType("video/3gpp", ".3gp")
        return FileType("video/mp4", ".mp4")
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # Matroska; WebM says so in its header
        if b"webm" in head:
            return FileType("video/webm", ".webm")
        return FileType("video/x-matroska", ".mkv")
    return None


@dataclass(frozen=True, slots=True)
class StoredFile:
    sha256: str
    size: int
    path: Path
    type: FileType | None = None  # what the bytes are (``sniff``); None: none of those


class EvidenceStore:
    def __init__(self, root: Path, max_bytes: int = 20 * 1024 * 1024) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put_bytes(self, data: bytes) -> StoredFile:
        return self.put_chunks([data])

    def put_chunks(self, chunks: Iterable[bytes]) -> StoredFile:
        writer = _Writer(self)
        try:
            for chunk in chunks:
                writer.write(chunk)
            return writer.finish()
        finally:
            writer.discard()

    async def put_stream(self, chunks: AsyncIterable[bytes]) -> StoredFile:
        """Store a download as it arrives; refuses it as soon as it passes the size limit."""
        writer = _Writer(self)
        try:
            async for chunk in chunks:
                writer.write(chunk)
            return writer.finish()
        finally:
            writer.discard()

    def delete(self, sha256: str) -> bool:
        """Remove a stored file (erasure, retention); False when it was not there."""
        try:
            self.path_for(sha256).unlink()
        except (FileNotFoundError, ValueError):
            return False
        return True

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def read(self, sha256: str) -> bytes:
        return self.path_for(sha256).read_bytes()

    def sniff(self, sha256: str) -> FileType | None:
        """What a stored file really is, from its first bytes (None: not a known format)."""
        with self.path_for(sha256).open("rb") as file:
            return sniff(file.read(SNIFF_BYTES))


DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) readable by the owner only, whatever the umask."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        directory.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(directory, DIR_MODE)
    if path.is_dir():
        os.chmod(path, DIR_MODE)


class _Writer:
    def __init__(self, store: EvidenceStore) -> None:
        self.store = store
        private_dir(store.root)
        # mkstemp makes the file 0600 itself
        fd, name = tempfile.mkstemp(prefix=".incoming-", dir=store.root)
        self.file = os.fdopen(fd, "wb")
        self.temp = Path(name)
        self.digest = hashlib.sha256()
        self.size = 0
        self.head = b""

    def write(self, chunk: bytes) -> None:
        if len(self.head) < SNIFF_BYTES:
            self.head += chunk[: SNIFF_BYTES - len(self.head)]
        self.size += len(chunk)
        if self.size > self.store.max_bytes:
            raise EvidenceTooLarge(
                f"file is over the {self.store.max_bytes} byte limit",
                limit=self.store.max_bytes,
            )
        self.digest.update(chunk)
        self.file.write(chunk)

    def finish(self) -> StoredFile:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        sha = self.digest.hexdigest()
        target = self.store.path_for(sha)
        private_dir(target.parent)
        os.chmod(self.temp, FILE_MODE)
        if target.exists():
            self.temp.unlink()
        else:
            os.replace(self.temp, target)
        return StoredFile(sha, self.size, target, sniff(self.head))

    def discard(self) -> None:
        if not self.file.closed:
            self.file.close()
        if self.temp.exists():
            self.temp.unlink()
