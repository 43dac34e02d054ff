"""The domain core knows nothing of its callers (STYLE.md 2.1): checked by parsing the imports of every module."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from app.paths import PROJECT_ROOT

APP = PROJECT_ROOT / "app"
EDGE_PACKAGES = (
    "app.shopify",
    "app.events",
    "app.graphql",
    "app.admin",
    "app.monitoring",
    "app.tasks",
    "app.commands",
    "app.integrations",
    "app.developer",
)
OUTSIDE_THE_CORE = ("flask", "flask_sqlalchemy", "redis", "huey", "requests", "ariadne", "shopify", "jwt", "werkzeug")


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level too), relative imports made absolute.

    `from package import name` counts as importing `package.name` when that is a module of ours, else `package`.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                names.add(candidate if _is_our_module(candidate) else base)
    return names


def _is_our_module(name: str) -> bool:
    path = PROJECT_ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


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


# Which capability package of app/loyalty may import which (DESIGN.md: packages by capability over a small base).
# `processing` composes them all; nothing imports `processing`, `read_models` or `reports` back.
LOYALTY_PACKAGES: dict[str, set[str]] = {
    "base": set(),
    "ledger": {"base"},
    "tiers": {"base"},
    "gdpr": {"base"},
    "rewards": {"base", "ledger"},
    "referrals": {"base", "ledger", "rewards"},
    "rulebook": {"base", "ledger", "tiers"},
    # The storefront reads the programme (rules in words, rewards, tiers) and the shopper's referral link.
    "read_models": {"base", "ledger", "tiers", "rewards", "referrals", "rulebook"},
    "reports": {"base", "ledger", "tiers"},
    "processing": {"base", "ledger", "tiers", "gdpr", "rewards", "referrals", "rulebook"},
}


def test_every_loyalty_module_lives_in_a_declared_package() -> None:
    loose = [p.name for p in (APP / "loyalty").glob("*.py") if p.name != "__init__.py"]
    packages = {p.parent.name for p in (APP / "loyalty").glob("*/__init__.py")}
    assert loose == [] and packages == set(LOYALTY_PACKAGES)


@pytest.mark.parametrize("path", modules("loyalty"), ids=lambda p: str(p.relative_to(APP / "loyalty")))
def test_loyalty_packages_import_only_the_packages_below_them(path: Path) -> None:
    own = path.relative_to(APP / "loyalty").parts[0]
    if own == "__init__.py":
        return
    used = {name.split(".")[2] for name in imports_of(path) if name.startswith("app.loyalty.")}
    assert used - {own} <= LOYALTY_PACKAGES[own], (
        f"{own} may import {sorted(LOYALTY_PACKAGES[own])}, uses {sorted(used)}"
    )


@pytest.mark.parametrize("path", sorted(APP.rglob("*.py")), ids=lambda p: str(p.relative_to(APP)))
def test_no_module_imports_another_modules_private_names(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    private = [
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.name.startswith("_") and alias.name != "__future__" and node.module != "__future__"
    ]
    assert private == []


def import_graph() -> dict[str, set[str]]:
    """Our modules and the modules of ours each one imports (a package's __init__ stands for the package)."""
    graph = {module_name(path): set() for path in APP.rglob("*.py")}
    for path in APP.rglob("*.py"):
        graph[module_name(path)] = {name for name in imports_of(path) if name in graph and name != module_name(path)}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as a path of module names, or [] when the graph has none."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_no_import_cycles_anywhere_in_the_app() -> None:
    """Module-level and function-level imports alike: a cycle hidden inside a function is still a cycle."""
    assert find_cycle(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]


def test_the_rule_engine_has_no_import_cycle() -> None:
    """Leaves import leaves in app/rules: its modules form no cycle among themselves, whatever the rest of app/ does."""
    rules = {name: targets for name, targets in import_graph().items() if _is_under(name, ("app.rules",))}
    cycle = find_cycle({name: targets & rules.keys() for name, targets in rules.items()})
    assert cycle == [], "import cycle in app/rules: " + " -> ".join(cycle)
