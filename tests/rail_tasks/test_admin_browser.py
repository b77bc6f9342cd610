"""The admin in a real browser (Debian's headless chromium) at 1400x900: nothing off screen, compact rows.

The test installs nothing: without a ``chromium`` on PATH it is skipped (``apt-get install -y chromium``,
as .ci/run does). The screenshot is kept in the test's tmp_path (its path is printed).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import django.contrib.admin
import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from django.urls import reverse

from rail_tasks import Status, TaskExecution
from tests.taskapp import tasks

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: The admin's own CSS and JavaScript, served by the live server as STATIC_ROOT (no collectstatic needed).
ADMIN_STATIC = str(Path(django.contrib.admin.__file__).resolve().parent / "static")
BROWSER_SETTINGS = override_settings(ROOT_URLCONF="tests.rail_tasks.admin_browser_urls", STATIC_ROOT=ADMIN_STATIC)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium); .ci/run installs it"
    ),
]

WIDTH, HEIGHT = 1400, 900
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    f"--window-size={WIDTH},{HEIGHT}",
)

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/app/reports/tasks.py", line 12, in generate_report\n'
    "    rows = fetch(dataset_id)\n"
    "           ^^^^^^^^^^^^^^^^^\n"
    "ValueError: dataset 'd-42' has no rows\n"
)


def chromium(tmp_path: Path, *args: str) -> str:
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def executions() -> list[TaskExecution]:
    """A realistic page: every status, long names and queues, an owner, a failed one with a traceback."""
    owner = User.objects.create_user("alice.longname@example.com")
    rows = []
    for index, status in enumerate([*Status] * 3):
        result = tasks.generate_report.using(backend="database").enqueue(f"d-{index}")
        TaskExecution.objects.filter(pk=result.id).update(
            status=status, owner=owner, queue="reports-nightly", progress=(index * 17) % 101, attempts=index % 3
        )
        rows.append(TaskExecution.objects.get(pk=result.id))
    failed = rows[list(Status).index(Status.FAILED)]
    TaskExecution.objects.filter(pk=failed.pk).update(
        error="dataset 'd-42' has no rows", exception_class="builtins.ValueError", traceback=TRACEBACK
    )
    return rows


def measure(live_server: Any, tmp_path: Path, target: str, screenshot: str) -> dict[str, Any]:
    url = f"{live_server.url}/browser/measure/?{urlencode({'user': 'admin', 'next': target})}"
    dom = chromium(tmp_path, "--virtual-time-budget=15000", "--dump-dom", url)
    assert 'id="measure">MEASURE' in dom, dom[-3000:]
    marker = dom.index('id="measure">MEASURE') + len('id="measure">MEASURE')
    found: dict[str, Any] = json.JSONDecoder().raw_decode(dom[marker:].replace("&quot;", '"').replace("&amp;", "&"))[0]
    path = tmp_path / screenshot
    chromium(tmp_path, "--virtual-time-budget=15000", f"--screenshot={path}", url)
    assert path.stat().st_size > 10_000
    print(f"screenshot: {path}")
    return found


@BROWSER_SETTINGS
def test_change_list_fits_1400px_with_compact_rows(live_server: Any, tmp_path: Path) -> None:
    User.objects.create_superuser("admin", "admin@example.com", "pw")
    executions()
    found = measure(live_server, tmp_path, reverse("admin:rail_tasks_taskexecution_changelist"), "changelist.png")
    assert found["scrollWidth"] <= found["clientWidth"], found
    # Nothing scrolled out of the change list's own box (Django scrolls a too-wide table inside it).
    assert found["resultsScrollWidth"] <= found["resultsClientWidth"], found
    heads = {head["text"].lower(): head for head in found["heads"]}
    for column in ("task", "status", "progress", "queue", "created", "took", "id"):
        assert column in heads, heads
        assert heads[column]["right"] <= found["resultsRight"], (column, heads[column], found["resultsRight"])
    assert len(found["rows"]) == 18
    assert max(found["rows"]) <= 45, found["rows"]


@BROWSER_SETTINGS
def test_traceback_keeps_its_indentation(live_server: Any, tmp_path: Path) -> None:
    User.objects.create_superuser("admin", "admin@example.com", "pw")
    failed = next(row for row in executions() if row.status == Status.FAILED)
    target = reverse("admin:rail_tasks_taskexecution_change", args=[failed.pk])
    found = measure(live_server, tmp_path, target, "change.png")
    assert any("    rows = fetch(dataset_id)\n           ^^^^" in text for text in found["pre"]), found["pre"]
