"""Size limits: how large a task's arguments and result may be.

Both are measured as the UTF-8 length of their JSON text, the form in which they
are stored and carried. ``max_argument_bytes`` is checked at enqueue (before any
row is written), ``max_result_bytes`` when a task returns (the attempt then fails
once with :class:`ResultTooLarge`, never retried: running the task again would
produce the same result). ``None`` switches a limit off.
"""

from __future__ import annotations

import json
from typing import Any

from rail_tasks.conf import task_settings
from rail_tasks.exceptions import InvalidTaskArguments, InvalidTaskResult

__all__ = ["ArgumentsTooLarge", "ResultTooLarge", "check_argument_size", "check_result_size", "json_size"]


#: One compact encoder for every size check (``json.dumps`` with non-default options builds one per call).
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))


class ArgumentsTooLarge(InvalidTaskArguments):
    """A task's arguments are larger than ``max_argument_bytes``; raised at enqueue."""


class ResultTooLarge(InvalidTaskResult):
    """A task's result is larger than ``max_result_bytes``; the execution fails and is not retried."""


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON (as it is stored, give or take whitespace)."""
    return len(_ENCODER.encode(value).encode())


def _human(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MiB"
    if size >= 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size} bytes"


def check_argument_size(args: Any, kwargs: Any) -> None:
    """Raise :class:`ArgumentsTooLarge` when ``args`` and ``kwargs`` together exceed ``max_argument_bytes``.

    Both must already be JSON-ready (the backend checks that first).
    """
    limit = task_settings.max_argument_bytes
    if limit is None:
        return
    size = json_size(args) + json_size(kwargs)
    if size > limit:
        raise ArgumentsTooLarge(
            f"Task arguments are {_human(size)} of JSON, more than max_argument_bytes ({_human(limit)}). "
            "Pass ids or file names and let the task load the data."
        )


def check_result_size(result: Any) -> str:
    """Serialise ``result`` to JSON and check its size; return the JSON text.

    :raises InvalidTaskResult: the result is not JSON (``NaN``, an object JSON cannot carry).
    :raises ResultTooLarge: it is larger than ``max_result_bytes``.
    """
    try:
        text = _ENCODER.encode(result)
    except (TypeError, ValueError) as exc:
        raise InvalidTaskResult(f"The task's return value cannot be stored as JSON: {exc}") from exc
    limit = task_settings.max_result_bytes
    if limit is not None:
        size = len(text.encode())
        if size > limit:
            raise ResultTooLarge(
                f"The task's result is {_human(size)} of JSON, more than max_result_bytes ({_human(limit)}). "
                "Store large outputs elsewhere (a file, a table) and return a reference."
            )
    return text
