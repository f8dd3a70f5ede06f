"""Evidence files kept on our side, so that they outlive Telegram and can go into a dispute pack.

Content-addressed: a file is stored once under its SHA-256, in a two-level directory tree, and
written through a temporary file so that a crash never leaves half a file under a real name.
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
class StoredFile:
    sha256: str
    size: int
    path: Path


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

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def read(self, sha256: str) -> bytes:
        return self.path_for(sha256).read_bytes()


class _Writer:
    def __init__(self, store: EvidenceStore) -> None:
        self.store = store
        store.root.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".incoming-", dir=store.root)
        self.file = os.fdopen(fd, "wb")
        self.temp = Path(name)
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
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
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            self.temp.unlink()
        else:
            os.replace(self.temp, target)
        return StoredFile(sha, self.size, target)

    def discard(self) -> None:
        if not self.file.closed:
            self.file.close()
        if self.temp.exists():
            self.temp.unlink()
