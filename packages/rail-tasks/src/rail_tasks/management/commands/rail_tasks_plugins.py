"""``manage.py rail_tasks_plugins``: which plugins loaded, from where, and the hooks each implements."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from rail_tasks.plugins import PluginInfo, iter_plugin_infos


def plugin_to_dict(info: PluginInfo) -> dict[str, Any]:
    """The JSON shape of one plugin in ``rail_tasks_plugins --json``."""
    return {
        "name": info.name,
        "status": info.status,
        "source": info.source,
        "module": info.module,
        "dist": info.dist or None,
        "version": info.version or None,
        "hooks": list(info.hooks),
        "error": info.error or None,
    }


class Command(BaseCommand):
    """List the rail-tasks plugins of this process: loaded, blocked and failed ones."""

    help = "List rail-tasks plugins: name, source, distribution, version and the hooks each implements."
    requires_system_checks: list[str] = []  # a broken plugin must still be listable

    def add_arguments(self, parser: CommandParser) -> None:
        """``--json`` prints a JSON list instead of text."""
        parser.add_argument("--json", action="store_true", help="Print the plugins as a JSON list.")

    def handle(self, *args: Any, **options: Any) -> None:
        """Print every plugin seen, in load order."""
        infos = iter_plugin_infos()
        if options["json"]:
            self.stdout.write(json.dumps([plugin_to_dict(info) for info in infos], indent=2))
            return
        for info in infos:
            origin = f"{info.dist} {info.version}".strip() or info.module
            line = f"{info.name} [{info.source}] {origin}".rstrip()
            if info.status == "failed":
                self.stdout.write(self.style.ERROR(f"{line}: FAILED, skipped: {info.error}"))
            elif info.status == "blocked":
                self.stdout.write(self.style.WARNING(f"{line}: blocked"))
            else:
                self.stdout.write(self.style.SUCCESS(line))
                for hook in info.hooks:
                    self.stdout.write(f"    {hook}")
