"""Every service has one shape (README, "How a service is built"): the same modules hold
the same kinds of thing, so a reader who knows one service can find their way in any.

Checked generically (any `repository.py` or `service.py` in a package, subpackages
included), so a service split into subpackages (`favorites/`, `collections/`, ...)
passes as long as each part keeps the shape.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("auth", "catalog", "library", "media", "proxy")
# The factory's own routes (`/internal/metrics`): every service's, mounted by anime_common.
COMMON_PACKAGE = "anime_common"

# What a SQL statement starts with; docstrings and prose ("Delete one of the caller's
# collections") do not look like this.
SQL = re.compile(
    r"^\s*(?:SELECT\s+(?:[\w.]+\s*\(|[(*\d]|.*?\bFROM\b)|INSERT\s+INTO\b|UPDATE\s+[\w.\"]+\s+SET\b|DELETE\s+FROM\b"
    r"|WITH\s+(?:RECURSIVE\s+)?\w+\s*(?:\([^)]*\)\s*)?AS\s*(?:NOT\s+)?(?:MATERIALIZED\s+)?\()",
    re.IGNORECASE | re.DOTALL,
)

# Modules other than a `repository.py` allowed to hold SQL, each with the reason.
SQL_ELSEWHERE = {
    # Migrations are SQL by nature, pinned to the schema of their revision.
    "migrations/": "migrations run their own DDL and data fixes",
}


def package_dir(name: str) -> Path:
    return ROOT / f"services/{name}/src/anime_{name}"


def has_database(name: str) -> bool:
    return getattr(importlib.import_module(f"anime_{name}.app"), "MIGRATIONS", None) is not None


def module_name(name: str, path: Path) -> str:
    return ".".join(path.relative_to(ROOT / f"services/{name}/src").with_suffix("").parts)


def service_modules(name: str, file_name: str) -> list[Path]:
    return sorted(
        path for path in package_dir(name).rglob(file_name) if "migrations" not in path.parts
    )


@pytest.mark.parametrize("name", SERVICES)
def test_service_has_the_common_modules(name: str) -> None:
    directory = package_dir(name)
    missing = [
        module
        for module in ("app.py", "settings.py", "state.py", "routes.py")
        if not (directory / module).is_file()
    ]
    assert missing == [], f"anime_{name} lacks {missing}"
    state = importlib.import_module(f"anime_{name}.state")
    assert callable(getattr(state, "get_state", None)), f"anime_{name}.state has no get_state"


@pytest.mark.parametrize("name", SERVICES)
def test_service_with_a_database_has_models_repository_and_migrations(name: str) -> None:
    if not has_database(name):
        assert not (package_dir(name) / "migrations").exists(), (
            f"anime_{name} has migrations but its app opens no database"
        )
        return
    directory = package_dir(name)
    assert (directory / "models.py").is_file(), f"anime_{name} has a database but no models.py"
    assert (directory / "migrations" / "versions").is_dir(), f"anime_{name} has no migrations/"
    assert service_modules(name, "repository.py"), f"anime_{name} has no repository.py"


def walk_routes(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, object]]:
    for route in routes:
        if isinstance(route, Mount):
            yield from walk_routes(list(route.routes), prefix + route.path)
        elif isinstance(route, Route | WebSocketRoute):
            yield prefix + route.path, route.endpoint


@pytest.mark.parametrize("name", SERVICES)
def test_internal_routes_live_in_internal_modules(
    name: str, service_apps: dict[str, Starlette]
) -> None:
    misplaced: list[str] = []
    for path, endpoint in walk_routes(service_apps[name].routes):
        module = inspect.unwrap(endpoint).__module__  # type: ignore[arg-type]
        if module.split(".")[0] == COMMON_PACKAGE:
            continue
        internal_path = path == "/internal" or path.startswith("/internal/")
        internal_module = module.rsplit(".", 1)[-1] == "internal"
        if internal_path != internal_module:
            misplaced.append(f"{path} is served from {module}")
    assert misplaced == [], (
        f"anime_{name}: /internal routes belong in internal.py (internal_routes), every "
        f"other route outside it: {misplaced}"
    )


def sql_literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value.strip().splitlines()[0][:60])
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and SQL.match(node.value)
    ]


def test_sql_detection_sees_statements_and_not_prose() -> None:
    statements = [
        "SELECT count(*) FROM catalog.anime",
        "\n    insert into library.jobs (id) VALUES ($1)",
        'UPDATE auth."users" SET avatar = :avatar',
        "DELETE FROM auth.sessions WHERE id = :id",
        "WITH locked AS (SELECT id FROM library.jobs)",
    ]
    prose = [
        "Delete one of the caller's collections",
        "Update the watch progress",
        "Select a server",
        "With a Bearer token and `all`, every session",
    ]
    assert [bool(SQL.match(text)) for text in statements] == [True] * len(statements)
    assert [bool(SQL.match(text)) for text in prose] == [False] * len(prose)


def allowed_sql(path: Path) -> bool:
    relative = path.relative_to(ROOT).as_posix()
    return path.name == "repository.py" or any(
        (entry.endswith("/") and f"/{entry}" in f"/{relative}") or relative == entry
        for entry in SQL_ELSEWHERE
    )


@pytest.mark.parametrize("name", SERVICES)
def test_sql_lives_in_repository_modules(name: str) -> None:
    found = {
        path.relative_to(ROOT).as_posix(): literals
        for path in sorted(package_dir(name).rglob("*.py"))
        if not allowed_sql(path) and (literals := sql_literals(path))
    }
    assert found == {}, f"SQL outside repository.py (or SQL_ELSEWHERE): {found}"


def session_parameters_not_keyword_only(module: object) -> list[str]:
    offenders = []
    for attribute, value in vars(module).items():
        if attribute.startswith("_") or not inspect.isfunction(value):
            continue
        if value.__module__ != getattr(module, "__name__", None):
            continue  # imported from elsewhere
        parameter = inspect.signature(value).parameters.get("session")
        if parameter is not None and parameter.kind is not inspect.Parameter.KEYWORD_ONLY:
            offenders.append(attribute)
    return offenders


@pytest.mark.parametrize("name", SERVICES)
def test_service_functions_take_the_session_keyword_only(name: str) -> None:
    paths = service_modules(name, "service.py")
    assert paths or not has_database(name), f"anime_{name} has a database but no service.py"
    offenders = {
        module: found
        for module in (module_name(name, path) for path in paths)
        if (found := session_parameters_not_keyword_only(importlib.import_module(module)))
    }
    assert offenders == {}, f"take `session` keyword-only (`*, session`): {offenders}"
