"""An example rail-tasks plugin: task changes as webhook-style JSON events."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
