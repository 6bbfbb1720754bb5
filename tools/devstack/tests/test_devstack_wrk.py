"""The wrk driver, without wrk: scripts, argv, reports; a stand-in binary for the run."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from anime_devstack import wrk as wrk_module
from anime_devstack.wrk import (
    REPORT_HOOK,
    Request,
    WrkError,
    WrkResult,
    cpu_per_request,
    ensure_wrk,
    lua_string,
    parse_report,
    rotate,
    run_wrk,
    wrk_argv,
    wrk_script,
)

REPORT = {
    "requests": 5000,
    "duration_us": 2_000_000,
    "p50_us": 1250.0,
    "p95_us": 4000.5,
    "p99_us": 9000.0,
    "errors": 2,
    "non2xx": 3,
}


def test_report_hook_reports_every_figure_the_benchmarks_read() -> None:
    assert REPORT_HOOK.lstrip().startswith("done = function(summary, latency, requests)")
    for key in REPORT:
        assert f'"{key}": %' in REPORT_HOOK
    for percentile in (50, 95, 99):
        assert f"latency:percentile({percentile})" in REPORT_HOOK
    assert "e.connect + e.read + e.write + e.timeout" in REPORT_HOOK


def test_parse_report_reads_the_last_json_line() -> None:
    output = "Running 2s test @ http://x\n  2 threads\n{}\nnoise\n{}\n".format(
        json.dumps(REPORT | {"requests": 1}), json.dumps(REPORT)
    )
    result = parse_report(output)
    assert result == WrkResult(
        requests=5000, seconds=2.0, p50_ms=1.25, p95_ms=4.0005, p99_ms=9.0, errors=2, non2xx=3
    )
    assert result.rps == 2500.0
    assert result.failures == 5


def test_parse_report_without_a_report_line() -> None:
    with pytest.raises(WrkError, match="no report line"):
        parse_report("unable to connect to 127.0.0.1:9 Connection refused\n")


def test_rps_of_an_empty_run_is_zero() -> None:
    assert WrkResult(0, 0.0, 0.0, 0.0, 0.0, 0, 0).rps == 0.0


def test_argv_threads_follow_concurrency_up_to_the_cpus() -> None:
    cpus = os.cpu_count() or 1
    argv = wrk_argv("/usr/bin/wrk", "http://h/x", Path("/s.lua"), concurrency=1, seconds=3)
    assert argv == ["/usr/bin/wrk", "-t1", "-c1", "-d3s", "-s", "/s.lua", "http://h/x"]
    argv = wrk_argv("wrk", "http://h/", "s.lua", concurrency=512, seconds=10, timeout=10)
    assert argv[:4] == ["wrk", f"-t{cpus}", "-c512", "-d10s"]
    assert argv[4:] == ["--timeout", "10s", "-s", "s.lua", "http://h/"]


def test_script_is_the_prelude_then_the_hook() -> None:
    assert wrk_script() == REPORT_HOOK
    prelude = rotate(["/a"])
    script = wrk_script(prelude)
    assert script.startswith(prelude)
    assert script.endswith(REPORT_HOOK)


def test_lua_string_escapes_quotes_backslashes_and_non_ascii() -> None:
    assert lua_string("/anime?limit=20") == '"/anime?limit=20"'
    assert lua_string('{"a": "b\\c"}') == '"{\\034a\\034: \\034b\\092c\\034}"'
    # UTF-8 bytes and control characters as decimal escapes, always three digits.
    assert lua_string("й\n1") == '"\\208\\185\\0101"'


def test_rotate_cycles_gets_and_full_requests() -> None:
    prelude = rotate(
        [
            "/anime?q=naruto",
            Request("/favorites", "POST", {"Authorization": "Bearer t"}, '{"id": 1}'),
        ]
    )
    assert '{"GET", "/anime?q=naruto", nil, nil}' in prelude
    assert (
        '{"POST", "/favorites", {["Authorization"] = "Bearer t"}, "{\\034id\\034: 1}"}' in prelude
    )
    assert "request = function()" in prelude
    assert "return wrk.format(r[1], r[2], r[3], r[4])" in prelude


def test_rotate_needs_a_request() -> None:
    with pytest.raises(ValueError, match="at least one"):
        rotate([])


def _fake_wrk(tmp_path: Path, report: dict[str, float]) -> Path:
    """A stand-in for wrk: records its argv and script, prints a report line."""
    fake = tmp_path / "wrk"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$@" > {tmp_path}/argv\n'
        "while [ $# -gt 0 ]; do\n"
        f'  if [ "$1" = -s ]; then cp "$2" {tmp_path}/script.lua; fi\n'
        "  shift\n"
        "done\n"
        "echo 'Running 1s test'\n"
        f"echo '{json.dumps(report)}'\n"
    )
    fake.chmod(0o755)
    return fake


def test_run_wrk_runs_the_script_and_parses_the_report(tmp_path: Path) -> None:
    fake = _fake_wrk(tmp_path, REPORT | {"errors": 0, "non2xx": 0})
    result = run_wrk("http://h:1", concurrency=1, seconds=1, prelude=rotate(["/a"]), wrk=str(fake))
    assert result.requests == 5000
    assert result.failures == 0
    argv = (tmp_path / "argv").read_text().split()
    assert argv[:3] == ["-t1", "-c1", "-d1s"]
    assert argv[-1] == "http://h:1"
    assert (tmp_path / "script.lua").read_text() == wrk_script(rotate(["/a"]))


def test_run_wrk_checks_for_failures(tmp_path: Path) -> None:
    fake = _fake_wrk(tmp_path, REPORT)
    with pytest.raises(WrkError, match="wrk saw failures on http://h:1"):
        run_wrk("http://h:1", concurrency=1, seconds=1, wrk=str(fake))
    result = run_wrk("http://h:1", concurrency=1, seconds=1, wrk=str(fake), check=False)
    assert result.failures == 5


def test_ensure_wrk_prefers_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wrk_module.shutil, "which", lambda name: f"/opt/bin/{name}")
    assert ensure_wrk() == "/opt/bin/wrk"


def test_ensure_wrk_without_root_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wrk_module.shutil, "which", lambda name: None)
    monkeypatch.setattr(wrk_module.os, "geteuid", lambda: 1000)
    with pytest.raises(WrkError, match="apt-get install wrk"):
        ensure_wrk()


def test_ensure_wrk_installs_with_apt(monkeypatch: pytest.MonkeyPatch) -> None:
    installed: list[list[str]] = []

    def which(name: str) -> str | None:
        if name == "wrk":
            return "/usr/bin/wrk" if installed else None
        return f"/usr/bin/{name}"

    monkeypatch.setattr(wrk_module.shutil, "which", which)
    monkeypatch.setattr(wrk_module.os, "geteuid", lambda: 0)

    def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        assert kwargs["env"]["DEBIAN_FRONTEND"] == "noninteractive"  # type: ignore[index]
        installed.append(argv)
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(wrk_module.subprocess, "run", run)
    assert ensure_wrk() == "/usr/bin/wrk"
    assert installed[-1] == ["apt-get", "install", "-y", "-qq", "wrk"]


def test_ensure_wrk_install_that_leaves_no_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        wrk_module.shutil, "which", lambda name: "/usr/bin/apt-get" if name == "apt-get" else None
    )
    monkeypatch.setattr(wrk_module.os, "geteuid", lambda: 0)
    monkeypatch.setattr(
        wrk_module.subprocess, "run", lambda argv, **_: subprocess.CompletedProcess(argv, 0)
    )
    with pytest.raises(WrkError, match="not on PATH"):
        ensure_wrk()


def test_cpu_per_request_divides_the_cpu_a_run_used_by_its_requests() -> None:
    def busy_run() -> WrkResult:
        deadline = time.process_time() + 0.2
        while time.process_time() < deadline:
            pass
        return WrkResult(requests=100, seconds=1, p50_ms=1, p95_ms=1, p99_ms=1, errors=0, non2xx=0)

    result, spent = cpu_per_request(busy_run, {"me": os.getpid(), "none": None})
    assert result.requests == 100
    assert spent["none"] is None
    me = spent["me"]
    assert me is not None
    assert me >= 1_500  # at least 0.15 s of CPU over 100 requests (clock ticks are coarse)

    empty = WrkResult(requests=0, seconds=1, p50_ms=0, p95_ms=0, p99_ms=0, errors=0, non2xx=0)
    assert cpu_per_request(lambda: empty, {"me": os.getpid()})[1] == {"me": None}
