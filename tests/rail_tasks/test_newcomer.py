"""What a newcomer does, end to end, with the docs as written (issue 14, "make it stay fixed").

Build the wheels and sdists of every package, install the wheels into a fresh virtualenv with the
extras, ``django-admin startproject``, follow docs/quickstart.md (its console commands and code
blocks are taken from the page, so the page cannot drift from what works), migrate, run a real
``rail_tasks_worker`` and read the result. On SQLite, and on PostgreSQL when it is up.
One virtualenv per test session; pip installs the dependencies from PyPI.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import tarfile
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.process import REPO_ROOT

pytestmark = pytest.mark.slow

QUICKSTART = REPO_ROOT / "docs" / "quickstart.md"
PACKAGES = sorted(path for path in (REPO_ROOT / "packages").iterdir() if (path / "pyproject.toml").exists())


def run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"{shlex.join(map(str, args))}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", QUICKSTART.read_text(), re.DOTALL)


def python_block(containing: str) -> str:
    (block,) = [b for b in blocks("python") if containing in b]
    return block


def console_command(starting: str) -> list[str]:
    """A command of the page's console blocks, without its comment."""
    lines = [line.split("#", 1)[0].strip() for block in blocks("console") for line in block.splitlines()]
    (line,) = [line for line in lines if line.startswith(starting)]
    return shlex.split(line)


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Wheels and sdists of every package, built with ``python -m build`` in a builder virtualenv."""
    root = tmp_path_factory.mktemp("newcomer-build")
    builder = root / "builder"
    venv.create(builder, with_pip=True)
    run(builder / "bin" / "python", "-m", "pip", "install", "-q", "build")
    out = root / "dist"
    for package in PACKAGES:
        run(builder / "bin" / "python", "-m", "build", "-q", "--outdir", out, package)
    return out


@pytest.fixture(scope="session")
def newcomer(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the built wheels and the extras a newcomer installs; its bin directory."""
    root = tmp_path_factory.mktemp("newcomer-venv")
    venv.create(root, with_pip=True)
    wheels = {path.name.split("-")[0]: path for path in dist.glob("*.whl")}
    run(
        root / "bin" / "python",
        "-m",
        "pip",
        "install",
        "-q",
        f"rail-tasks[celery,graphql,postgres] @ {wheels['rail_tasks'].as_uri()}",
        f"rail-tasks-celery[redis] @ {wheels['rail_tasks_celery'].as_uri()}",
        f"rail-tasks-graphql @ {wheels['rail_tasks_graphql'].as_uri()}",
    )
    return root / "bin"


def test_every_wheel_and_sdist_carries_the_license(dist: Path) -> None:
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    assert len(wheels) == len(sdists) == len(PACKAGES)
    for wheel in wheels:
        assert any(name.endswith(".dist-info/licenses/LICENSE") for name in zipfile.ZipFile(wheel).namelist()), wheel
    for sdist in sdists:
        with tarfile.open(sdist) as archive:
            assert any(name.endswith("/LICENSE") for name in archive.getnames()), sdist


def _postgres_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> Iterator[str]:
    """``""`` (startproject's SQLite) or the name of a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield ""
        return
    if not _postgres_up():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    import psycopg

    name = os.environ.get("RAIL_TASKS_TEST_PG_TEST_NAME", "test_rail_tasks") + "_newcomer"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_quickstart_as_written(newcomer: Path, database: str, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = os.pathsep.join([str(newcomer), env.get("PATH", "")])
    python = str(newcomer / "python")

    def command(argv: list[str], *extra: str) -> str:
        program = python if argv[0] == "python" else str(newcomer / argv[0])
        return run(program, *argv[1:], *extra, cwd=tmp_path, env=env)

    run(newcomer / "django-admin", "startproject", "mysite", ".", cwd=tmp_path, env=env)
    command(console_command("python manage.py startapp"))
    settings_block = python_block("# mysite/settings.py")
    tasks_block = python_block("# reports/tasks.py")
    settings = tmp_path / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + "\n" + settings_block)
    if database:
        settings.write_text(
            settings.read_text()
            + f'\nDATABASES = {{"default": {{"ENGINE": "django.db.backends.postgresql", "NAME": "{database}",'
            ' "USER": "postgres", "HOST": "127.0.0.1"}}\n'
        )
    (tmp_path / "reports" / "tasks.py").write_text(tasks_block)

    checked = command(["python", "manage.py", "check"])
    assert "rail_tasks" not in checked, checked  # no warning or error of ours on the quickstart's settings
    command(console_command("python manage.py migrate"))

    enqueue = python_block('generate_report.enqueue("sales-2026")')
    out = command(["python", "manage.py", "shell", "-c", enqueue + "\nprint('ID', result.id)\n"])
    execution_id = next(line.split()[1] for line in out.splitlines() if line.startswith("ID "))

    worker = command(console_command("python manage.py rail_tasks_worker"), "--burst")
    assert "stopped after 1 task(s)" in worker, worker

    later = python_block("result.refresh()")
    read = (
        "from reports.tasks import generate_report\n"
        f"result = generate_report.get_result({execution_id!r})\n"
        + later
        + "\nimport json\nfrom rail_tasks import TaskExecution\n"
        + "row = TaskExecution.objects.get(pk=result.id)\n"
        + "print('JSON', json.dumps({'status': str(result.status), 'value': result.return_value,"
        + " 'progress': row.progress, 'message': row.progress_message, 'backend': row.backend}))\n"
    )
    out = command(["python", "manage.py", "shell", "-c", read])
    found = json.loads(next(line[5:] for line in out.splitlines() if line.startswith("JSON ")))
    assert found["status"] == "SUCCESSFUL"
    assert found["value"]["ok"] is True
    assert found["value"]["dataset_id"] == "sales-2026"
    assert found["value"]["total"] == 7800
    assert (found["progress"], found["message"]) == (100, "Complete")
    assert found["backend"] == "default"
