"""Avatar files on disk: random names, atomic writes, removal, and opening a name safely.

Blocking file-system calls; the routes run them in a thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger("anime_media.storage")

AVATAR_URL_PREFIX = "/media/avatars/"
# Exactly the names `new_names` makes: 32 URL-safe characters (192 random bits), an
# optional `.thumb`, `.webp`. Anything else (dots, slashes, NUL, other suffixes) is
# never a stored file, so it is refused before the file system is asked.
_NAME = re.compile(r"[A-Za-z0-9_-]{32}(?:\.thumb)?\.webp")
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def is_avatar_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


def avatar_url(name: str) -> str:
    return AVATAR_URL_PREFIX + name


@dataclass(frozen=True, slots=True)
class AvatarNames:
    file_name: str
    thumbnail_name: str

    @classmethod
    def new(cls) -> AvatarNames:
        token = secrets.token_urlsafe(24)
        return cls(file_name=f"{token}.webp", thumbnail_name=f"{token}.thumb.webp")

    @property
    def files(self) -> tuple[str, str]:
        return (self.file_name, self.thumbnail_name)


@dataclass(frozen=True, slots=True)
class OpenedFile:
    """An open, regular file inside the avatars folder; the caller closes `fd`."""

    fd: int
    stat: os.stat_result


class AvatarStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def prepare(self) -> None:
        """Create the folder, and resolve it once so only a file name is ever looked up."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory = self.directory.resolve(strict=True)

    def _write(self, name: str, data: bytes) -> None:
        final = self.directory / name
        # A dot name never matches `_NAME`, so a half-written file is never served.
        temporary = self.directory / f".{name}.{secrets.token_hex(8)}.tmp"
        fd = os.open(temporary, _CREATE_FLAGS, 0o644)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            # Atomic: readers see no file or the whole file, never a prefix.
            os.replace(temporary, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            raise

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def save(self, *, avatar: bytes, thumbnail: bytes) -> AvatarNames:
        """Write both files under new random names; on failure neither remains."""
        names = AvatarNames.new()
        try:
            self._write(names.file_name, avatar)
            self._write(names.thumbnail_name, thumbnail)
            # The renames themselves survive a crash only once the folder is synced.
            self._sync_directory()
        except BaseException:
            self.remove(names.files)
            raise
        return names

    def remove(self, names: Iterable[str]) -> None:
        """Delete files by name; a missing file is fine, any other failure is logged, not raised.

        Called after a change has committed (or failed): the request's outcome no
        longer depends on it, and a leftover file is only wasted space.
        """
        for name in names:
            if not is_avatar_name(name):
                logger.error("refusing to remove %r: not an avatar file name", name)
                continue
            try:
                (self.directory / name).unlink(missing_ok=True)
            except OSError as exc:
                logger.error("could not remove avatar file %s: %s", name, exc)

    def open(self, name: str) -> OpenedFile | None:
        """The regular file `name` in the folder, or None: unknown, odd name, symlink, folder."""
        if not is_avatar_name(name):
            return None
        try:
            # O_NOFOLLOW: a symlink planted under a valid name is refused (ELOOP).
            fd = os.open(self.directory / name, _OPEN_FLAGS)
        except OSError:
            return None
        try:
            info = os.fstat(fd)
        except OSError:  # pragma: no cover - fstat of an open fd does not fail in practice
            os.close(fd)
            return None
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            return None
        return OpenedFile(fd=fd, stat=info)
