"""The domain core knows nothing of its callers (STYLE.md 2.1): checked by parsing the imports of every module."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from app.paths import PROJECT_ROOT

APP = PROJECT_ROOT / "app"
EDGE_PACKAGES = ("app.shopify", "app.events", "app.graphql", "app.admin", "app.monitoring", "app.tasks", "app.commands")
OUTSIDE_THE_CORE = ("flask", "flask_sqlalchemy", "redis", "huey", "requests", "ariadne", "shopify", "jwt", "werkzeug")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules(package: str) -> list[Path]:
    return sorted((APP / package).rglob("*.py"))


def _is_under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


@pytest.mark.parametrize("path", modules("rules"), ids=lambda p: p.name)
def test_the_rule_engine_imports_only_the_standard_library_and_itself(path: Path) -> None:
    foreign = {
        name
        for name in imports_of(path)
        if name.split(".")[0] not in sys.stdlib_module_names and not _is_under(name, ("app.rules",))
    }
    assert foreign == set(), f"{path.relative_to(PROJECT_ROOT)} imports {sorted(foreign)}"


@pytest.mark.parametrize("path", modules("loyalty"), ids=lambda p: p.name)
def test_the_loyalty_services_import_no_framework_transport_or_edge(path: Path) -> None:
    forbidden = {name for name in imports_of(path) if _is_under(name, OUTSIDE_THE_CORE + EDGE_PACKAGES)}
    assert forbidden == set(), f"{path.relative_to(PROJECT_ROOT)} imports {sorted(forbidden)}"


def test_importing_the_core_does_not_load_flask() -> None:
    import subprocess

    probe = "import sys, app.loyalty.processing.event, app.rules; print('flask' in sys.modules, 'redis' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=PROJECT_ROOT, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_the_web_side_imports_no_task_queue() -> None:
    """The health page reads worker heartbeats; importing it must not build Huey (or start an embedded Redis)."""
    import subprocess

    probe = "import sys, app.monitoring.health, app.tasks.heartbeat; print('huey' in sys.modules)"
    env = {"PATH": "/usr/bin:/bin", "APP_ENV": "development"}  # no REDIS_URL: building Huey would start Redis
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=PROJECT_ROOT, check=True, env=env
    )
    assert result.stdout.split() == ["False"]
