"""Child processes of the stack: each in its own process group, logs to a file."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def is_alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie nobody reaps (pid 1 in some containers) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # The state letter follows the parenthesised command name, which may hold spaces.
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def cpu_seconds(pid: int | None) -> float | None:
    """CPU time (user + system, all threads) a running process has used; None when gone."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # utime and stime: fields 14 and 15 of /proc/PID/stat, counted after the name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tail(path: Path, lines: int = 40) -> str:
    try:
        with path.open("rb") as handle:
            last = deque(handle, maxlen=lines)
    except OSError:
        return f"(no log at {path})"
    text = b"".join(last).decode(errors="replace").rstrip()
    return text or "(log is empty)"


def _load_prctl() -> Callable[..., Any] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., Any] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


_PRCTL = _load_prctl()


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if the devstack is killed hard
    # (SIGKILL), the kernel still takes its children down with it.
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class ManagedProcess:
    """A long-running child in its own process group, output into ``log_path``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._starts = 0

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def started(self) -> bool:
        return self._proc is not None

    def start(self) -> None:
        if self._proc is not None and not self.exited():
            return
        self.reap()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # The first start of a stack begins a fresh log; restarts append.
        mode = "ab" if self._starts else "wb"
        with self.log_path.open(mode) as handle:
            if self._starts:
                handle.write(f"\n--- restarted at {time.strftime('%H:%M:%S')} ---\n".encode())
                handle.flush()
            self._proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                # Own group: Ctrl-C in the terminal reaches only the devstack,
                # which then stops children in order; killpg takes grandchildren too.
                start_new_session=True,
                # PDEATHSIG belongs to the forking thread; from other threads it
                # would fire when that thread ends.
                preexec_fn=_die_with_parent if _in_main_thread() else None,
            )
        self._starts += 1

    def exited(self) -> bool:
        """Whether the leader has exited, without reaping it (its group id stays reserved)."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return True
        try:
            info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None

    def describe_exit(self) -> str:
        proc = self._proc
        if proc is None:
            return "not started"
        if proc.returncode is None:
            try:
                info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                info = None
            if info is None:
                return "running"
            if info.si_code == os.CLD_EXITED:
                return f"exited with status {info.si_status}"
            return f"killed by signal {info.si_status}"
        code = proc.returncode
        return f"exited with status {code}" if code >= 0 else f"killed by signal {-code}"

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)

    def signal(self, sig: signal.Signals) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            _signal_group(proc.pid, sig)

    def stop(self, grace: float = 10.0) -> None:
        stop_all([self], grace)

    def reap(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            # The leader is gone but the group may live on; sweep it before the
            # reap frees the group id for reuse.
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        self._proc = None


def stop_all(processes: Iterable[ManagedProcess], grace: float = 10.0) -> None:
    """SIGTERM every group at once, SIGKILL what is left after ``grace``, reap all."""
    running = [p for p in processes if p.started]
    for process in running:
        if not process.exited():
            process.signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and not all(p.exited() for p in running):
        time.sleep(0.05)
    for process in running:
        if not process.exited():
            log.warning("%s did not stop within %.0fs; killing it", process.name, grace)
        # SIGKILL the group in any case: a leader that exited may leave children.
        process.signal(signal.SIGKILL)
    for process in running:
        process.reap()
