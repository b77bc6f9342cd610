"""A task module outside every installed app, like the project package ``django-admin startproject`` creates."""

from __future__ import annotations

import rail_tasks


@rail_tasks.task
def multiply(a: int, b: int) -> int:
    return a * b
