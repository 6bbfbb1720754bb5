from __future__ import annotations

import ast
from pathlib import Path

import anime_common

PACKAGE = Path(anime_common.__file__).parent


def test_all_lists_exactly_what_the_package_imports() -> None:
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    imported = {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert sorted(anime_common.__all__) == sorted(imported)
    assert len(set(anime_common.__all__)) == len(anime_common.__all__)


def test_every_public_name_resolves() -> None:
    for name in anime_common.__all__:
        assert getattr(anime_common, name) is not None


def test_private_modules_stay_private() -> None:
    modules = [path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__"]
    assert modules
    assert all(name.startswith("_") for name in modules)


def test_package_ships_type_information() -> None:
    assert (PACKAGE / "py.typed").exists()


def test_every_export_is_used_outside_the_package() -> None:
    """What no service, tool, test or bench imports does not belong in the public surface."""
    root = PACKAGE.parents[3]
    used: set[str] = set()
    for folder in ("services", "deploy", "tools", "tests", "bench"):
        for path in (root / folder).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module == "anime_common":
                    used |= {alias.name for alias in node.names}
    # The contract's 403 (DESIGN.md's error family), for the routes that refuse a caller.
    contract = {"PermissionError"}
    assert sorted(set(anime_common.__all__) - used - contract) == []
