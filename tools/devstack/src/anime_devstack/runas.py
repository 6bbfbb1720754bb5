"""Running PostgreSQL as an unprivileged user when we are root.

PostgreSQL refuses to run as root, so as root its binaries run as ``nobody``
and everything they touch must be reachable by that user.
"""

from __future__ import annotations

import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

UNPRIVILEGED_USER = "nobody"


@dataclass(frozen=True)
class RunAs:
    """An unprivileged identity for PostgreSQL's processes."""

    name: str
    uid: int
    gid: int

    def subprocess_kwargs(self) -> dict[str, Any]:
        # extra_groups=[] drops root's supplementary groups in the child.
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def chown(self, *paths: Path) -> None:
        for path in paths:
            os.chown(path, self.uid, self.gid)


def postgres_runas() -> RunAs | None:
    """The identity PostgreSQL runs as, or None to run as ourselves."""
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam(UNPRIVILEGED_USER)
    # nobody's primary group is nogroup on Debian and nobody elsewhere.
    return RunAs(name=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid)


def subprocess_kwargs(runas: RunAs | None) -> dict[str, Any]:
    return {} if runas is None else runas.subprocess_kwargs()


def _allowed(st: os.stat_result, runas: RunAs, want: int) -> bool:
    """``want`` is a combination of 4 (read), 2 (write), 1 (execute/search)."""
    if st.st_uid == runas.uid:
        bits = (st.st_mode >> 6) & 0o7
    elif st.st_gid == runas.gid:
        bits = (st.st_mode >> 3) & 0o7
    else:
        bits = st.st_mode & 0o7
    return bits & want == want


def first_blocked(path: Path, runas: RunAs | None, want: int = 1) -> Path | None:
    """The first directory on the way to ``path`` that ``runas`` cannot pass.

    Every ancestor needs search permission; ``path`` itself needs ``want``.
    Returns None when everything is reachable (or we run as ourselves).
    """
    if runas is None:
        return None
    path = path.absolute()
    for ancestor in reversed(path.parents):
        if not ancestor.exists():
            # The rest of the chain is created by us, for that user.
            return None
        if not _allowed(ancestor.stat(), runas, 1):
            return ancestor
    if path.exists() and not _allowed(path.stat(), runas, want):
        return path
    return None


def is_private_to_us(path: Path) -> bool:
    """Owned by our euid and not writable by anybody else (safe to execute from)."""
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode):
        return False
    return st.st_uid == os.geteuid() and st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) == 0
