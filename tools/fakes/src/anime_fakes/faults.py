"""Failure injection shared by the fakes: what to break, where, and how many times."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Fault:
    """Break requests whose path starts with `path` (all when None), `times` times (None: until
    cleared). `server` narrows a sources fault to one streaming server."""

    mode: str
    path: str | None = None
    server: str | None = None
    times: int | None = None
    retry_after: int = 30
    delay: float = 30.0

    def matches(self, path: str, params: dict[str, str]) -> bool:
        if self.path is not None and not path.startswith(self.path):
            return False
        return self.server is None or params.get("server", "hd-1") == self.server

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        return cls(
            mode=str(data["mode"]),
            path=data.get("path"),
            server=data.get("server"),
            times=data.get("times"),
            retry_after=int(data.get("retry_after", 30)),
            delay=float(data.get("delay", 30.0)),
        )


@dataclass
class FakeState:
    """What a fake did and what it is told to do; safe to change from another thread."""

    latency: float = 0.0
    faults: list[Fault] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)
    log: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, path: str, params: dict[str, str]) -> None:
        with self._lock:
            self.requests[path] += 1
            self.log.append({"path": path, "params": params})
            del self.log[:-500]

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def reset(self) -> None:
        with self._lock:
            self.faults.clear()
            self.requests.clear()
            self.log.clear()

    def take_fault(self, path: str, params: dict[str, str]) -> Fault | None:
        """The first fault matching this request, used up once."""
        with self._lock:
            for fault in self.faults:
                if fault.matches(path, params):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault
        return None

    def count(self, path: str) -> int:
        with self._lock:
            return self.requests[path]

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"requests": dict(self.requests), "log": list(self.log), "latency": self.latency}
