"""The walls of DESIGN.md: the core imports no plugin and no engine library."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import rail_tasks

CORE_SRC = Path(rail_tasks.__file__).resolve().parent
FORBIDDEN = (
    "celery",
    "dramatiq",
    "django_q",
    "graphene",
    "graphene_django",
    "channels",
    "channels_graphql_ws",
    "opentelemetry",
    "rail_tasks_celery",
    "rail_tasks_dramatiq",
    "rail_tasks_djangoq",
    "rail_tasks_graphql",
    "rail_tasks_otel",
)


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_source_imports_no_plugin_or_engine() -> None:
    offenders = {
        str(path.relative_to(CORE_SRC)): sorted(_imported_roots(path) & set(FORBIDDEN))
        for path in CORE_SRC.rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_importing_every_core_module_loads_no_engine() -> None:
    """In a fresh interpreter with the app registry loaded, no engine module is imported."""
    modules = sorted(
        "rail_tasks." + ".".join(path.relative_to(CORE_SRC).with_suffix("").parts)
        for path in CORE_SRC.rglob("*.py")
        if "migrations" not in path.parts and path.name != "__init__.py" and "testing" not in path.parts
    )
    code = (
        "import django, importlib, json, os, sys\n"
        "os.environ['RAIL_TASKS_DISABLE_PLUGIN_AUTOLOAD'] = '1'\n"
        "django.setup()\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})))\n"
    )
    env = {"DJANGO_SETTINGS_MODULE": "tests.settings", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
        env=env,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
