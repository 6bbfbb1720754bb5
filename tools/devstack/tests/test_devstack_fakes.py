"""The opt-in aniwatch-api fake (``ANIME_FAKE_HIANIME=1``) and its HLS CDN: two more
processes, their URLs given to the services as ``HIANIME_API_URL`` and ``FAKE_CDN_URL``."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from anime_devstack.config import StackConfig
from anime_devstack.proc import ManagedProcess, stop_all


def _repo(where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    (where / "pyproject.toml").write_text("[tool.uv.workspace]\nmembers = []\n")
    return where


def test_off_by_default(tmp_path: Path) -> None:
    config = StackConfig.for_tests(tmp_path, environ={"ANIME_FAKE_HIANIME": "0"})
    names = [spec.name for spec in config.services]
    assert "hianime_fake" not in names
    assert "cdn_fake" not in names


def test_run_starts_them_on_ports_4000_and_4100(reachable_dir: Path) -> None:
    root = _repo(reachable_dir / "repo")
    config = StackConfig.from_env(root, {"ANIME_FAKE_HIANIME": "1"})
    fake, cdn = config.services[-2:]
    assert (fake.name, fake.port, fake.url_env) == ("hianime_fake", 4000, "HIANIME_API_URL")
    assert fake.argv[1:] == ("-m", "anime_fakes", "aniwatch")
    assert (cdn.name, cdn.port, cdn.url_env) == ("cdn_fake", 4100, "FAKE_CDN_URL")
    assert cdn.argv[1:] == ("-m", "anime_fakes", "hls")
    # The stream proxy may fetch from the loopback CDN (and only from it).
    assert cdn.env_defaults == (("STREAM_ALLOWED_NETWORKS", "127.0.0.1/32"),)
    moved = StackConfig.from_env(
        root,
        {"ANIME_FAKE_HIANIME": "yes", "ANIME_HIANIME_FAKE_PORT": "4200",
         "ANIME_CDN_FAKE_PORT": "4300"},
    )  # fmt: skip
    assert [spec.port for spec in moved.services[-2:]] == [4200, 4300]


def test_a_cdn_of_the_callers_own_replaces_the_cdn_fake(tmp_path: Path) -> None:
    environ = {"ANIME_FAKE_HIANIME": "1", "FAKE_CDN_URL": "http://127.0.0.1:9999"}
    names = [spec.name for spec in StackConfig.for_tests(tmp_path, environ=environ).services]
    assert "hianime_fake" in names
    assert "cdn_fake" not in names


def test_tests_get_a_free_port_and_the_fake_answers(tmp_path: Path) -> None:
    config = StackConfig.for_tests(tmp_path, environ={"ANIME_FAKE_HIANIME": "1"})
    ports = [spec.port for spec in config.services] + [config.gateway_port]
    assert len(set(ports)) == len(ports)
    fake = config.services[-2]
    process = ManagedProcess(
        fake.name,
        fake.argv,
        env={"HOST": "127.0.0.1", "PORT": str(fake.port)},
        cwd=tmp_path,
        log_path=tmp_path / "fake.log",
    )
    process.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            assert not process.exited(), process.log_tail()
            try:
                response = httpx.get(f"{fake.url}/health", timeout=1)
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the fake did not start"
                time.sleep(0.1)
                continue
            break
        assert response.text == "daijoubu"
        assert httpx.get(f"{fake.url}/api/v2/hianime/home").json()["status"] == 200
    finally:
        stop_all([process], 5)
