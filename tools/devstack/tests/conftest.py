"""Fixtures for the devstack tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def reachable_dir() -> Iterator[Path]:
    """A fresh directory under /tmp: pytest's tmp_path is private (0700) to root,
    and as root PostgreSQL runs as nobody."""
    path = Path(tempfile.mkdtemp(prefix="anime-devstack-test-", dir="/tmp"))
    path.chmod(0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def _no_pg_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's ANIME_PG_BINARIES must not change which install a test uses.
    monkeypatch.delenv("ANIME_PG_BINARIES", raising=False)
