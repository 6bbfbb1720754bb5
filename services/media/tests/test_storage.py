"""The avatars folder on its own: atomic writes that leave nothing behind on failure."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from anime_media.storage import AvatarStore


@pytest.fixture
def store(tmp_path: Path) -> AvatarStore:
    store = AvatarStore(tmp_path / "media" / "avatars")
    store.prepare()
    return store


def test_save_writes_both_files_whole(store: AvatarStore) -> None:
    names = store.save(avatar=b"avatar bytes", thumbnail=b"thumb")
    assert (store.directory / names.file_name).read_bytes() == b"avatar bytes"
    assert (store.directory / names.thumbnail_name).read_bytes() == b"thumb"
    assert sorted(path.name for path in store.directory.iterdir()) == sorted(names.files)


def test_a_failed_write_leaves_no_file(store: AvatarStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("anime_media.storage.os.fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        store.save(avatar=b"a", thumbnail=b"b")
    assert list(store.directory.iterdir()) == []


def test_remove_refuses_odd_names_and_logs_failures(
    store: AvatarStore, caplog: pytest.LogCaptureFixture
) -> None:
    outside = store.directory.parent / "keep.txt"
    outside.write_text("keep")
    names = store.save(avatar=b"a", thumbnail=b"b")
    # A folder under an avatar's name cannot be unlinked: logged, not raised.
    blocked = "B" * 32 + ".webp"
    (store.directory / blocked).mkdir()
    with caplog.at_level(logging.ERROR, logger="anime_media.storage"):
        store.remove(["../keep.txt", blocked, *names.files, "C" * 32 + ".webp"])
    assert outside.exists()
    assert [path.name for path in store.directory.iterdir()] == [blocked]
    messages = " ".join(record.message for record in caplog.records)
    assert "refusing to remove '../keep.txt'" in messages
    assert f"could not remove avatar file {blocked}" in messages


def test_prepare_resolves_a_symlinked_folder_once(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    store = AvatarStore(tmp_path / "link")
    store.prepare()
    assert store.directory == real.resolve()
