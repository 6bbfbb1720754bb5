"""wrk, the HTTP load generator, as the benchmarks under ``bench/`` drive it.

    from anime_devstack.wrk import ensure_wrk, rotate, run_wrk

    ensure_wrk()  # before starting a stack: installs Debian's package when missing
    result = run_wrk(f"{base}/health", concurrency=32, seconds=10)
    result = run_wrk(base, concurrency=1, seconds=10, prelude=rotate(["/a", "/b"]))
    print(result.rps, result.p50_ms, result.p95_ms, result.p99_ms, result.failures)

Every run's script ends with :data:`REPORT_HOOK`, a ``done()`` that prints
one JSON line; the result is read from that line alone, not from wrk's own
summary. A prelude (Lua placed before the hook) may define ``request()`` to
vary the requests: :func:`rotate` builds one that cycles through a list.
Without one, wrk repeats a plain GET of the URL.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anime_devstack.errors import DevstackError
from anime_devstack.proc import cpu_seconds

# wrk calls done() once, after the run: one JSON line, latencies in microseconds;
# "errors" are socket errors (connect, read, write, timeout); "non2xx" is wrk's count of
# answers with a status of 400 or more.
REPORT_HOOK = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %f, "p95_us": %f, "p99_us": %f, '
      .. '"errors": %d, "non2xx": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), e.connect + e.read + e.write + e.timeout, e.status))
end
"""


class WrkError(DevstackError):
    """wrk is missing and cannot be installed, or a run saw failed requests."""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run, from :data:`REPORT_HOOK`'s line."""

    requests: int
    seconds: float  # wrk's own measure of the run
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int  # socket errors: connect, read, write, timeout
    non2xx: int  # answers with a status >= 400 (wrk's "Non-2xx or 3xx responses")

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def failures(self) -> int:
        return self.errors + self.non2xx


@dataclass(frozen=True)
class Request:
    """One request for :func:`rotate`; headers replace wrk's defaults (Host is kept)."""

    path: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None


def ensure_wrk() -> str:
    """wrk from PATH, installed with apt-get (Debian's package) when missing and root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise WrkError("wrk is not installed: install Debian's `wrk` package (apt-get install wrk)")
    print("installing wrk with apt-get ...", flush=True)
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
    found = shutil.which("wrk")
    if not found:
        raise WrkError("apt-get installed wrk but it is not on PATH")
    return found


def lua_string(text: str) -> str:
    """A Lua string literal: printable ASCII as is, every other byte as a \\ddd escape."""
    out = []
    for byte in text.encode():
        char = chr(byte)
        if char in '"\\' or not 0x20 <= byte < 0x7F:
            out.append(f"\\{byte:03d}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _lua_request(request: Request) -> str:
    headers = (
        "{"
        + ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in request.headers.items())
        + "}"
        if request.headers
        else "nil"  # wrk.headers: the Host header and any -H
    )
    body = "nil" if request.body is None else lua_string(request.body)
    return f"{{{lua_string(request.method)}, {lua_string(request.path)}, {headers}, {body}}}"


def rotate(requests: Iterable[Request | str]) -> str:
    """A prelude whose ``request()`` cycles through the requests (a str is a GET path).

    Each wrk thread cycles on its own, from the second request of the list.
    """
    entries = [_lua_request(Request(r) if isinstance(r, str) else r) for r in requests]
    if not entries:
        raise ValueError("rotate() needs at least one request")
    return (
        "local requests = {\n  " + ",\n  ".join(entries) + "\n}\n"
        "local counter = 0\n"
        "request = function()\n"
        "  counter = counter + 1\n"
        "  local r = requests[(counter % #requests) + 1]\n"
        "  return wrk.format(r[1], r[2], r[3], r[4])\n"
        "end\n"
    )


def wrk_script(prelude: str = "") -> str:
    """The Lua script of a run: the prelude, then :data:`REPORT_HOOK`."""
    return prelude + REPORT_HOOK


def wrk_argv(
    wrk: str,
    url: str,
    script: str | Path,
    *,
    concurrency: int,
    seconds: int,
    timeout: int | None = None,
) -> list[str]:
    """One thread per connection up to one per CPU; wrk's default timeout is 2 s."""
    threads = max(1, min(concurrency, os.cpu_count() or 1))
    argv = [wrk, f"-t{threads}", f"-c{concurrency}", f"-d{seconds}s"]
    if timeout is not None:
        argv += ["--timeout", f"{timeout}s"]
    return [*argv, "-s", str(script), url]


def parse_report(output: str) -> WrkResult:
    """The result from wrk's stdout: the last line that is a JSON object."""
    line = next(
        (line for line in reversed(output.splitlines()) if line.startswith("{")),
        None,
    )
    if line is None:
        raise WrkError(f"no report line in wrk's output:\n{output}")
    report: dict[str, Any] = json.loads(line)
    return WrkResult(
        requests=int(report["requests"]),
        seconds=report["duration_us"] / 1e6,
        p50_ms=report["p50_us"] / 1000,
        p95_ms=report["p95_us"] / 1000,
        p99_ms=report["p99_us"] / 1000,
        errors=int(report["errors"]),
        non2xx=int(report["non2xx"]),
    )


def run_wrk(
    url: str,
    *,
    concurrency: int,
    seconds: int,
    timeout: int | None = None,
    prelude: str = "",
    check: bool = True,
    wrk: str | None = None,
) -> WrkResult:
    """Run wrk against the URL (the base URL when the prelude makes the requests).

    With ``check`` a run with socket errors or non-2xx answers raises WrkError.
    """
    with tempfile.TemporaryDirectory(prefix="anime-wrk-") as tmp:
        script = Path(tmp) / "run.lua"
        script.write_text(wrk_script(prelude))
        argv = wrk_argv(
            wrk or ensure_wrk(),
            url,
            script,
            concurrency=concurrency,
            seconds=seconds,
            timeout=timeout,
        )
        output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    result = parse_report(output)
    if check and result.failures:
        raise WrkError(f"wrk saw failures on {url}: {result}\n{output}")
    return result


def cpu_per_request(
    run: Callable[[], WrkResult], pids: Mapping[str, int | None]
) -> tuple[WrkResult, dict[str, float | None]]:
    """`run()`'s result and the CPU µs each named process spent per request during it.

    None for a process that is not running (or a pid of None) and for a run
    without requests.
    """
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    result = run()
    spent: dict[str, float | None] = {}
    for name, pid in pids.items():
        start, end = before[name], cpu_seconds(pid)
        if start is None or end is None or not result.requests:
            spent[name] = None
        else:
            spent[name] = (end - start) * 1e6 / result.requests
    return result, spent
