from __future__ import annotations

import gc
import io
import json
import logging
import sys

import httpx
import pytest

from anime_common import CommonSettings, configure_logging, run_service
from anime_common._http_client import create_http_client
from anime_common._logging import routine_logs
from anime_common._request_id import request_id_var
from anime_common._serve import GC_GEN0_THRESHOLD, lean_log_records, tune_gc
from anime_devstack.asgi import serve_asgi

from .apps import build_app, make_settings

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


def test_text_format_is_one_readable_line(
    restore_logging: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging(service="catalog", level="INFO", log_format="text")
    logging.getLogger("anime.test").info("no request")
    token = request_id_var.set("req-9")
    try:
        logging.getLogger("anime.test").warning("in a request %d", 7)
    finally:
        request_id_var.reset(token)
    first, second = stream.getvalue().splitlines()
    assert first.endswith(" INFO    catalog anime.test [-] no request")
    assert second.endswith(" WARNING catalog anime.test [req-9] in a request 7")


def test_routine_calls_log_at_debug(
    restore_logging: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging(service="media", level="INFO")
    with routine_logs():
        logging.getLogger("httpx").info("HTTP Request: GET http://auth/internal/revocations")
        logging.getLogger("anime.test").warning("still news")
    logging.getLogger("anime.test").info("after")
    assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == [
        "still news",
        "after",
    ]
    configure_logging(service="media", level="DEBUG")
    with routine_logs():
        logging.getLogger("httpx").info("HTTP Request: GET http://auth/internal/revocations")
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["level"] == "DEBUG"


async def test_revocation_polls_and_scrapes_leave_no_info_access_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with serve_asgi(build_app()) as client:
        with caplog.at_level(logging.DEBUG, logger="anime_common.access"):
            await client.get("/public")
            await client.get("/internal/metrics")
            await client.get("/internal/revocations")
    levels = {record.getMessage(): record.levelname for record in caplog.records}
    assert levels == {
        "GET /public 200": "INFO",
        "GET /internal/metrics 200": "DEBUG",
        "GET /internal/revocations 404": "DEBUG",
    }
