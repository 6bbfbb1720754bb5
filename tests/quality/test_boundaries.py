"""Cross-service data goes over HTTP: no package imports a service that is not itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("auth", "catalog", "library", "media", "proxy")
PACKAGES = {
    "anime_common": ROOT / "libs/common/src/anime_common",
    **{f"anime_{name}": ROOT / f"services/{name}/src/anime_{name}" for name in SERVICES},
}
SERVICE_PACKAGES = {f"anime_{name}" for name in SERVICES}


def imported_top_level_packages(source_dir: Path) -> dict[str, set[Path]]:
    found: dict[str, set[Path]] = {}
    for path in source_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(path.relative_to(ROOT))
    return found


def test_every_package_is_scanned() -> None:
    for directory in PACKAGES.values():
        assert any(directory.rglob("*.py")), directory


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_package_imports_no_other_service(package: str) -> None:
    forbidden = SERVICE_PACKAGES - {package}
    imports = imported_top_level_packages(PACKAGES[package])
    offenders = {
        name: sorted(map(str, files)) for name, files in imports.items() if name in forbidden
    }
    assert offenders == {}, f"{package} imports other services: {offenders}"


def test_common_imports_no_dev_tooling() -> None:
    imports = imported_top_level_packages(PACKAGES["anime_common"])
    assert not {"anime_devstack", "anime_edge", "anime_e2e", "pytest"} & set(imports)
