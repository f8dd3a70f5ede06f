"""The evidence store: files kept by content, written whole or not at all."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.services.evidence_store import EvidenceStore, EvidenceTooLarge

PHOTO = b"\xff\xd8\xff\xe0" + b"JFIF lamp photo " * 200


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob(".incoming-*")]


def test_the_same_bytes_are_stored_once_under_their_sha256(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence")
    sha = hashlib.sha256(PHOTO).hexdigest()

    first = store.put_bytes(PHOTO)
    second = store.put_bytes(PHOTO)

    assert first == second
    assert first.sha256 == sha and first.size == len(PHOTO)
    assert first.path == tmp_path / "evidence" / sha[:2] / sha[2:4] / sha
    assert files_under(tmp_path / "evidence") == [first.path]
    assert store.exists(sha) and store.read(sha) == PHOTO
    other = store.put_bytes(PHOTO + b"!")
    assert other.sha256 != sha and len(files_under(tmp_path / "evidence")) == 2


def test_chunks_are_stored_as_one_file(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)

    stored = store.put_chunks([PHOTO[:100], b"", PHOTO[100:]])

    assert stored.sha256 == hashlib.sha256(PHOTO).hexdigest()
    assert stored.path.read_bytes() == PHOTO


def test_a_file_over_the_limit_is_refused_and_leaves_nothing_behind(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence", max_bytes=1024)

    exactly = store.put_bytes(b"a" * 1024)
    with pytest.raises(EvidenceTooLarge) as caught:
        store.put_bytes(b"b" * 1025)
    with pytest.raises(EvidenceTooLarge):
        store.put_chunks([b"c" * 600, b"c" * 600])

    assert caught.value.code == "evidence_too_large"
    assert caught.value.params["limit"] == 1024
    assert files_under(tmp_path / "evidence") == [exactly.path]
    assert leftovers(tmp_path / "evidence") == []


async def test_a_download_is_stored_as_it_streams(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence")

    async def download() -> AsyncIterator[bytes]:
        for start in range(0, len(PHOTO), 512):
            yield PHOTO[start : start + 512]

    stored = await store.put_stream(download())

    assert stored == store.put_bytes(PHOTO)  # the same file, found by content
    assert stored.path.read_bytes() == PHOTO
    assert leftovers(tmp_path / "evidence") == []


async def test_a_stream_over_the_limit_stops_and_leaves_nothing_behind(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence", max_bytes=2048)
    sent: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        while True:
            sent.append(1)
            yield b"v" * 1000

    with pytest.raises(EvidenceTooLarge):
        await store.put_stream(endless())

    assert len(sent) == 3  # refused as soon as it passed the limit, not at the end
    assert files_under(tmp_path / "evidence") == []


async def test_a_download_that_fails_midway_leaves_nothing_behind(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence")

    async def broken() -> AsyncIterator[bytes]:
        yield PHOTO[:100]
        raise ConnectionError("Telegram hung up")

    with pytest.raises(ConnectionError):
        await store.put_stream(broken())

    assert files_under(tmp_path / "evidence") == []


def test_only_sha256_digests_name_files(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)

    for bad in ("../../etc/passwd", "ab" * 31, "G" * 64, "A" * 64):
        with pytest.raises(ValueError):
            store.path_for(bad)
