"""iter_causes: every exception an error wraps, each once, whatever the chain looks like."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from anime_common import iter_causes


def _raised_from(outer: BaseException, inner: BaseException) -> BaseException:
    """What `raise outer from inner` inside `except inner` leaves behind."""
    outer.__cause__ = inner
    outer.__context__ = inner
    return outer


def test_the_error_comes_first_then_orig_cause_and_context() -> None:
    root = ConnectionRefusedError("refused")
    driver = _raised_from(RuntimeError("driver"), root)
    wrapped = sa_exc.DBAPIError("SELECT 1", None, driver)  # type: ignore[arg-type]
    cleanup = ValueError("during cleanup")
    cleanup.__context__ = wrapped
    assert list(iter_causes(cleanup)) == [cleanup, wrapped, driver, root]


def test_orig_is_walked_before_the_cause() -> None:
    orig, cause = KeyError("orig"), TypeError("cause")
    outer = RuntimeError("outer")
    outer.orig = orig  # type: ignore[attr-defined]
    outer.__cause__ = cause
    assert list(iter_causes(outer)) == [outer, orig, cause]


def test_a_loop_ends_and_each_error_is_yielded_once() -> None:
    first, second = RuntimeError("a"), RuntimeError("b")
    first.__cause__ = second
    second.__context__ = first
    second.orig = second  # type: ignore[attr-defined]
    assert list(iter_causes(first)) == [first, second]


def test_a_lone_error_is_just_itself() -> None:
    alone = OSError("x")
    assert list(iter_causes(alone)) == [alone]
