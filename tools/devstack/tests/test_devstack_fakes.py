"""The opt-in aniwatch-api fake (``ANIME_FAKE_HIANIME=1``): one more process, its URL given
to the services as ``HIANIME_API_URL``."""

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
    assert "hianime_fake" not in [spec.name for spec in config.services]


def test_run_starts_it_on_port_4000(reachable_dir: Path) -> None:
    root = _repo(reachable_dir / "repo")
    config = StackConfig.from_env(root, {"ANIME_FAKE_HIANIME": "1"})
    fake = config.services[-1]
    assert (fake.name, fake.port, fake.url_env) == ("hianime_fake", 4000, "HIANIME_API_URL")
    assert fake.argv[1:] == ("-m", "anime_fakes", "aniwatch")
    moved = StackConfig.from_env(
        root, {"ANIME_FAKE_HIANIME": "yes", "ANIME_HIANIME_FAKE_PORT": "4100"}
    )
    assert moved.services[-1].port == 4100


def test_tests_get_a_free_port_and_the_fake_answers(tmp_path: Path) -> None:
    config = StackConfig.for_tests(tmp_path, environ={"ANIME_FAKE_HIANIME": "1"})
    ports = [spec.port for spec in config.services] + [config.gateway_port]
    assert len(set(ports)) == len(ports)
    fake = config.services[-1]
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
