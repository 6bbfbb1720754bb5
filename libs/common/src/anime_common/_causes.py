"""Walking what an exception wraps: the one way to ask "is this, deep down, a ...?"."""

from __future__ import annotations

from collections.abc import Iterator


def iter_causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then everything it wraps: a driver's `.orig`, `__cause__`, `__context__`.

    Depth first, `.orig` before `__cause__` before `__context__`; each exception
    once, so a chain that loops back (an exception raised while handling itself)
    ends. SQLAlchemy keeps the DBAPI error in `.orig`, asyncpg's own error is that
    one's `__cause__`, and a failure while cleaning up hides the first one in
    `__context__`: a question about the root has to look at all three.
    """
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        for linked in (current.__context__, current.__cause__, orig):
            if isinstance(linked, BaseException) and id(linked) not in seen:
                stack.append(linked)
