"""The docs keep up with the code: every hookspec has a docs section and a test; every setting is documented."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from rail_tasks import hookspecs
from rail_tasks.conf import SETTING_SPECS

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
HOOK_TESTS = Path(__file__).with_name("test_hooks.py")


def hookspec_signatures() -> dict[str, list[str]]:
    """``{hook name: [argument names]}`` for every hookspec."""
    return {
        name: list(inspect.signature(func).parameters)
        for name, func in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("rail_tasks_")
    }


def documented_hooks() -> dict[str, list[str]]:
    """``{hook name: [argument names]}`` from the ``### rail_tasks_x(a, b)`` headings of docs/hooks.md."""
    found: dict[str, list[str]] = {}
    for match in re.finditer(r"^#+ (rail_tasks_\w+)\(([^)]*)\)\s*$", (DOCS / "hooks.md").read_text(), re.MULTILINE):
        found[match.group(1)] = [a.strip() for a in match.group(2).split(",") if a.strip()]
    return found


def hook_tests() -> set[str]:
    tree = ast.parse(HOOK_TESTS.read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_hook_")}


def test_there_are_hookspecs() -> None:
    assert len(hookspec_signatures()) >= 10


@pytest.mark.parametrize("hook", sorted(hookspec_signatures()))
def test_every_hookspec_has_a_docs_section_headed_by_its_signature(hook: str) -> None:
    documented = documented_hooks()
    assert hook in documented, f"docs/hooks.md has no section for {hook}"
    assert documented[hook] == hookspec_signatures()[hook], f"docs/hooks.md heading of {hook} is not its signature"


@pytest.mark.parametrize("hook", sorted(hookspec_signatures()))
def test_every_hookspec_has_a_test(hook: str) -> None:
    name = "test_hook_" + hook.removeprefix("rail_tasks_")
    assert name in hook_tests(), f"tests/rail_tasks/test_hooks.py has no {name}()"


def test_docs_document_no_hook_that_does_not_exist() -> None:
    assert set(documented_hooks()) <= set(hookspec_signatures())


def test_every_hookspec_docstring_says_when_it_was_added() -> None:
    for name, func in inspect.getmembers(hookspecs, inspect.isfunction):
        if name.startswith("rail_tasks_"):
            assert ".. versionadded::" in (func.__doc__ or ""), name


@pytest.mark.parametrize("key", sorted(SETTING_SPECS))
def test_every_setting_is_in_the_settings_reference(key: str) -> None:
    assert re.search(rf"^\| `{key}` \|", (DOCS / "settings.md").read_text(), re.MULTILINE), (
        f"docs/settings.md has no table row for {key!r}"
    )


def test_every_system_check_id_is_in_the_settings_reference() -> None:
    from rail_tasks import checks

    source = Path(inspect.getfile(checks)).read_text()
    check_ids = set(re.findall(r'id="(rail_tasks\.[EW]\d{3})"', source))
    assert check_ids
    text = (DOCS / "settings.md").read_text()
    assert {i for i in check_ids if f"`{i}`" not in text} == set()


def test_index_links_every_page() -> None:
    index = (DOCS / "index.md").read_text()
    pages = {p.name for p in DOCS.glob("*.md")} - {"index.md"}
    linked = set(re.findall(r"\]\(([\w-]+\.md)(?:#[\w-]*)?\)", index))
    assert pages - linked == set(), "docs/index.md does not link these pages"
