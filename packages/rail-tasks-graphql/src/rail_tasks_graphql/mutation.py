"""``task_mutation``: a graphene mutation whose body runs as a tracked background task.

::

    @task_mutation(name="generate_report", track_progress=True)
    def generate_report(root, info, dataset_id: str):
        info.context.task.update_progress(25, "Fetching data...")
        return {"ok": True, "dataset_id": dataset_id}


    class TaskMutations(graphene.ObjectType):
        generate_report = generate_report

How it fits together:

* The decorator builds a module-level :class:`rail_tasks.RailTask` from the
  function and stores it in the function's own module as ``<function>__task``,
  so :func:`rail_tasks.runner.load_task` finds it by path in any worker (the module
  must belong to an installed app, and the decorator must run at import time:
  decorate module-level functions only).
* The returned :class:`TaskMutationField` is what goes in the ``ObjectType``. Its
  resolver enqueues the task with the GraphQL arguments, inside
  ``rail_tasks.acting_as(info.context.user)`` so the caller is recorded as the
  owner, and returns ``taskId``, ``status`` and ``task``.
* In the worker, the function is called as ``func(None, info, **arguments)``:
  ``info.context.task`` is the progress handle (``rail_tasks.current_task()``) and
  ``info.context.user`` the owner, reloaded from the database by id. No request,
  header or cookie travels to the worker: only the JSON arguments and the owner id.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Unpack, overload

import graphene
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser

import rail_tasks
from rail_tasks import RailTask, TaskExecution, TaskHandle, TaskOptions
from rail_tasks_graphql.arguments import arguments_for
from rail_tasks_graphql.conf import graphql_setting
from rail_tasks_graphql.errors import enqueue_error
from rail_tasks_graphql.types import TaskMutationPayload

__all__ = ["TaskInfo", "TaskMutationContext", "TaskMutationField", "task_mutation"]

#: Suffix of the module attribute holding the generated task.
TASK_ATTRIBUTE_SUFFIX = "__task"


@dataclass(slots=True)
class TaskMutationContext:
    """``info.context`` inside a running task mutation."""

    #: The progress handle: ``update_progress(pct, message)``, ``is_cancelled``, ``check()``.
    task: TaskHandle
    #: The user who called the mutation (``AnonymousUser`` when nobody was logged in).
    user: Any
    #: The task id (same as ``task.id``).
    task_id: str = ""


@dataclass(slots=True)
class TaskInfo:
    """The ``info`` a task mutation function receives in the worker."""

    context: TaskMutationContext
    #: The mutation's name (the task name).
    field_name: str = ""
    #: The GraphQL arguments the mutation was called with.
    arguments: dict[str, Any] = field(default_factory=dict)


def _load_owner(owner_id: Any) -> Any:
    if owner_id is None:
        return AnonymousUser()
    user = get_user_model()._default_manager.filter(pk=owner_id).first()
    return user if user is not None else AnonymousUser()


def _task_info(handle: TaskHandle, name: str, kwargs: dict[str, Any], user: Any) -> TaskInfo:
    context = TaskMutationContext(task=handle, user=user, task_id=handle.id)
    return TaskInfo(context=context, field_name=name, arguments=dict(kwargs))


def _running_handle(name: str) -> TaskHandle:
    handle = rail_tasks.current_task()
    if handle.detached:
        raise RuntimeError(f"Task mutation {name!r} can only run as a task (no rail_tasks.current_task()).")
    return handle


def _make_runner(func: Callable[..., Any], name: str) -> Callable[..., Any]:
    """The function the worker runs: rebuild ``info`` and call the user's function."""
    if inspect.iscoroutinefunction(func):

        async def run_async(**kwargs: Any) -> Any:
            handle = _running_handle(name)
            user = await sync_to_async(_load_owner)(handle.execution.owner_id)
            return await func(None, _task_info(handle, name, kwargs, user), **kwargs)

        runner: Callable[..., Any] = run_async
    else:

        def run_sync(**kwargs: Any) -> Any:
            handle = _running_handle(name)
            user = _load_owner(handle.execution.owner_id)
            return func(None, _task_info(handle, name, kwargs, user), **kwargs)

        runner = run_sync
    runner.__module__ = func.__module__
    runner.__qualname__ = runner.__name__ = f"{func.__name__}{TASK_ATTRIBUTE_SUFFIX}"
    runner.__doc__ = func.__doc__
    return runner


def _publish(task: RailTask, func: Callable[..., Any]) -> None:
    """Store ``task`` in ``func``'s module under the name its ``module_path`` ends with."""
    module = sys.modules.get(func.__module__)
    if module is None:
        raise TypeError(f"task_mutation: module {func.__module__!r} of {func.__qualname__} is not imported.")
    attribute = task.func.__qualname__
    existing = getattr(module, attribute, None)
    if existing is not None and not (isinstance(existing, RailTask) and existing.func.__module__ == func.__module__):
        raise TypeError(
            f"task_mutation: {func.__module__}.{attribute} already exists; rename {func.__name__} or that name."
        )
    setattr(module, attribute, task)


class TaskMutationField(graphene.Field):  # type: ignore[misc]
    """The mutation field ``task_mutation`` returns; place it in a ``graphene.ObjectType``.

    ``.task`` is the generated :class:`rail_tasks.RailTask` (enqueue it from Python
    as ``field.task.enqueue(dataset_id="1")``); ``.func`` the decorated function.
    """

    def __init__(self, task: RailTask, func: Callable[..., Any], *, backend: str | None, description: str | None):
        self.task = task
        self.func = func
        self.backend = backend
        super().__init__(
            TaskMutationPayload,
            args=arguments_for(func),
            resolver=self._mutate,
            required=True,
            description=description,
        )

    def _task_for_enqueue(self) -> RailTask:
        alias = self.backend or graphql_setting("backend")
        if alias and alias != self.task.backend:
            moved = self.task.using(backend=alias)
            assert isinstance(moved, RailTask)  # dataclasses.replace keeps the class
            return moved
        return self.task

    def _mutate(self, root: Any, info: Any, **arguments: Any) -> TaskMutationPayload:
        user = getattr(info.context, "user", None)
        try:
            with rail_tasks.acting_as(user):
                result = self._task_for_enqueue().enqueue(**arguments)
        except Exception as exc:
            raise enqueue_error(exc) from exc
        row = TaskExecution.objects.filter(pk=result.id).first()
        if row is None:  # track_in_database=False and it already finished inline
            raise enqueue_error(RuntimeError("The task finished and was not kept (track_in_database=False)."))
        return TaskMutationPayload(task=row)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the original function directly (unit tests of the function body)."""
        return self.func(*args, **kwargs)


@overload
def task_mutation(func: Callable[..., Any], /) -> TaskMutationField: ...


@overload
def task_mutation(
    func: None = None, /, *, description: str | None = None, **options: Unpack[TaskOptions]
) -> Callable[[Callable[..., Any]], TaskMutationField]: ...


def task_mutation(
    func: Callable[..., Any] | None = None, /, *, description: str | None = None, **options: Unpack[TaskOptions]
) -> TaskMutationField | Callable[[Callable[..., Any]], TaskMutationField]:
    """Make ``func(root, info, **arguments)`` a GraphQL mutation that runs as a background task.

    Works bare (``@task_mutation``) or with options (seed 001)::

        @task_mutation(name="process_order", queue="orders", max_retries=5, retry_delay=60, timeout=300)
        def process_order(root, info, order_id: str): ...

    :param options: the task's options, as ``rail_tasks.task`` takes them (:class:`rail_tasks.TaskOptions`:
        ``name``, ``queue``, ``priority``, ``max_retries``, ``retry_delay``, ``retry_backoff``,
        ``timeout``, ``track_progress``); ``backend`` is the ``TASKS`` alias to enqueue on, else
        ``RAIL_TASKS_GRAPHQL["backend"]``, else ``default``. A misspelt option is a ``TypeError``
        naming the closest one.
    :param description: the mutation's GraphQL description; the docstring's first paragraph by default.
    :returns: a :class:`TaskMutationField` to place in a ``graphene.ObjectType``.
    """

    task_options: TaskOptions = {key: value for key, value in options.items() if key != "backend"}  # type: ignore[assignment]
    alias = options.get("backend")
    rail_tasks.task(**task_options)  # refuses a misspelt option now, at import time

    def wrap(function: Callable[..., Any]) -> TaskMutationField:
        if "<locals>" in function.__qualname__:
            raise TypeError(
                f"task_mutation must decorate a module-level function ({function.__qualname__}): "
                "workers import the task by its module path."
            )
        task_name = options.get("name") or function.__name__
        named = task_options.copy()
        named["name"] = task_name
        task = rail_tasks.task(**named)(_make_runner(function, task_name))
        _publish(task, function)
        doc = description
        if doc is None and function.__doc__:
            doc = inspect.cleandoc(function.__doc__).split("\n\n", 1)[0]
        return TaskMutationField(task, function, backend=alias, description=doc)

    if func is not None:
        return wrap(func)
    return wrap
