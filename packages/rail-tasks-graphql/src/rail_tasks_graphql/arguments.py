"""GraphQL arguments derived from a task mutation function's signature.

``def generate_report(root, info, dataset_id: str, limit: int = 10, tags: list[str] | None = None)``
gives ``dataset_id: String!``, ``limit: Int = 10`` and ``tags: JSON``:

* ``str``, ``int``, ``float``, ``bool`` map to ``String``, ``Int``, ``Float``, ``Boolean``;
  ``uuid.UUID`` to ``ID`` (passed to the task as a string);
* ``list``, ``dict``, ``tuple``, ``Any`` and unannotated parameters map to the ``JSON`` scalar;
* a graphene scalar class (``graphene.ID``) is used as it is;
* a parameter is required (``!``) unless it is ``Optional``/``X | None`` or has a default.

Values reach the task through a JSON round trip, so only JSON-shaped types are accepted.
"""

from __future__ import annotations

import inspect
import types
import typing
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import graphene

from rail_tasks_graphql.types import JSON

__all__ = ["arguments_for"]

_SCALARS: dict[Any, type[graphene.Scalar]] = {
    str: graphene.String,
    int: graphene.Int,
    float: graphene.Float,
    bool: graphene.Boolean,
    uuid.UUID: graphene.ID,
}
_JSON_ORIGINS = (list, dict, tuple, set, Sequence, Mapping)


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    """``X | None`` -> ``(X, True)``; anything else -> ``(annotation, False)``."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(members) < len(typing.get_args(annotation))
        if len(members) == 1:
            return members[0], optional
        return typing.Union[tuple(members)], optional  # noqa: UP007 - rebuilt dynamically
    return annotation, False


def _graphene_type(annotation: Any, where: str) -> Any:
    if annotation is inspect.Parameter.empty or annotation is Any:
        return JSON
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    if inspect.isclass(annotation) and issubclass(annotation, graphene.Scalar):
        return annotation
    origin = typing.get_origin(annotation)
    if annotation in _JSON_ORIGINS or origin in _JSON_ORIGINS:
        return JSON
    raise TypeError(
        f"{where}: cannot derive a GraphQL argument from the annotation {annotation!r}. "
        "Use str, int, float, bool, uuid.UUID, list, dict, Any, or a graphene scalar class; "
        "task arguments travel as JSON, so pass ids rather than objects."
    )


def arguments_for(func: Callable[..., Any]) -> dict[str, graphene.Argument]:
    """GraphQL arguments for every parameter of ``func`` after ``root`` and ``info``.

    :raises TypeError: when a parameter is positional-only, variadic, or has an
        annotation that cannot travel as JSON.
    """
    signature = inspect.signature(func)
    params = list(signature.parameters.values())
    if len(params) < 2 or any(p.kind not in (p.POSITIONAL_OR_KEYWORD, p.POSITIONAL_ONLY) for p in params[:2]):
        raise TypeError(f"{func.__qualname__}: a task mutation takes (root, info, ...arguments).")
    try:
        hints = typing.get_type_hints(func)
    except Exception as exc:  # unresolvable forward references
        raise TypeError(f"{func.__qualname__}: cannot resolve type hints: {exc}") from exc
    arguments: dict[str, graphene.Argument] = {}
    for param in params[2:]:
        where = f"{func.__qualname__}({param.name})"
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            raise TypeError(f"{where}: task mutation arguments must be named parameters (no *args/**kwargs).")
        annotation, optional = _unwrap_optional(hints.get(param.name, inspect.Parameter.empty))
        gtype = _graphene_type(annotation, where)
        has_default = param.default is not inspect.Parameter.empty
        if optional or has_default:
            default = param.default if has_default else None
            arguments[param.name] = graphene.Argument(gtype, default_value=default)
        else:
            arguments[param.name] = graphene.Argument(graphene.NonNull(gtype))
    return arguments
