from __future__ import annotations

import gc
import io
import json
import logging
import sys

import httpx
import pytest

from anime_common import CommonSettings, configure_logging, create_http_client, run_service
from anime_common._request_id import request_id_var
from anime_common._serve import GC_GEN0_THRESHOLD, lean_log_records, tune_gc

from .apps import make_settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def test_logs_are_json_lines_with_service_and_request_id(
    restore_logging: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging(service="catalog", level="INFO")
    token = request_id_var.set("req-42")
    try:
        logging.getLogger("anime.test").info("hello %s", "world", extra={"color_message": "x"})
    finally:
        request_id_var.reset(token)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["message"] == "hello world"
    assert line["service"] == "catalog"
    assert line["request_id"] == "req-42"
    assert line["level"] == "INFO"
    assert "time" in line
    assert "color_message" not in line


async def test_outgoing_calls_carry_the_request_id() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("x-request-id"))
        return httpx.Response(204)

    client = create_http_client(make_settings(), transport=httpx.MockTransport(handler))
    token = request_id_var.set("req-7")
    try:
        await client.get("http://upstream.test/")
    finally:
        request_id_var.reset(token)
    await client.get("http://upstream.test/")
    await client.aclose()
    assert seen == ["req-7", None]


def test_bad_settings_stop_the_service_with_the_variable_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(SystemExit) as stopped:
        run_service(lambda settings: pytest.fail("must not build the app"), CommonSettings)
    assert stopped.value.code == 2
    assert "SECRET_KEY" in capsys.readouterr().err


def test_start_up_objects_are_frozen_and_collections_are_rarer() -> None:
    threshold = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (GC_GEN0_THRESHOLD, threshold[1], threshold[2])
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_lean_log_records_keep_the_json_lines(
    restore_logging: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing"):
        monkeypatch.setattr(logging, name, getattr(logging, name))
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging(service="library", level="INFO")
    logging.getLogger("anime.test").info("before", extra={"status": 202})
    lean_log_records()
    logging.getLogger("anime.test").info("before", extra={"status": 202})
    before, after = (json.loads(line) for line in stream.getvalue().strip().splitlines())
    assert before.pop("time")
    assert after.pop("time")
    assert before == after == {
        "level": "INFO", "logger": "anime.test", "message": "before", "service": "library",
        "request_id": None, "status": 202,
    }  # fmt: skip
