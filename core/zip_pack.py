"""A ZIP written in memory, reproducibly: every entry carries the same fixed timestamp and file
mode, and each added file is listed (path, sha256, size) for the archive's ``manifest.json``."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import datetime
from types import TracebackType
from typing import Any, Self


class ZipPack:
    """``with ZipPack(at, mode=0o600) as pack: pack.add(name, data)``; then ``pack.data``."""

    def __init__(self, at: datetime, *, mode: int) -> None:
        self._stamp = (at.year, at.month, at.day, at.hour, at.minute, at.second)
        self._mode = mode
        self._buffer = io.BytesIO()
        self._archive = zipfile.ZipFile(self._buffer, "w", compression=zipfile.ZIP_DEFLATED)
        self.names: list[str] = []
        self.manifest: list[dict[str, Any]] = []

    def add(self, name: str, data: bytes) -> None:
        info = zipfile.ZipInfo(name, date_time=self._stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = self._mode << 16
        self._archive.writestr(info, data)
        self.names.append(name)
        self.manifest.append(
            {"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        )

    @property
    def size(self) -> int:
        """Bytes written so far (compressed), to stop early on a size limit."""
        return self._buffer.tell()

    @property
    def data(self) -> bytes:
        return self._buffer.getvalue()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._archive.close()
